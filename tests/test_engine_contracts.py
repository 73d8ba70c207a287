"""What containerd (go-runc) and podman (conmon) rely on beyond the runtime-tools commands
(../shared/design.md section 3), checked on ociruntime and on runc, the reference."""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import DEFAULT_TIMEOUT, wait_for

pytestmark = pytest.mark.root


def go_runc_version(text: str) -> dict:
    """What containerd's go-runc reads from ``--version``: the first line names the runtime
    and its version, later lines ``commit:`` and ``spec:``."""
    first, *rest = text.strip().splitlines()
    name, word, version = first.split(" ", 2)
    assert word == "version", first
    fields = dict(line.split(": ", 1) for line in rest if ": " in line)
    return {"name": name, "version": version, **fields}


def test_version_in_runc_line_format(runtime):
    cp = runtime.run("--version", check=True)
    v = go_runc_version(cp.stdout)
    assert v["name"] == runtime.name
    assert v["version"] and " " not in v["version"]
    assert v["commit"]
    major, minor, _patch = v["spec"].split("-")[0].split(".")
    assert (major, minor.isdigit()) == ("1", True)


@pytest.mark.parametrize("name", ["checkpoint", "restore"])
def test_criu_command_help_answers_cleanly(runtime, name):
    cp = runtime.run(name, "--help", check=True)
    assert name in cp.stdout and not cp.stderr


@pytest.mark.parametrize("name", ["checkpoint", "restore"])
def test_criu_command_on_unknown_container_fails_in_one_line(runtime, name):
    cp = runtime.run(name, "--image-path", str(runtime.root.parent / "img"), "nosuch")
    assert cp.returncode != 0
    assert len(cp.stderr.strip().splitlines()) == 1, cp.stderr


@pytest.mark.runtimes("ociruntime")
def test_checkpoint_says_unsupported_and_leaves_the_container_running(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    runtime.start(b.id)
    cp = runtime.run("checkpoint", "--leave-running", "--image-path", str(b.host_dir), b.id)
    assert cp.returncode == 1
    assert cp.stderr.strip() == ("ociruntime: checkpoint: CRIU is not supported by ociruntime "
                                 "(checkpoint/restore are unavailable)")
    assert runtime.state(b.id)["status"] == "running"
    runtime.delete(b.id, force=True)


def test_delete_then_delete_force_on_gone_container(runtime, make_bundle):
    """containerd deletes, then deletes with --force when cleaning up: the second call on a
    container that is gone must succeed; a plain delete of it must not."""
    b = make_bundle(["true"])
    runtime.create(b)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id)
    assert runtime.delete(b.id, force=True).returncode == 0
    gone = runtime.delete(b.id, check=False)
    assert gone.returncode != 0 and "does not exist" in gone.stderr


def test_engine_spellings_any_order_with_json_log(runtime, make_bundle):
    """conmon's ``--log-format=json --log F`` and options after the ID; errors then go to
    the log as one JSON object per line, the form containerd and podman read."""
    b = make_bundle(["sleep", "100"])
    log = Path(b.path, "log.json")
    glob = ["--log-format=json", "--log", str(log)]
    runtime.run(*glob, "create", b.id, f"--pid-file={b.pid_file}", "--bundle", b.path,
                "--no-new-keyring", check=True)
    pid = Path(b.pid_file).read_text()
    assert pid.isdigit()  # no newline
    runtime.remember_pid(int(pid))
    runtime.run(*glob, "start", b.id, check=True)
    runtime.run(*glob, "kill", b.id, "9", check=True)
    runtime.wait_status(b.id, "stopped")
    runtime.run(*glob, "delete", b.id, "--force", check=True)
    failed = runtime.run(*glob, "state", b.id)
    assert failed.returncode != 0
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    errors = [e for e in entries if e["level"] == "error"]
    assert len(errors) == 1 and "does not exist" in errors[0]["msg"]
    assert all(isinstance(e["time"], str) for e in entries)


def test_lifecycle_with_an_empty_environment(runtime, make_bundle):
    """Engines may call the runtime with no PATH at all: nothing may need a lookup."""
    b = make_bundle(["sh", "-c", "echo $PATH > /dev/null; sleep 100"])
    env = {}
    cp = runtime.run("create", "--bundle", b.path, "--pid-file", b.pid_file, b.id, env=env)
    assert cp.returncode == 0, cp.stderr
    runtime.remember_pid(int(Path(b.pid_file).read_text()))
    for args in (("start", b.id), ("ps", "--format", "json", b.id), ("kill", b.id, "KILL")):
        cp = runtime.run(*args, env=env)
        assert cp.returncode == 0, f"{args}: {cp.stderr}"
    wait_for(lambda: runtime.run("state", b.id, env=env).stdout.count('"stopped"'),
             what="the container to stop")
    assert runtime.run("delete", b.id, env=env).returncode == 0


def _relocated_install(tmp_path: Path, launcher: str) -> Path:
    """A copy of the installed venv's layout under ``tmp_path``: bin/ with the launcher and
    python3, site-packages with a bytecode-free copy of the package (the dependencies
    linked).  Returns the package copy."""
    installed = Path(os.path.realpath(launcher)).parent.parent
    interpreter = installed / "bin" / "python3"
    site = subprocess.run([interpreter, "-I", "-c", "import ociruntime, os; "
                           "print(os.path.dirname(ociruntime.__path__[0]))"],
                          capture_output=True, text=True, check=True, timeout=DEFAULT_TIMEOUT).stdout.strip()
    relative_site = Path(site).relative_to(installed)
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    shutil.copy(os.path.realpath(launcher), tmp_path / "venv" / "bin" / "ociruntime")
    (tmp_path / "venv" / "bin" / "python3").symlink_to(os.path.realpath(interpreter))
    copy = tmp_path / "venv" / relative_site
    copy.mkdir(parents=True)
    for entry in Path(site).iterdir():
        if entry.name != "ociruntime":
            (copy / entry.name).symlink_to(entry)
    shutil.copytree(Path(site) / "ociruntime", copy / "ociruntime",
                    ignore=shutil.ignore_patterns("__pycache__"))
    return copy / "ociruntime"


@pytest.mark.runtimes("ociruntime")
def test_console_script_is_relocatable_isolated_and_writes_no_bytecode(runtime, tmp_path):
    """The launcher, reached through a symlink as /usr/local/bin/ociruntime is, runs the
    interpreter of its own venv with an empty environment (no PATH), imports nothing from the
    caller's directory (a root process must not run a planted ``ociruntime/`` there) and
    writes no bytecode into the package."""
    package = _relocated_install(tmp_path, runtime.path)
    (tmp_path / "links").mkdir()
    (tmp_path / "links" / "ociruntime").symlink_to(tmp_path / "venv" / "bin" / "ociruntime")
    planted = tmp_path / "cwd" / "ociruntime"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("raise SystemExit('imported from the current directory')\n")
    for argv in (["--root", str(tmp_path / "root"), "state", "nosuch"], ["features"], ["--version"],
                 ["checkpoint", "--help"]):
        cp = subprocess.run([tmp_path / "links" / "ociruntime", *argv], env={}, cwd=tmp_path / "cwd",
                            capture_output=True, text=True, timeout=DEFAULT_TIMEOUT)
        assert cp.returncode in (0, 1) and "Traceback" not in cp.stderr, cp.stderr
        assert "current directory" not in cp.stderr
        assert "ociruntime" in cp.stdout + cp.stderr
    assert (package / "_shim.py").exists()
    assert not list(package.rglob("__pycache__")), "the launcher wrote bytecode"


@pytest.mark.runtimes("ociruntime")
def test_console_script_uses_the_copy_it_was_started_from(runtime, tmp_path):
    """Proof that the relocated launcher above ran the relocated package (not the installed
    one): a marker in the copy's ``--version`` output shows up."""
    package = _relocated_install(tmp_path, runtime.path)
    init = package / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "', '__version__ = "relocated-'))
    cp = subprocess.run([tmp_path / "venv" / "bin" / "ociruntime", "--version"], env={},
                        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT, check=True)
    assert "relocated-" in cp.stdout.splitlines()[0]


@pytest.mark.parametrize("argv", [["create", "--bogus", "c1"], ["nosuchcommand", "c1"]],
                         ids=["unknown-flag", "unknown-command"])
def test_usage_error_goes_to_the_json_log(runtime, argv):
    """containerd reads the reason a call failed from --log: without a line there it reports
    "unable to retrieve OCI runtime error"."""
    log = runtime.root.parent / "usage.json"
    cp = runtime.run("--log", str(log), "--log-format=json", *argv)
    assert cp.returncode != 0
    lines = log.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["level"] == "error" and entry["msg"].strip()


def test_kill_all_of_a_stopped_container_succeeds(runtime, make_bundle):
    """containerd's shim sends ``kill --all ID 9`` again when it deletes an exited task; a
    plain kill of it still fails."""
    b = make_bundle(["true"])
    runtime.create(b)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    assert runtime.run("kill", "--all", b.id, "9").returncode == 0
    assert runtime.run("kill", b.id, "9").returncode != 0
    runtime.delete(b.id)
