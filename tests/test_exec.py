"""``exec``: one more process in a created or running container, seen from inside and
from the host.  runc 1.1.5 is the reference for output, exit codes and error wording."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from conftest import DEFAULT_TIMEOUT, pid_alive, read_mountinfo, wait_for

pytestmark = pytest.mark.root

NS_TYPES = ("pid", "mnt", "net", "ipc", "uts", "cgroup", "user", "time")
SECCOMP = {"defaultAction": "SCMP_ACT_ALLOW",
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


@pytest.fixture
def running(runtime, make_bundle):
    """A started container whose init sleeps; returns (bundle, init's host PID)."""

    def factory(start=True, **overrides):
        b = make_bundle(["sleep", "1000"], **overrides)
        runtime.create(b)
        if start:
            runtime.start(b.id)
        return b, int(Path(b.pid_file).read_text())

    return factory


def _exec(runtime, cid, *argv, options=()):
    return runtime.run("exec", *options, cid, *argv)


def _status_lines(text, prefixes):
    return {line.split(":")[0]: line.split(":", 1)[1].strip()
            for line in text.splitlines() if line.startswith(prefixes)}


def test_output_and_exit_code(runtime, running):
    b, _ = running()
    cp = _exec(runtime, b.id, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (cp.returncode, cp.stdout, cp.stderr) == (3, "out\n", "err\n")


def test_signal_exit_code(runtime, running):
    b, _ = running()
    assert _exec(runtime, b.id, "sh", "-c", "kill -9 $$").returncode == 128 + 9


def test_exec_into_a_created_container(runtime, running):
    b, _ = running(start=False)
    assert _exec(runtime, b.id, "echo", "hi").stdout == "hi\n"
    assert runtime.state(b.id)["status"] == "created"


@pytest.mark.parametrize("argv, wording", [
    (["nosuch"], 'executable file not found in $PATH'),
    (["/nosuch"], "no such file or directory"),
    (["/tmp"], "permission denied"),
])
def test_exec_failure_is_255_with_runcs_wording(runtime, running, argv, wording):
    b, _ = running()
    cp = _exec(runtime, b.id, *argv)
    assert cp.returncode == 255
    assert "exec failed" in cp.stderr and argv[0] in cp.stderr and wording in cp.stderr
    assert len(cp.stderr.strip().splitlines()) == 1


def test_flags_set_cwd_user_groups_env(runtime, running):
    b, _ = running()
    cp = _exec(runtime, b.id, "sh", "-c", "pwd; id -u; id -g; id -G; echo $FOO $TERM",
               options=("--cwd", "/tmp", "-u", "1000:100", "-g", "5", "-g", "7",
                        "-e", "FOO=bar", "-e", "TERM=dumb"))
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == ["/tmp", "1000", "100", "100 5 7", "bar dumb"]


def test_process_file(runtime, running):
    b, _ = running()
    spec = {"args": ["sh", "-c", "pwd; id -u; echo $FOO; echo $PATH"], "cwd": "/etc",
            "env": ["FOO=from-file", "PATH=/bin"], "user": {"uid": 1000, "gid": 1000}}
    path = Path(b.path, "process.json")
    path.write_text(json.dumps(spec))
    cp = _exec(runtime, b.id, options=("--process", path))
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout.splitlines() == ["/etc", "1000", "from-file", "/bin"]


@pytest.mark.parametrize("spec", [{"args": ["true"], "cwd": "etc"}, {"args": ["true"]}])
def test_invalid_process_file_is_refused(runtime, running, spec):
    b, _ = running()
    path = Path(b.path, "process.json")
    path.write_text(json.dumps(spec))
    cp = _exec(runtime, b.id, options=("-p", path))
    assert cp.returncode == 255 and "cwd" in cp.stderr.lower()


def test_joins_every_namespace_of_the_init(runtime, running):
    b, init = running(linux={"namespaces": [{"type": t} for t in
                                            ("pid", "network", "ipc", "uts", "mount", "cgroup")]})
    script = "; ".join(f"readlink /proc/self/ns/{n}" for n in NS_TYPES)
    cp = _exec(runtime, b.id, "sh", "-c", script)
    assert cp.returncode == 0, cp.stderr
    expected = [Path(f"/proc/{init}/ns/{n}").readlink().name for n in NS_TYPES]
    assert cp.stdout.splitlines() == expected


def test_joins_a_user_namespace_first(runtime, running):
    """With a user namespace the others belong to it: joined in the right order, the
    process is the container's root, mapped to the host IDs of the maps."""
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b, init = running(linux={"uidMappings": maps, "gidMappings": maps,
                             "namespaces": [{"type": t} for t in
                                            ("pid", "network", "ipc", "uts", "mount", "user")]})
    cp = _exec(runtime, b.id, "sleep", "1000", options=("-d", "--pid-file", Path(b.path, "exec.pid")))
    assert cp.returncode == 0, cp.stderr
    pid = int(Path(b.path, "exec.pid").read_text())
    runtime.remember_pid(pid)
    for ns in ("user", "mnt", "pid"):
        assert Path(f"/proc/{pid}/ns/{ns}").readlink() == Path(f"/proc/{init}/ns/{ns}").readlink()
    assert _status_lines(Path(f"/proc/{pid}/status").read_text(), ("Uid",))["Uid"].split()[0] == "100000"


def test_inheritable_capabilities_exactly_as_configured(runtime, running):
    b, _ = running(process={"capabilities": {"inheritable": ["CAP_KILL"]}})
    cp = _exec(runtime, b.id, "grep", "CapInh", "/proc/self/status")
    assert cp.stdout.split() == ["CapInh:", f"{1 << 5:016x}"]


@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 does not chroot an exec'd process when the "
                           "container has no mount namespace: it sees the host's /")
def test_without_a_mount_namespace_sees_the_container_root(runtime, make_bundle):
    """The container shares the host's mounts (its /proc is the host's, bound by the test):
    the exec'd process is chrooted where the init is."""
    b = make_bundle(["sleep", "1000"], mounts=[], root={"readonly": False},
                    linux={"namespaces": [{"type": "pid"}, {"type": "uts"}],
                           "maskedPaths": None, "readonlyPaths": None})
    proc = b.rootfs / "proc"
    subprocess.run(["mount", "--bind", "/proc", proc], check=True)
    try:
        runtime.create(b)
        runtime.start(b.id)
        init = int(Path(b.pid_file).read_text())
        cp = _exec(runtime, b.id, "sh", "-c", "ls /; readlink /proc/self/ns/uts")
        init_uts = Path(f"/proc/{init}/ns/uts").readlink().name
        runtime.delete(b.id, force=True)
    finally:
        # the test's /proc bind, and runc's rootfs bind mount, which runc leaves behind
        # when the container has no mount namespace
        _unmount_all_under(b.rootfs)
    assert cp.returncode == 0, cp.stderr
    *listing, uts = cp.stdout.split()
    assert sorted(listing) == sorted(p.name for p in b.rootfs.iterdir())
    assert uts == init_uts


def _unmount_all_under(path):
    """Top (latest) mount first, until nothing is mounted at or under ``path``."""
    while True:
        points = [m["mountpoint"] for m in read_mountinfo()
                  if m["mountpoint"] == str(path) or m["mountpoint"].startswith(f"{path}/")]
        if not points:
            return
        subprocess.run(["umount", "-l", points[-1]], check=True)


def test_joins_the_cgroup(runtime, running):
    b, init = running()
    cp = _exec(runtime, b.id, "cat", "/proc/self/cgroup")
    assert cp.returncode == 0, cp.stderr
    assert sorted(cp.stdout.splitlines()) == sorted(Path(f"/proc/{init}/cgroup").read_text().splitlines())


def test_capabilities_and_no_new_privs_as_the_init(runtime, running):
    b, init = running()
    cp = _exec(runtime, b.id, "cat", "/proc/self/status")
    prefixes = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs")
    assert _status_lines(cp.stdout, prefixes) == _status_lines(
        Path(f"/proc/{init}/status").read_text(), prefixes)


def test_cap_flag_adds_a_capability(runtime, running):
    b, _ = running()
    cp = _exec(runtime, b.id, "cat", "/proc/self/status", options=("--cap", "CAP_SYS_ADMIN"))
    caps = {k: int(v, 16) for k, v in _status_lines(cp.stdout, ("Cap",)).items()}
    sys_admin = 1 << 21
    assert caps["CapBnd"] & caps["CapEff"] & caps["CapPrm"] & sys_admin
    assert caps["CapInh"] == 0


@pytest.mark.parametrize("flag, expected", [((), "0"), (("--no-new-privs",), "1")])
def test_no_new_privs_flag(runtime, running, flag, expected):
    b, _ = running(process={"noNewPrivileges": False})
    cp = _exec(runtime, b.id, "grep", "NoNewPrivs", "/proc/self/status", options=flag)
    assert cp.stdout.split() == ["NoNewPrivs:", expected]


def test_seccomp_filter_of_the_container(runtime, running):
    b, _ = running(linux={"seccomp": SECCOMP})
    cp = _exec(runtime, b.id, "sh", "-c", "grep '^Seccomp:' /proc/self/status; mkdir /dev/shm/x")
    assert cp.stdout.split() == ["Seccomp:", "2"]
    assert cp.returncode != 0 and "Operation not permitted" in cp.stderr


def test_without_seccomp_the_same_mkdir_works(runtime, running):
    b, _ = running()
    assert _exec(runtime, b.id, "mkdir", "/dev/shm/x").returncode == 0


def test_foreground_exec_forwards_signals(runtime, running):
    b, _ = running()
    bg = runtime.popen("exec", b.id, "sh", "-c", "echo started; exec sleep 1000")
    wait_for(lambda: "started" in bg.stdout, what="the exec'd process to start")
    os.kill(bg.pid, signal.SIGTERM)
    assert bg.wait() == 128 + signal.SIGTERM


def test_preserve_fds(runtime, running, oci):
    b, _ = running()
    data = oci.dir / "data"
    data.write_text("through fd 3\n")
    command = runtime.command("exec", "--preserve-fds", "1", b.id, "sh", "-c", "cat <&3")
    cp = subprocess.run(["sh", "-c", f'exec 3<"{data}"; exec "$@"', "sh", *command],
                        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == "through fd 3\n"


def test_detach_writes_the_pid_file(runtime, running, oci):
    b, init = running()
    pid_file = Path(b.path, "exec.pid")
    cp = _exec(runtime, b.id, "sleep", "1000", options=("--detach", "--pid-file", pid_file))
    assert cp.returncode == 0, cp.stderr
    text = pid_file.read_text()
    assert text.isdigit()  # decimal, no newline
    pid = int(text)
    runtime.remember_pid(pid)
    assert pid_alive(pid)
    assert Path(f"/proc/{pid}/ns/pid").readlink() == Path(f"/proc/{init}/ns/pid").readlink()
    assert Path(f"/proc/{pid}/cgroup").read_text() == Path(f"/proc/{init}/cgroup").read_text()


def test_only_stdio_reaches_the_process(runtime, running):
    b, _ = running()
    pid_file = Path(b.path, "exec.pid")
    cp = _exec(runtime, b.id, "sleep", "1000", options=("-d", "--pid-file", pid_file))
    assert cp.returncode == 0, cp.stderr
    pid = int(pid_file.read_text())
    runtime.remember_pid(pid)
    assert sorted(int(fd.name) for fd in Path(f"/proc/{pid}/fd").iterdir()) == [0, 1, 2]


@pytest.mark.parametrize("fd", range(3, 8))
def test_cwd_through_proc_self_fd_does_not_escape(runtime, running, fd):
    b, _ = running()
    cp = _exec(runtime, b.id, "sh", "-c", "cd ../../../../..; ls", options=("--cwd", f"/proc/self/fd/{fd}"))
    if cp.returncode == 0:
        assert sorted(cp.stdout.split()) == sorted(p.name for p in b.rootfs.iterdir())
    else:
        assert cp.returncode == 255


def test_stopped_container_is_refused(runtime, make_bundle):
    b = make_bundle(["true"])
    runtime.create(b)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    cp = _exec(runtime, b.id, "true")
    assert cp.returncode == 255 and "stopped" in cp.stderr


def test_paused_container_is_refused(runtime, running):
    b, _ = running()
    runtime.run("pause", b.id, check=True)
    cp = _exec(runtime, b.id, "true")
    assert cp.returncode == 255 and "paused" in cp.stderr
    runtime.run("resume", b.id, check=True)


def test_missing_container(runtime):
    cp = runtime.run("exec", "nosuch-container", "true")
    assert cp.returncode == 255 and "does not exist" in cp.stderr


def test_no_process_left_behind(runtime, running, oci):
    b, init = running()
    assert _exec(runtime, b.id, "sh", "-c", "sleep 0 & true").returncode == 0
    wait_for(lambda: oci.processes_in_cgroups() == {init}, what="only the init in the cgroup")
