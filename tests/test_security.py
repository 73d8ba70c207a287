"""The threat model of ../shared/design.md section 4, attacked from a hostile rootfs.

Each test runs against every runtime under test: a reference runtime that fails one of
these has a known vulnerability, and the test says so.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

from conftest import read_mountinfo

pytestmark = pytest.mark.root


def _sha256(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_proc_self_exe_entrypoint_cannot_run_the_host_binary(runtime, make_bundle):
    """CVE-2019-5736: an entrypoint "#!/proc/self/exe" must not start the runtime's own host
    binary (for ociruntime: the Python interpreter) inside the container."""
    b = make_bundle(["/exploit"], copy_rootfs=True)
    script = b.rootfs / "exploit"
    # were this run by a host Python, the second line would be executed as Python code
    script.write_text("#!/proc/self/exe\nprint('HOST-PYTHON-RAN')\n")
    script.chmod(0o755)
    interpreter = os.path.realpath(sys.executable)
    runtime_binary = os.path.realpath(runtime.path)
    before = (_sha256(interpreter), _sha256(runtime_binary))
    cp = runtime.run_bundle(b)
    assert "HOST-PYTHON-RAN" not in cp.stdout + cp.stderr
    assert cp.returncode != 0
    assert (_sha256(interpreter), _sha256(runtime_binary)) == before


def test_container_process_exe_is_its_own_binary(runtime, make_bundle):
    """Once started, nothing in the container runs from a host file: /proc/1/exe is the
    container's binary, and it cannot be opened for writing through /proc."""
    b = make_bundle(copy_rootfs=True)
    out = runtime.sh(b, "readlink /proc/1/exe; (echo x >> /proc/1/exe) 2>&1 && echo WRITABLE || true")
    lines = out.splitlines()
    assert lines[0] == "/bin/busybox"
    assert "WRITABLE" not in out


def test_only_stdio_fds_reach_the_container(runtime, make_bundle):
    """CVE-2016-9962 / CVE-2024-21626: no fd of the runtime leaks into the container."""
    b = make_bundle()
    out = runtime.sh(b, "ls /proc/$$/fd; true")  # "; true": sh must not exec ls
    assert sorted(out.split()) == ["0", "1", "2"]


def test_preserve_fds_passes_exactly_n_fds(runtime, make_bundle, tmp_path):
    b = make_bundle(["sh", "-c", "ls /proc/$$/fd; true"])
    extra = [os.open(tmp_path / f"f{i}", os.O_CREAT | os.O_RDWR) for i in range(2)]
    try:
        # the caller's fds 3 and 4 are open (dup2'ed), only 3 is preserved
        pass_fds_script = (
            f"exec 3<>{tmp_path}/f0 4<>{tmp_path}/f1; "
            f"exec {' '.join(runtime.command('run', '--preserve-fds', '1', '--bundle', b.path, b.id))}")
        import subprocess

        cp = subprocess.run(["sh", "-c", pass_fds_script], capture_output=True, text=True, timeout=10)
    finally:
        for fd in extra:
            os.close(fd)
    assert cp.returncode == 0, cp.stderr
    assert sorted(cp.stdout.split()) == ["0", "1", "2", "3"]


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 creates the /dev/fd, /dev/stdin... symlinks through a "
    "symlinked /dev, in the host directory it points to")
def test_symlinked_dev_stays_in_rootfs(runtime, make_bundle, tmp_path):
    """CVE-2019-19921-like: /dev in the rootfs is a symlink to a host directory and the
    config mounts nothing on /dev, so the runtime creates device nodes under it: they must
    land inside the rootfs, never in the host directory."""
    host_dir = tmp_path / "host-dev"
    host_dir.mkdir()
    b = make_bundle(["true"], copy_rootfs=True)
    dev = b.rootfs / "dev"
    for child in dev.iterdir():
        child.unlink()
    dev.rmdir()
    os.symlink(str(host_dir), dev)
    b.config["mounts"] = [m for m in b.config["mounts"] if not m["destination"].startswith("/dev")]
    b.write()
    runtime.run_bundle(b)
    assert list(host_dir.iterdir()) == []


def test_mount_destination_cannot_climb_out_of_rootfs(runtime, make_bundle, tmp_path):
    """A mount destination full of "..": it resolves inside the rootfs."""
    b = make_bundle(copy_rootfs=True)
    b.config["mounts"].append({"destination": "/../../../../escape-target", "type": "tmpfs",
                               "source": "tmpfs", "options": ["size=1m"]})
    b.write()
    out = runtime.sh(b, "grep -c ' /escape-target ' /proc/self/mountinfo")
    assert out.strip() == "1"
    assert not Path("/escape-target").exists()


def test_symlinked_proc_is_not_followed_out_of_rootfs(runtime, make_bundle, tmp_path):
    """/proc in the rootfs points at a host directory: procfs must not be mounted there;
    runc refuses the config, ociruntime too (procfs must be reached without symlinks)."""
    host_dir = tmp_path / "host-proc"
    host_dir.mkdir()
    b = make_bundle(["true"], copy_rootfs=True)
    proc = b.rootfs / "proc"
    if proc.exists():
        proc.rmdir()
    os.symlink(str(host_dir), proc)
    before = [m for m in read_mountinfo() if str(host_dir) in str(m)]
    cp = runtime.run_bundle(b)
    assert cp.returncode != 0
    assert list(host_dir.iterdir()) == []
    after = [m for m in read_mountinfo() if str(host_dir) in str(m)]
    assert after == before
