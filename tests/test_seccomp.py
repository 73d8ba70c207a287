"""linux.seccomp (config-linux.md "Seccomp"), observed from busybox inside the container.

Filters whose default action denies list every syscall of the host's <asm/unistd_64.h> but
the blocked ones as allowed: such a profile must still let the runtime's own last steps (for
ociruntime the exec trampoline) and busybox run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from test_bad_input import error_message

pytestmark = pytest.mark.root

UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
SIGSYS = 31
MKDIR = ["mkdir", "mkdirat"]


def _all_syscalls():
    if not UNISTD.exists():
        pytest.skip(f"{UNISTD} is missing (package linux-libc-dev)")
    return sorted(set(re.findall(r"#define __NR_(\w+)\s+\d+", UNISTD.read_text())))


def _allow_all_but(*names):
    return {"names": [n for n in _all_syscalls() if n not in names], "action": "SCMP_ACT_ALLOW"}


def _bundle(make_bundle, args, default="SCMP_ACT_ALLOW", rules=(), nnp=True, **extra):
    b = make_bundle(args, root={"readonly": False})  # so only seccomp can make mkdir fail
    b.config["linux"]["seccomp"] = {"defaultAction": default, "syscalls": list(rules), **extra}
    b.config["process"]["noNewPrivileges"] = nnp
    b.write()
    return b


def _mkdir_fails(runtime, b, message):
    b.config["process"]["args"] = ["sh", "-c", "mkdir /tmp/x 2>&1; echo rc=$?"]
    b.write()
    cp = runtime.run_bundle(b)
    assert cp.returncode == 0, cp.stderr
    assert message in cp.stdout and "rc=1" in cp.stdout, cp.stdout


@pytest.mark.parametrize("nnp", [True, False])
def test_errno_action_returns_eperm_by_default(runtime, make_bundle, nnp):
    b = _bundle(make_bundle, None, rules=[{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}], nnp=nnp)
    _mkdir_fails(runtime, b, "Operation not permitted")


def test_errno_ret_is_the_returned_errno(runtime, make_bundle):
    b = _bundle(make_bundle, None, rules=[{"names": MKDIR, "action": "SCMP_ACT_ERRNO", "errnoRet": 28}])
    _mkdir_fails(runtime, b, "No space left on device")


@pytest.mark.parametrize("nnp", [True, False])
def test_default_errno_ret_with_a_default_deny_profile(runtime, make_bundle, nnp):
    """A default-deny profile that allows everything usual: the container starts (through
    the runtime's own last syscalls) and the unlisted syscalls get defaultErrnoRet."""
    b = _bundle(make_bundle, None, "SCMP_ACT_ERRNO", [_allow_all_but(*MKDIR)], nnp=nnp,
                defaultErrnoRet=28)
    _mkdir_fails(runtime, b, "No space left on device")


def test_default_deny_profile_with_create_and_start(runtime, make_bundle):
    """create, then start: for ociruntime the filtered trampoline waits for start itself."""
    b = _bundle(make_bundle, ["sh", "-c", "echo started > /tmp/out; mkdir /tmp/x || true"],
                "SCMP_ACT_ERRNO", [_allow_all_but(*MKDIR)])
    b.config["root"]["readonly"] = False
    b.write()
    runtime.create(b)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    assert (b.rootfs / "tmp/out").read_text() == "started\n"
    assert not (b.rootfs / "tmp/x").exists()
    runtime.delete(b.id)


def test_unknown_syscall_names_are_ignored(runtime, make_bundle):
    b = _bundle(make_bundle, None, rules=[
        {"names": ["no_such_syscall", *MKDIR], "action": "SCMP_ACT_ERRNO"}])
    _mkdir_fails(runtime, b, "Operation not permitted")


def test_the_process_runs_in_filter_mode(runtime, make_bundle):
    b = _bundle(make_bundle, None, rules=[{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}])
    out = runtime.sh(b, "grep ^Seccomp /proc/self/status")
    fields = dict(line.split(":\t") for line in out.splitlines())
    assert fields["Seccomp"] == "2"
    assert fields["Seccomp_filters"] == "1"


def test_no_seccomp_means_no_filter(runtime, make_bundle):
    b = make_bundle()
    assert "Seccomp:\t0" in runtime.sh(b, "grep ^Seccomp: /proc/self/status")


@pytest.mark.parametrize("op,value,two,blocked,allowed", [
    ("SCMP_CMP_EQ", 0, 0, "0", "CONT"),
    ("SCMP_CMP_NE", 0, 0, "CONT", "0"),
    ("SCMP_CMP_GT", 10, 0, "CONT", "0"),
    ("SCMP_CMP_GE", 18, 0, "CONT", "0"),
    ("SCMP_CMP_LT", 1, 0, "0", "CONT"),
    ("SCMP_CMP_LE", 0, 0, "0", "CONT"),
    ("SCMP_CMP_MASKED_EQ", 0x10, 0x10, "CONT", "0"),  # SIGCONT is 18 = 0x12
])
def test_argument_comparisons(runtime, make_bundle, op, value, two, blocked, allowed):
    """kill(pid, sig) filtered on its second argument (index 1)."""
    arg = {"index": 1, "value": value, "op": op}
    if op == "SCMP_CMP_MASKED_EQ":
        arg["valueTwo"] = two
    b = _bundle(make_bundle, None, rules=[{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [arg]}])
    out = runtime.sh(b, f"kill -{blocked} $$ 2>&1; echo blocked=$?; kill -{allowed} $$; echo allowed=$?")
    assert "blocked=1" in out and "Operation not permitted" in out, out
    assert "allowed=0" in out, out


@pytest.mark.parametrize("action", ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
                                    "SCMP_ACT_TRAP"])
def test_killing_actions_end_the_process_with_sigsys(runtime, make_bundle, action):
    b = _bundle(make_bundle, ["mkdir", "/tmp/x"], rules=[{"names": MKDIR, "action": action}])
    cp = runtime.run_bundle(b)
    assert cp.returncode == 128 + SIGSYS, (cp.returncode, cp.stderr)
    assert not (b.rootfs / "tmp/x").exists()


@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 refuses any seccomp flags "
                           "(\"seccomp flags are not yet supported by runc\")")
def test_flag_log_is_applied(runtime, make_bundle):
    b = _bundle(make_bundle, None, rules=[{"names": MKDIR, "action": "SCMP_ACT_ERRNO"}],
                flags=["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"])
    _mkdir_fails(runtime, b, "Operation not permitted")


def _errno_ret_on_kill(config):
    config["syscalls"][0]["errnoRet"] = 5
    return "linux.seccomp.syscalls[0].errnoRet"


def _default_errno_ret_on_allow(config):
    config["defaultErrnoRet"] = 5
    return "linux.seccomp.defaultErrnoRet"


def _wait_killable_recv(config):
    # libseccomp 2.5 (Debian 12) cannot set it; runc 1.1.5 refuses every flag
    config["flags"] = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
    return "linux.seccomp.flags[0]"


def _notify_without_agent(config):
    config["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY"
    config["listenerPath"] = "/run/no-such-agent.sock"
    return "linux.seccomp.listenerPath"


def _notify_without_listener_path(config):
    config["syscalls"][0]["action"] = "SCMP_ACT_NOTIFY"
    return "linux.seccomp.listenerPath"


def _bad_index(config):
    config["syscalls"][0]["args"] = [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]
    return "linux.seccomp.syscalls[0].args[0].index"


BAD = {
    "errno-ret-on-kill": _errno_ret_on_kill,
    "default-errno-ret-on-allow": _default_errno_ret_on_allow,
    "wait-killable-recv": _wait_killable_recv,
    "notify-without-agent": _notify_without_agent,
    "notify-without-listener-path": _notify_without_listener_path,
    "bad-arg-index": _bad_index,
}


@pytest.mark.xfail_runtime("runc", when={"case": ["errno-ret-on-kill", "default-errno-ret-on-allow"]},
                           reason="runc 1.1.5 silently ignores errnoRet/defaultErrnoRet on an "
                           "action without an errno")
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_profile_fails_create_cleanly(runtime, make_bundle, oci, case):
    b = make_bundle(["true"])
    config = {"defaultAction": "SCMP_ACT_ALLOW",
              "syscalls": [{"names": MKDIR, "action": "SCMP_ACT_KILL"}]}
    path = BAD[case](config)
    b.config["linux"]["seccomp"] = config
    b.write()
    mounts_before = oci.mounts_under_session()
    cp = runtime.run("create", "--bundle", b.path, "--pid-file", b.pid_file, b.id)
    assert cp.returncode != 0, f"create succeeded: {cp.stdout} {cp.stderr}"
    msg = error_message(cp, None)
    if runtime.name == "ociruntime":
        assert msg.startswith(path) or f" {path}" in msg, msg
    assert oci.leftovers(mounts_before) == []
    assert runtime.state_entries() == []


@pytest.mark.runtimes("ociruntime")
def test_features_lists_what_create_accepts(runtime, make_bundle):
    """features-linux.md: every listed action, operator and supported flag is accepted; a
    known but unsupported flag is refused."""
    import json

    doc = json.loads(runtime.run("features", check=True).stdout)["linux"]["seccomp"]
    assert doc["enabled"] is True
    assert "SCMP_ARCH_X86_64" in doc["archs"]
    assert set(doc["supportedFlags"]) <= set(doc["knownFlags"])
    rules = [{"names": ["getpriority"], "action": action} for action in doc["actions"]
             if action not in ("SCMP_ACT_ALLOW", "SCMP_ACT_NOTIFY")]  # NOTIFY: see the agent test
    rules += [{"names": ["setpriority"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 2, "value": 1, "valueTwo": 1, "op": op}]} for op in doc["operators"]]
    b = _bundle(make_bundle, ["true"], rules=rules, flags=doc["supportedFlags"],
                architectures=doc["archs"][:3])
    cp = runtime.run_bundle(b)
    assert cp.returncode == 0, cp.stderr
    for flag in set(doc["knownFlags"]) - set(doc["supportedFlags"]):
        b = _bundle(make_bundle, ["true"], flags=[flag])
        cp = runtime.run_bundle(b)
        assert cp.returncode != 0 and "linux.seccomp.flags[0]" in cp.stderr


@pytest.mark.parametrize("nnp", [True, False])
def test_filter_with_an_unprivileged_user(runtime, make_bundle, nnp):
    """Without no_new_privs the filter is loaded while the runtime is still privileged; the
    process then runs as the configured user, unprivileged, under the filter."""
    b = _bundle(make_bundle, None, "SCMP_ACT_ERRNO", [_allow_all_but(*MKDIR)], nnp=nnp)
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    b.write()
    out = runtime.sh(b, "id -u; grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; "
                        "mkdir /tmp/x 2>&1 || true")
    fields = dict(line.split(":\t") for line in out.splitlines()[1:4])
    assert out.splitlines()[0] == "1000"
    assert fields == {"NoNewPrivs": str(int(nnp)), "Seccomp": "2", "CapEff": "0000000000000000"}
    assert "Operation not permitted" in out


@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 loads the filter before it runs the "
                           "startContainer hooks, so they run under the container's filter")
def test_filter_with_a_start_container_hook(runtime, make_bundle):
    """startContainer hooks run in the container before the filter is loaded: the filter is
    the container process's, not the hooks' (the spec does not order the two)."""
    b = _bundle(make_bundle, ["sh", "-c", "mkdir /tmp/x 2>&1 || true"], "SCMP_ACT_ERRNO",
                [_allow_all_but(*MKDIR)])
    b.config["hooks"] = {"startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /tmp/hook"]}]}
    b.write()
    cp = runtime.run_bundle(b)
    assert cp.returncode == 0, cp.stderr
    assert "Operation not permitted" in cp.stdout
    assert (b.rootfs / "tmp/hook").is_dir()


# <linux/seccomp.h>: _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp)
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101


class _Agent:
    """A seccomp agent: receives the container process state and the notify fd on a unix
    socket, then answers every notification with -ENOSPC."""

    def __init__(self, path):
        import socket
        import threading

        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(1)
        self.server.settimeout(10)
        self.state = None
        self.fds = []
        self.answered = 0
        self.error = None
        self.conn = None
        self.closed_after_send = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import fcntl
        import json
        import select
        import socket
        import struct

        try:
            self.conn, _ = self.server.accept()
            message, self.fds, _, _ = socket.recv_fds(self.conn, 65536, 4)
            self.state = json.loads(message)
            fd = self.fds[0]
            poll = select.poll()
            poll.register(fd, select.POLLIN)
            while True:
                events = poll.poll(10000)
                if not events or events[0][1] & (select.POLLHUP | select.POLLERR):
                    return
                request = bytearray(80)
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, request)
                (notif_id,) = struct.unpack_from("Q", request, 0)
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(struct.pack("QqiI", notif_id, 0, -28, 0)))
                self.answered += 1
        except Exception as err:  # noqa: BLE001 - reported by the test
            self.error = err

    def close(self):
        import os

        self.thread.join(15)
        if self.conn is not None:
            self.conn.settimeout(2)
            try:
                self.closed_after_send = self.conn.recv(1) == b""
            except OSError:
                self.closed_after_send = False
            self.conn.close()
        self.server.close()
        for fd in self.fds:
            os.close(fd)


@pytest.mark.parametrize("nnp", [True, False])
def test_notify_hands_the_fd_to_the_agent(runtime, make_bundle, oci, nnp):
    """SCMP_ACT_NOTIFY: the runtime connects to listenerPath, sends the container process
    state with the notify fd (SCM_RIGHTS), and the agent decides the syscall's result."""
    agent = _Agent(oci.dir / "agent.sock")
    try:
        b = _bundle(make_bundle, None, rules=[{"names": MKDIR, "action": "SCMP_ACT_NOTIFY"}],
                    listenerPath=str(oci.dir / "agent.sock"), listenerMetadata="hello", nnp=nnp)
        out = runtime.sh(b, "mkdir /tmp/x 2>&1; ls /proc/$$/fd; true")
    finally:
        agent.close()
    assert agent.error is None, agent.error
    assert "No space left on device" in out and agent.answered >= 1, out
    assert out.splitlines()[1:] == ["0", "1", "2"], out  # the notify fd did not leak
    state = agent.state
    assert state["fds"] == ["seccompFd"] and len(agent.fds) == 1
    assert state["metadata"] == "hello"
    assert state["pid"] > 1 and state["state"]["id"] == b.id
    assert state["state"]["bundle"] == str(b.path)
    assert agent.closed_after_send


@pytest.mark.runtimes("ociruntime")
@pytest.mark.parametrize("config,path", [
    ({"defaultAction": "SCMP_ACT_NOTIFY", "listenerPath": "/run/agent.sock"}, "linux.seccomp.defaultAction"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock",
      "syscalls": [{"names": ["sendmsg"], "action": "SCMP_ACT_NOTIFY"}]}, "linux.seccomp.syscalls[0]"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]},
     "linux.seccomp.syscalls[0].action"),
    ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]},
     "linux.seccomp.architectures[0]"),
])
def test_refused_profiles_name_the_json_path(runtime, make_bundle, config, path):
    """What ociruntime refuses (a notify the runtime itself would wait on) or cannot know."""
    b = make_bundle(["true"])
    b.config["linux"]["seccomp"] = config
    b.write()
    cp = runtime.run("create", "--bundle", b.path, b.id)
    assert cp.returncode != 0
    msg = error_message(cp, None)
    assert msg.removeprefix("ociruntime: ").startswith(path), msg
    assert runtime.state_entries() == []
