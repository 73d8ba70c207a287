"""OCI hooks: when each kind runs, what it gets on stdin, in which
namespace, and what a failing or hanging hook does to the operation.

Rules (runtime-spec config.md "POSIX-platform Hooks", runtime.md
"Lifecycle"): prestart, createRuntime and createContainer run during
`create`; startContainer during `start` before the user process; poststart
after the user process was executed, before `start` returns; poststop after
the container is deleted, before `delete` returns.  A failing prestart,
createRuntime, createContainer or startContainer hook makes the operation
fail, stops the container and continues at "destroy" (then poststop).  A
failing poststart or poststop hook only logs a warning: the remaining hooks
and the lifecycle continue as if it had succeeded.
"""

import json
import os

import pytest

from conftest import pid_alive, pid_starttime, wait_for

pytestmark = pytest.mark.root

HOOK_SCRIPT = """#!/bin/sh
# usage: hook.sh NAME LOG [EXIT_CODE]
state=$(cat | tr -d '\\n')
echo "$1 $(readlink /proc/self/ns/mnt) $state" >> "$2"
exit ${3:-0}
"""
HOOK_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
CONTAINER_STAGES = ("createContainer", "startContainer")
ALL_STAGES = ("prestart", "createRuntime", "createContainer", "startContainer",
              "poststart", "poststop")


class Hooks:
    """Builds hook entries for a bundle whose host_dir is bind-mounted at
    /mnt/a (startContainer hooks resolve their path inside the container)."""

    def __init__(self, bundle):
        self.bundle = bundle
        self.script = bundle.host_dir / "hook.sh"
        self.script.write_text(HOOK_SCRIPT)
        self.script.chmod(0o755)
        self.log = bundle.host_dir / "log"
        bundle.add_mount("/mnt/a", bundle.host_dir)

    def entry(self, stage, name=None, rc=0, **extra):
        inside = stage == "startContainer"
        path = "/mnt/a/hook.sh" if inside else str(self.script)
        log = "/mnt/a/log" if inside else str(self.log)
        e = {"path": path, "args": ["hook.sh", name or stage, log, str(rc)], "env": HOOK_ENV}
        e.update(extra)
        return e

    def set(self, **stages):
        self.bundle.config["hooks"] = stages
        self.bundle.write()

    def lines(self):
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            name, rest = (line.split(" ", 1) + [""])[:2]
            ns, _, state = rest.partition(" ")
            out.append((name, ns, state))
        return out

    def names(self):
        return [name for name, _, _ in self.lines()]


USER_PROCESS = ["sh", "-c", "echo main >> /mnt/a/log; exec sleep 100"]


def test_create_hooks_run_during_create_in_order(runtime, make_bundle):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(prestart=[h.entry("prestart", "prestart1"), h.entry("prestart", "prestart2")],
          createRuntime=[h.entry("createRuntime")],
          createContainer=[h.entry("createContainer")],
          startContainer=[h.entry("startContainer")],
          poststop=[h.entry("poststop")])
    runtime.create(b)
    assert h.names() == ["prestart1", "prestart2", "createRuntime", "createContainer"]
    runtime.start(b.id)
    wait_for(lambda: "main" in h.names(), what="the user process")
    # startContainer runs before the user process
    assert h.names() == ["prestart1", "prestart2", "createRuntime", "createContainer",
                         "startContainer", "main"]
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    assert "poststop" not in h.names()
    runtime.delete(b.id)
    assert h.names()[-1] == "poststop"


POSTSTART_DURING_CREATE = (
    "runc 1.1.5 runs poststart hooks at the end of `create` (state status "
    "'created'), not after the user process was started; fixed in runc 1.2")


@pytest.mark.xfail_runtime("runc", reason=POSTSTART_DURING_CREATE)
def test_poststart_runs_during_start(runtime, make_bundle):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(poststart=[h.entry("poststart", "poststart1"), h.entry("poststart", "poststart2")])
    runtime.create(b)
    assert h.names() == []
    runtime.start(b.id)
    # before `start` returns, the process has been executed and both hooks ran
    assert [n for n in h.names() if n != "main"] == ["poststart1", "poststart2"]
    assert runtime.state(b.id)["status"] == "running"


EXPECTED_STATUS = {
    "prestart": "creating", "createRuntime": "creating", "createContainer": "creating",
    "startContainer": "created", "poststart": "running", "poststop": "stopped",
}


@pytest.mark.xfail_runtime("runc", when={"stage": ["poststart"]}, reason=POSTSTART_DURING_CREATE)
@pytest.mark.parametrize("stage", ALL_STAGES)
def test_hook_receives_state_and_runs_in_right_namespace(runtime, make_bundle, host_ns, stage):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(**{stage: [h.entry(stage)]})
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    container_mnt = os.readlink(f"/proc/{pid}/ns/mnt")
    runtime.start(b.id)
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id)
    lines = [line for line in h.lines() if line[0] == stage]
    assert len(lines) == 1, h.lines()
    _, ns, raw = lines[0]
    if stage in CONTAINER_STAGES:
        assert ns == container_mnt, f"{stage} hook did not run in the container mount namespace"
    else:
        assert ns == host_ns["mnt"], f"{stage} hook did not run in the runtime mount namespace"
    state = json.loads(raw)
    assert state["id"] == b.id
    assert state["bundle"] == b.path
    assert state["ociVersion"]
    assert state["status"] == EXPECTED_STATUS[stage], state
    if stage in CONTAINER_STAGES:
        # runtime.md: for hooks in the container namespace, the pid as the container sees it
        assert state["pid"] == 1, state
    elif stage != "poststop":
        assert state["pid"] == pid, state


def test_hook_args_and_env(runtime, make_bundle):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    out = b.host_dir / "argsenv"
    script = f'echo "$0|$1|$FOO|$OCIT_MARKER" > {out}'
    h.set(createRuntime=[{"path": "/bin/sh", "args": ["sh", "-c", script, "zero", "one"],
                          "env": ["FOO=bar"]}])
    env = dict(os.environ, OCIT_MARKER="leaked")
    runtime.run("create", "--bundle", b.path, b.id, env=env, check=True)
    assert out.read_text() == "zero|one|bar|\n"


@pytest.mark.parametrize("stage", ["prestart", "createRuntime", "createContainer"])
def test_failing_create_hook_fails_create_and_leaves_nothing(runtime, make_bundle, oci, stage):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(**{stage: [h.entry(stage, rc=1)]}, poststop=[h.entry("poststop")])
    mounts_before = oci.mounts_under_session()
    cp = runtime.create(b, check=False)
    assert cp.returncode != 0
    assert cp.stderr.strip()
    assert "main" not in h.names()
    cp = runtime.run("state", b.id)
    assert cp.returncode != 0 and "does not exist" in cp.stderr
    assert oci.leftovers(mounts_before) == []
    # "stop the container, and continue the lifecycle at step 12": destroy, then poststop
    assert h.names() == [stage, "poststop"]


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 `start` exits 0 when a startContainer hook fails: the "
    "error is reported by the container's init after `start` returned; the process is "
    "not run and the container ends up stopped")
def test_failing_start_container_hook_fails_start(runtime, make_bundle):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(startContainer=[h.entry("startContainer", rc=1)])
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    cp = runtime.start(b.id, check=False)
    assert cp.returncode != 0
    assert cp.stderr.strip()
    wait_for(lambda: not pid_alive(pid), what="the container to be stopped")
    assert "main" not in h.names()
    st = runtime.run("state", b.id)
    if st.returncode == 0:
        assert json.loads(st.stdout)["status"] == "stopped"


@pytest.mark.xfail_runtime("runc", reason=POSTSTART_DURING_CREATE + "; there a failing "
                           "poststart hook makes `create` fail and kills the container")
def test_failing_poststart_hook_is_only_a_warning(runtime, make_bundle):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(poststart=[h.entry("poststart", "bad", rc=1), h.entry("poststart", "good")])
    runtime.create(b)
    cp = runtime.start(b.id, check=False)
    assert cp.returncode == 0, cp.stderr
    assert [n for n in h.names() if n != "main"] == ["bad", "good"]
    assert runtime.state(b.id)["status"] == "running"


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 stops at the first failing poststop hook (it logs the "
    "error, `delete` exits 0) and does not run the remaining poststop hooks")
def test_failing_poststop_hook_is_only_a_warning(runtime, make_bundle):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    h.set(poststop=[h.entry("poststop", "bad", rc=1), h.entry("poststop", "good")])
    runtime.create(b)
    runtime.start(b.id)
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    cp = runtime.delete(b.id, check=False)
    assert cp.returncode == 0, cp.stderr
    assert [n for n in h.names() if n != "main"] == ["bad", "good"]
    assert runtime.state_entries() == []


def test_hook_timeout_kills_the_hook(runtime, make_bundle, oci):
    b = make_bundle(USER_PROCESS)
    h = Hooks(b)
    pidfile = b.host_dir / "hook.pid"
    h.set(createRuntime=[{
        "path": "/bin/sh", "args": ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 100"],
        "env": HOOK_ENV, "timeout": 1}])
    mounts_before = oci.mounts_under_session()
    cp = runtime.create(b, check=False)
    assert cp.returncode != 0
    assert cp.stderr.strip()
    hook_pid = int(pidfile.read_text())
    start = pid_starttime(hook_pid)
    if start is not None:
        oci.extra_pids[hook_pid] = start
    wait_for(lambda: not pid_alive(hook_pid), timeout=5, what="the timed-out hook to die")
    assert "main" not in h.names()
    assert runtime.run("state", b.id).returncode != 0
    assert oci.leftovers(mounts_before) == []
