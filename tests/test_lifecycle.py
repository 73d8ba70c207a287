"""Lifecycle of a container seen from outside: run, create/start/state/kill/
delete, and the operations that must be refused."""

import os
from pathlib import Path

import pytest

from conftest import cgroup_dirs, pid_alive, wait_for

pytestmark = pytest.mark.root


def one_line(text):
    """The runtime's error output, asserted to be a single non-empty line."""
    text = text.strip()
    assert text, "expected an error message on stderr"
    assert "\n" not in text, f"expected a one-line error message, got:\n{text}"
    return text


# --------------------------------------------------------------------------
# 1. run in the foreground
# --------------------------------------------------------------------------

def test_run_prints_output_and_returns_exit_code(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "echo hi; echo err >&2; exit 3"])
    cp = runtime.run_bundle(b)
    assert cp.stdout == "hi\n"
    assert "err" in cp.stderr
    assert cp.returncode == 3
    # a foreground run removes the container when it exits
    cp = runtime.run("state", b.id)
    assert cp.returncode != 0
    assert "does not exist" in cp.stderr
    assert runtime.state_entries() == []


def test_run_exit_zero(runtime, make_bundle):
    b = make_bundle(["true"])
    cp = runtime.run_bundle(b)
    assert cp.returncode == 0, cp.stderr


def test_run_killed_by_signal_from_outside_returns_128_plus_n(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    bg = runtime.popen("run", "--bundle", b.path, b.id)
    runtime.wait_status(b.id, "running")
    runtime.kill(b.id, "KILL")
    assert bg.wait() == 128 + 9, bg.stderr


def test_run_killed_by_own_signal_returns_128_plus_n(runtime, make_bundle):
    # Without a PID namespace the shell is not an init process, so it can
    # kill itself with a signal that has no handler.
    b = make_bundle(["sh", "-c", "kill -USR1 $$; sleep 5"])
    b.set_namespaces("network", "ipc", "uts", "mount")
    cp = runtime.run_bundle(b)
    assert cp.returncode == 128 + 10, cp.stderr


def test_run_reads_bundle_from_cwd(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "echo from-cwd"])
    cp = runtime.run("run", b.id, cwd=b.path)
    assert cp.returncode == 0, cp.stderr
    assert cp.stdout == "from-cwd\n"


# --------------------------------------------------------------------------
# 2. create / start / state / kill / delete
# --------------------------------------------------------------------------

def test_create_start_state_kill_delete(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "echo started > /mnt/a/out; exec sleep 100"])
    b.add_mount("/mnt/a", b.host_dir)
    out = b.host_dir / "out"

    runtime.create(b)
    st = runtime.state(b.id)
    assert st["status"] == "created"
    assert st["ociVersion"]
    assert st["id"] == b.id
    pid = st["pid"]
    assert isinstance(pid, int) and pid > 0
    assert os.path.isdir(f"/proc/{pid}")
    assert st["bundle"] == b.path and os.path.isabs(st["bundle"])
    pid_text = Path(b.pid_file).read_text()
    assert pid_text == str(pid), f"pid file must hold the bare pid, got {pid_text!r}"
    # the user process has not run yet
    assert not out.exists()

    runtime.start(b.id)
    st = runtime.state(b.id)
    assert st["status"] == "running"
    assert st["pid"] == pid
    wait_for(lambda: out.exists() and out.read_text() == "started\n", what="the process output")

    runtime.kill(b.id, "KILL")
    st = runtime.wait_status(b.id, "stopped")
    assert st["id"] == b.id
    assert not pid_alive(pid)

    runtime.delete(b.id)
    cp = runtime.run("state", b.id)
    assert cp.returncode != 0
    assert "does not exist" in one_line(cp.stderr)
    assert runtime.state_entries() == []


def test_state_bundle_is_absolute_for_relative_bundle_argument(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    parent, name = os.path.split(b.path)
    runtime.run("create", "--bundle", name, b.id, cwd=parent, check=True)
    st = runtime.state(b.id)
    assert st["bundle"] == b.path


def test_create_uses_cwd_as_default_bundle(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.run("create", b.id, cwd=b.path, check=True)
    st = runtime.state(b.id)
    assert st["status"] == "created"
    assert st["bundle"] == b.path


def test_state_json_fields_and_annotations(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], annotations={"com.example.key": "value"})
    runtime.create(b)
    st = runtime.state(b.id)
    for key in ("ociVersion", "id", "status", "pid", "bundle"):
        assert key in st, f"state lacks {key}: {st}"
    # go-runc (containerd) reads these two as well
    assert "rootfs" in st and "created" in st, st
    assert st.get("annotations", {}).get("com.example.key") == "value"


def test_exited_process_reports_stopped(runtime, make_bundle):
    b = make_bundle(["true"])
    runtime.create(b)
    runtime.start(b.id)
    st = runtime.wait_status(b.id, "stopped")
    assert st["id"] == b.id
    runtime.delete(b.id)
    assert runtime.state_entries() == []


def test_delete_created_container(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    runtime.delete(b.id, force=True)
    wait_for(lambda: not pid_alive(pid), what="the init process to die")
    assert runtime.state_entries() == []


TRAP_SCRIPT = (
    "trap 'echo TERM > /mnt/a/sig; exit 0' TERM; "
    "trap 'echo USR1 > /mnt/a/sig; exit 0' USR1; "
    "echo ready > /mnt/a/ready; "
    "while :; do sleep 0.1; done"
)


@pytest.mark.parametrize("form,expected", [
    ("TERM", "TERM"), ("SIGTERM", "TERM"), ("15", "TERM"),
    ("USR1", "USR1"), ("SIGUSR1", "USR1"), ("10", "USR1"),
])
def test_kill_signal_forms(runtime, make_bundle, form, expected):
    b = make_bundle(["sh", "-c", TRAP_SCRIPT])
    b.add_mount("/mnt/a", b.host_dir)
    runtime.create(b)
    runtime.start(b.id)
    wait_for(lambda: (b.host_dir / "ready").exists(), what="the trap to be installed")
    runtime.kill(b.id, form)
    runtime.wait_status(b.id, "stopped")
    assert (b.host_dir / "sig").read_text() == expected + "\n"


@pytest.mark.parametrize("form", ["KILL", "SIGKILL", "9"])
def test_kill_sigkill_forms(runtime, make_bundle, form):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    runtime.start(b.id)
    pid = runtime.state(b.id)["pid"]
    runtime.kill(b.id, form)
    runtime.wait_status(b.id, "stopped")
    assert not pid_alive(pid)


def test_kill_default_signal_is_term(runtime, make_bundle):
    b = make_bundle(["sh", "-c", TRAP_SCRIPT])
    b.add_mount("/mnt/a", b.host_dir)
    runtime.create(b)
    runtime.start(b.id)
    wait_for(lambda: (b.host_dir / "ready").exists(), what="the trap to be installed")
    runtime.run("kill", b.id, check=True)
    runtime.wait_status(b.id, "stopped")
    assert (b.host_dir / "sig").read_text() == "TERM\n"


def test_kill_created_container(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    assert not pid_alive(pid)


def test_pid_file_relative_to_cwd(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.run("create", "--bundle", b.path, "--pid-file", "rel.pid", b.id,
                cwd=b.host_dir, check=True)
    pid = runtime.state(b.id)["pid"]
    assert (b.host_dir / "rel.pid").read_text() == str(pid)


# --------------------------------------------------------------------------
# 3. invalid operations
# --------------------------------------------------------------------------

def test_start_running_container_fails(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    runtime.start(b.id)
    pid = runtime.state(b.id)["pid"]
    cp = runtime.start(b.id, check=False)
    assert cp.returncode != 0
    assert "running" in one_line(cp.stderr)
    st = runtime.state(b.id)
    assert st["status"] == "running" and st["pid"] == pid


def test_start_stopped_container_fails(runtime, make_bundle):
    b = make_bundle(["true"])
    runtime.create(b)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    cp = runtime.start(b.id, check=False)
    assert cp.returncode != 0
    assert "stopped" in one_line(cp.stderr)
    assert runtime.state(b.id)["status"] == "stopped"


def test_create_with_existing_id_fails(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    b2 = make_bundle(["sleep", "100"])
    b2.id = b.id
    cp = runtime.create(b2, check=False)
    assert cp.returncode != 0
    assert "already exists" in one_line(cp.stderr)
    st = runtime.state(b.id)
    assert st["status"] == "created" and st["pid"] == pid and st["bundle"] == b.path
    assert pid_alive(pid)
    # the failed create left nothing of its own
    assert not os.path.exists(b2.pid_file)
    assert cgroup_dirs(b2.cgroups_path) == []


def test_delete_running_container_needs_force(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    runtime.start(b.id)
    pid = runtime.state(b.id)["pid"]
    cp = runtime.delete(b.id, check=False)
    assert cp.returncode != 0
    assert "running" in one_line(cp.stderr)
    assert runtime.state(b.id)["status"] == "running"
    assert pid_alive(pid)
    runtime.delete(b.id, force=True)
    assert not pid_alive(pid)
    assert runtime.state_entries() == []
    assert cgroup_dirs(b.cgroups_path) == []


def test_kill_stopped_container_fails(runtime, make_bundle):
    b = make_bundle(["true"])
    runtime.create(b)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    cp = runtime.kill(b.id, "TERM", check=False)
    assert cp.returncode != 0
    assert "container not running" in one_line(cp.stderr)
    assert runtime.state(b.id)["status"] == "stopped"


@pytest.mark.parametrize("op", [
    ("state",), ("start",), ("kill", "TERM"), ("delete",),
], ids=lambda op: op[0])
def test_unknown_id_fails(runtime, op):
    cmd, *rest = op
    cp = runtime.run(cmd, "no-such-container", *rest)
    assert cp.returncode != 0
    assert "does not exist" in one_line(cp.stderr)
    assert runtime.state_entries() == []
