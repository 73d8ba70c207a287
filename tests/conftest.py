"""Shared fixtures for the black-box runtime tests.

Every test that talks to a runtime takes the ``runtime`` fixture, which is
parametrized over the binaries named in ``OCIRUNTIME_TEST_RUNTIMES`` (comma
separated, default ``ociruntime,runc``; each entry is resolved with
``shutil.which`` and the parameter is skipped when it is not found).  The same
assertions therefore run against ociruntime and against the reference runtimes.

How a test builds a bundle and drives a runtime::

    def test_example(runtime, make_bundle):
        b = make_bundle(["sh", "-c", "echo hi; exit 3"],      # process.args
                        hostname="example",                   # deep-merged
                        linux={"namespaces": [{"type": "mount"}]})
        b.config["process"]["env"].append("FOO=bar")          # or mutate ...
        b.write()                                             # ... and rewrite
        cp = runtime.run("run", "--bundle", b.path, b.id)     # CompletedProcess
        assert cp.returncode == 3 and cp.stdout == "hi\\n"

        runtime.create(b)            # create --bundle B --pid-file B/pid ID, must succeed
        runtime.state(b.id)          # parsed state JSON (asserts exit 0)
        runtime.wait_status(b.id, "stopped")

Host rules enforced here (see /work/shared/README.md):

* every bundle gets an absolute ``linux.cgroupsPath`` of its own,
  ``/ociruntime-test/<unique>``; the cgroups are removed after each test and
  the ``/ociruntime-test`` parent at session end when empty.  Nothing under
  ``/sys/fs/cgroup/memory/process_api`` is ever touched.
* processes are killed by PID only, and only when they are known to be ours
  (helpers the test spawned, or members of the test's own cgroups).
* every container gets a mount namespace unless a test removes it itself.

After every test the autouse ``_oci_test_context`` fixture force-deletes what
the test created and then *asserts* that nothing is left: no entries under any
runtime ``--root`` the test used, no cgroup directories for the test's
cgroupsPaths, no new mounts under the session's temporary directory, no
processes in the test's cgroups, and no change to the shared rootfs.
"""

from __future__ import annotations

import copy
import errno
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

# Test modules import helpers with `from conftest import ...`; keep that
# working even if tests/ becomes a package (then this module is tests.conftest).
sys.modules.setdefault("conftest", sys.modules[__name__])

DEFAULT_TIMEOUT = 10.0
CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_PARENT = "ociruntime-test"
FORBIDDEN_CGROUP = "/sys/fs/cgroup/memory/process_api"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")

# Pre-created mount points in the shared rootfs, so that bundles which bind
# host directories there need not write into the shared rootfs.
ROOTFS_MOUNT_DIRS = ("mnt/a", "mnt/b", "mnt/c", "mnt/d")
ROOTFS_MOUNT_FILES = ("mnt/f",)

# What `runc spec` (runc 1.1.5) produces, with process.terminal set to false.
# linux.cgroupsPath and process.args are filled in by make_bundle.
BASELINE_CONFIG = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": False,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {
            "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
            "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                     "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [
            {"type": "pid"},
            {"type": "network"},
            {"type": "ipc"},
            {"type": "uts"},
            {"type": "mount"},
        ],
        "maskedPaths": [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ],
    },
}

_counter = itertools.count(1)


# --------------------------------------------------------------------------
# pytest configuration (the "pytest.ini" of this directory)
# --------------------------------------------------------------------------

def pytest_configure(config):
    config.addinivalue_line("markers", "root: needs to run as root")
    config.addinivalue_line(
        "markers", "cgroupv2: needs a cgroup v2 hierarchy (run inside the v2 VM)")
    config.addinivalue_line(
        "markers", "engines: end-to-end through podman and a private containerd (tests/test_engines.py)")
    config.addinivalue_line(
        "markers",
        "runtimes(*names): run this test only for the named runtimes "
        "(basename of the binary), skip it for the others")
    config.addinivalue_line(
        "markers",
        "xfail_runtime(names, reason, when=None, strict=True): expected "
        "failure for the named runtime(s) only; `when` is a dict "
        "{param_name: [values]} restricting it to some parametrized cases")


def _runtime_entries():
    raw = os.environ.get("OCIRUNTIME_TEST_RUNTIMES", "ociruntime,runc")
    return [e.strip() for e in raw.split(",") if e.strip()]


def _runtime_name(entry):
    return os.path.basename(entry)


def _when_matches(when, params):
    if not when:
        return True
    for key, values in when.items():
        if not isinstance(values, (list, tuple, set)):
            values = [values]
        if params.get(key) not in values:
            return False
    return True


def pytest_collection_modifyitems(config, items):
    is_root = os.geteuid() == 0
    for item in items:
        if not is_root and item.get_closest_marker("root"):
            item.add_marker(pytest.mark.skip(reason="needs root"))
        callspec = getattr(item, "callspec", None)
        if callspec is None or "runtime" not in callspec.params:
            continue
        name = _runtime_name(callspec.params["runtime"])
        for m in item.iter_markers("runtimes"):
            if name not in m.args:
                item.add_marker(pytest.mark.skip(
                    reason=f"only for runtimes {', '.join(m.args)}"))
        for m in item.iter_markers("xfail_runtime"):
            names = m.args[0]
            if isinstance(names, str):
                names = (names,)
            reason = m.kwargs.get("reason") or (m.args[1] if len(m.args) > 1 else "")
            if name in names and _when_matches(m.kwargs.get("when"), callspec.params):
                item.add_marker(pytest.mark.xfail(
                    reason=f"{name}: {reason}", strict=m.kwargs.get("strict", True)))


# --------------------------------------------------------------------------
# small host helpers
# --------------------------------------------------------------------------

def wait_for(predicate, timeout=DEFAULT_TIMEOUT, interval=0.02, what="condition"):
    """Poll predicate() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def failed_create_message(runtime, bundle):
    """Runs a `create` that must fail; returns its one-line message, having checked that it
    is one line and that no state was left behind."""
    cp = runtime.run("create", "--bundle", bundle.path, bundle.id)
    assert cp.returncode != 0
    msg = cp.stderr.strip()
    assert msg and "\n" not in msg, f"expected one line, got:\n{cp.stderr}"
    assert bundle.id not in runtime.state_entries()
    return msg


def deep_merge(base, overrides):
    """Merge overrides into base in place: dicts recurse, anything else
    replaces, and a value of None removes the key."""
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def pid_starttime(pid):
    """Start time of pid (clock ticks since boot), or None: with the pid it
    identifies a process, so a reused pid is never mistaken for ours."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid):
    """True when pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    state = data.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def read_mountinfo(path="/proc/self/mountinfo"):
    """Parse a mountinfo file into a list of dicts."""
    return parse_mountinfo(Path(path).read_text())


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def parse_mountinfo(text):
    mounts = []
    for line in text.splitlines():
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        lf = left.split()
        rf = right.split()
        mounts.append({
            "id": lf[0], "parent": lf[1], "devno": lf[2],
            "root": _unescape(lf[3]), "mountpoint": _unescape(lf[4]),
            "options": lf[5].split(","), "optional": lf[6:],
            "fstype": rf[0], "source": rf[1] if len(rf) > 1 else "",
            "superoptions": rf[2].split(",") if len(rf) > 2 else [],
        })
    return mounts


def cgroup_hierarchies():
    """Mounted cgroup hierarchies: [(dir, controllers)].  On a v1 or hybrid host
    they are mounted below /sys/fs/cgroup (the v2 one, if any, at .../unified);
    on a pure v2 host the one cgroup2 hierarchy is /sys/fs/cgroup itself."""
    result = []
    for m in read_mountinfo("/proc/self/mountinfo"):
        if m["fstype"] not in ("cgroup", "cgroup2"):
            continue
        mp = m["mountpoint"]
        if mp != str(CGROUP_FS) and os.path.dirname(mp) != str(CGROUP_FS):
            continue
        if m["fstype"] == "cgroup2":
            ctrls = ["<unified>"]
        else:
            known = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
                     "blkio", "pids", "net_cls", "net_prio", "perf_event",
                     "hugetlb", "rdma", "misc"}
            ctrls = [o for o in m["superoptions"] if o in known or o.startswith("name=")]
        result.append((Path(mp), ctrls))
    return result


def cgroup_v2_host():
    """True on a pure cgroup v2 (unified) host: cgroup2 is mounted at
    /sys/fs/cgroup itself (False on a v1 or hybrid host like this one)."""
    fstypes = [m["fstype"] for m in read_mountinfo("/proc/self/mountinfo")
               if m["mountpoint"] == str(CGROUP_FS)]
    return bool(fstypes) and fstypes[-1] == "cgroup2"  # the last one is visible


#: the module marks of tests that need a pure cgroup v2 host: they run in the v2 VM
V2_HOST_ONLY = [
    pytest.mark.root,
    pytest.mark.cgroupv2,
    pytest.mark.skipif(not cgroup_v2_host(),
                       reason="needs a pure cgroup v2 host (cgroup2 at /sys/fs/cgroup): "
                       "run it in the v2 VM, ../shared/cgroup-v2-vm/in-v2-vm.sh"),
]
#: the v2 VM runs code 15-20x slower: runtime calls there get more time
VM_TIMEOUT = 6 * DEFAULT_TIMEOUT


def _check_cgroup_path(path: Path):
    s = str(path)
    if FORBIDDEN_CGROUP in s or "process_api" in s:
        raise RuntimeError(f"refusing to touch {s}")
    if f"/{CGROUP_PARENT}/" not in s + "/":
        raise RuntimeError(f"refusing to touch a cgroup outside /{CGROUP_PARENT}: {s}")


def cgroup_dirs(cgroups_path):
    """Existing directories for cgroupsPath in every hierarchy."""
    rel = cgroups_path.lstrip("/")
    dirs = []
    for hier, _ in cgroup_hierarchies():
        d = hier / rel
        if d.is_dir():
            dirs.append(d)
    return dirs


def cgroup_pids(cgroups_path):
    """PIDs found in cgroup.procs anywhere under cgroupsPath (all hierarchies)."""
    pids = set()
    for d in cgroup_dirs(cgroups_path):
        for sub, _dirs, files in os.walk(d):
            if "cgroup.procs" in files:
                try:
                    text = Path(sub, "cgroup.procs").read_text()
                except OSError:
                    continue
                pids.update(int(p) for p in text.split())
    return pids


def remove_cgroup(cgroups_path):
    """rmdir the cgroup and its children, leaf first, in every hierarchy.
    Returns the directories that could not be removed."""
    left = []
    for d in cgroup_dirs(cgroups_path):
        _check_cgroup_path(d)
        for sub, dirs, _files in os.walk(d, topdown=False):
            _check_cgroup_path(Path(sub))
            for attempt in range(50):
                try:
                    os.rmdir(sub)
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno == errno.EBUSY and attempt < 49:
                        time.sleep(0.02)  # a dying task may still be listed
                        continue
                    left.append(f"{sub}: {e.strerror}")
                    break
    return left


# --------------------------------------------------------------------------
# Runtime and Bundle
# --------------------------------------------------------------------------

class RuntimeTimeout(AssertionError):
    pass


class Runtime:
    """A runtime binary with a private --root state directory.

    ``run(*args)`` always executes ``<binary> --root <dir> *args``.  stdout and
    stderr are collected through temporary files, not pipes, so that a
    container that inherits the runtime's stdio (``create`` without a
    terminal) cannot keep the call from returning.
    """

    def __init__(self, name, path, root, ctx):
        self.name = name
        self.path = path
        self.root = Path(root)
        self._ctx = ctx
        self.known_pids = {}  # pid -> start time, see remember_pid()

    def __repr__(self):
        return f"Runtime({self.name!r}, root={str(self.root)!r})"

    def command(self, *args):
        return [self.path, "--root", str(self.root), *map(str, args)]

    def run(self, *args, check=False, input=None, timeout=DEFAULT_TIMEOUT,
            cwd=None, env=None, umask=-1):
        cmd = self.command(*args)
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=out, stderr=err, text=True, cwd=cwd, env=env, umask=umask)
            try:
                proc.communicate(input=input, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                out.seek(0)
                err.seek(0)
                raise RuntimeTimeout(
                    f"{' '.join(cmd)} did not finish within {timeout}s\n"
                    f"stdout: {out.read()}\nstderr: {err.read()}") from None
            out.seek(0)
            err.seek(0)
            cp = subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
        if check and cp.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp

    def popen(self, *args, cwd=None):
        """Start a runtime command in the background (e.g. a foreground
        ``run``).  Returns a BackgroundRun; it is killed after the test."""
        bg = BackgroundRun(self.command(*args), self._ctx.dir, cwd)
        self._ctx.background.append(bg)
        return bg

    def remember_pid(self, pid):
        """Note a container process so that the cleanup can check it is gone
        (and kill it, by PID, if it is not)."""
        if pid not in self.known_pids:
            start = pid_starttime(pid)
            if start is not None:
                self.known_pids[pid] = start

    # -- conveniences ------------------------------------------------------

    def create(self, bundle, *extra, check=True, pid_file=True, cwd=None):
        args = ["create", "--bundle", bundle.path]
        if pid_file:
            args += ["--pid-file", bundle.pid_file]
        cp = self.run(*args, *extra, bundle.id, check=check, cwd=cwd)
        if cp.returncode == 0:
            try:
                self.remember_pid(int(Path(bundle.pid_file).read_text()))
            except (OSError, ValueError):
                pass
        return cp

    def start(self, cid, check=True):
        return self.run("start", cid, check=check)

    def kill(self, cid, sig="KILL", check=True):
        return self.run("kill", cid, sig, check=check)

    def delete(self, cid, force=False, check=True):
        return self.run("delete", *(["--force"] if force else []), cid, check=check)

    def state(self, cid):
        cp = self.run("state", cid, check=True)
        try:
            st = json.loads(cp.stdout)
        except ValueError as e:
            raise AssertionError(f"state output is not JSON ({e}): {cp.stdout!r}") from None
        if isinstance(st.get("pid"), int) and st["pid"] > 0:
            self.remember_pid(st["pid"])
        return st

    def wait_status(self, cid, status, timeout=DEFAULT_TIMEOUT):
        last = {}

        def check():
            # the container may not exist yet (a background `run`)
            cp = self.run("state", cid)
            if cp.returncode != 0:
                last["state"] = cp.stderr.strip()
                return False
            last["state"] = self.state(cid)
            return last["state"].get("status") == status
        try:
            wait_for(check, timeout=timeout, what=f"{cid} to be {status}")
        except AssertionError:
            raise AssertionError(
                f"{cid} did not become {status!r}; last state {last.get('state')}") from None
        return last["state"]

    def run_bundle(self, bundle, *extra, timeout=DEFAULT_TIMEOUT):
        """Foreground ``run --bundle B ID``; returns the CompletedProcess."""
        return self.run("run", "--bundle", bundle.path, *extra, bundle.id, timeout=timeout)

    def sh(self, bundle, script, timeout=DEFAULT_TIMEOUT):
        """Run ``sh -c script`` in the bundle (foreground) and return stdout.
        Asserts that the container exits 0."""
        bundle.config["process"]["args"] = ["sh", "-c", script]
        bundle.write()
        cp = self.run_bundle(bundle, timeout=timeout)
        assert cp.returncode == 0, (
            f"container exited {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}")
        return cp.stdout

    def state_entries(self):
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []


class BackgroundRun:
    def __init__(self, cmd, directory, cwd=None):
        n = next(_counter)
        self.cmd = cmd
        self.out_path = Path(directory, f"bg{n}.out")
        self.err_path = Path(directory, f"bg{n}.err")
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, text=True, cwd=cwd)
        self.pid = self.proc.pid

    def wait(self, timeout=DEFAULT_TIMEOUT):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeTimeout(f"{' '.join(self.cmd)} still running after {timeout}s") from None

    @property
    def stdout(self):
        return self.out_path.read_text()

    @property
    def stderr(self):
        return self.err_path.read_text()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=DEFAULT_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass


class Bundle:
    """A bundle directory: ``path``, ``id`` (container id), ``config`` (dict,
    mutate then ``write()``), ``cgroups_path``, ``rootfs`` (the rootfs as
    seen through the bundle), ``pid_file`` and ``host_dir`` (a scratch host
    directory of this bundle, handy as a bind-mount source)."""

    def __init__(self, path, cid, config, cgroups_path):
        self.path = str(path)
        self.id = cid
        self.config = config
        self.cgroups_path = cgroups_path
        self.pid_file = str(Path(path) / "container.pid")
        self.host_dir = Path(path) / "host"
        self.host_dir.mkdir()

    @property
    def rootfs(self):
        return Path(self.path) / "rootfs"

    @property
    def config_path(self):
        return Path(self.path) / "config.json"

    def write(self):
        self.config_path.write_text(json.dumps(self.config, indent=2))
        return self

    def merge(self, **overrides):
        deep_merge(self.config, overrides)
        return self.write()

    def add_mount(self, destination, source, type="bind", options=("rbind", "rw")):
        self.config.setdefault("mounts", []).append({
            "destination": destination, "type": type, "source": str(source),
            "options": list(options)})
        return self.write()

    def set_namespaces(self, *types, **paths):
        """Replace linux.namespaces with the given types; keyword arguments
        give a `path` for a type (network='/proc/N/ns/net')."""
        nss = [{"type": t} for t in types]
        for t, p in paths.items():
            nss = [n for n in nss if n["type"] != t] + [{"type": t, "path": str(p)}]
        self.config["linux"]["namespaces"] = nss
        return self.write()


# --------------------------------------------------------------------------
# session fixtures
# --------------------------------------------------------------------------

def _rootfs_snapshot(rootfs):
    snap = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            link = os.readlink(p) if os.path.islink(p) else None
            snap[os.path.relpath(p, rootfs)] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                                st.st_uid, st.st_gid, link)
    st = os.lstat(rootfs)
    snap["."] = (st.st_mode, st.st_size, st.st_mtime_ns, st.st_uid, st.st_gid, None)
    return snap


def link_tree(src, dst, copy_files=False):
    """Recreate the directory tree src at dst: directories are new, symlinks
    are hard links to those of src (creating a symlink costs over a
    millisecond on this host's /tmp, a hard link does not; a symlink is never
    changed in place), regular files are hard links too, or copies with
    copy_files=True."""
    src = Path(src)
    for dirpath, dirnames, filenames in os.walk(src):
        target = Path(dst) / Path(dirpath).relative_to(src)
        target.mkdir()
        shutil.copystat(dirpath, target)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            if copy_files and not os.path.islink(path):
                shutil.copy2(path, target / name)
            else:
                os.link(path, target / name, follow_symlinks=False)


def build_busybox_rootfs(dest: Path):
    busybox = next((b for b in BUSYBOX_CANDIDATES if os.path.exists(b)), None)
    if busybox is None:
        pytest.skip("busybox (busybox-static) is not installed")
    for d in ("bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt") + ROOTFS_MOUNT_DIRS:
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True, timeout=DEFAULT_TIMEOUT).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            os.symlink("busybox", dest / "bin" / applet)
    for f in ROOTFS_MOUNT_FILES:
        (dest / f).write_text("")
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\n"
        "nobody:x:1000:1000:nobody:/:/bin/sh\n")
    (dest / "etc" / "group").write_text(
        "root:x:0:\n"
        "tty:x:5:\n"
        "users:x:100:\n"
        "nobody:x:1000:\n")
    return dest


@pytest.fixture(scope="session")
def oci_session_dir():
    base = Path(tempfile.mkdtemp(prefix="ocit-", dir="/tmp"))
    # traversable (not listable) by others: a container in a user namespace sets up its
    # rootfs as the host uid its root maps to
    base.chmod(0o711)
    yield base
    # Remove the /ociruntime-test parent when the tests left it empty.
    for hier, _ in cgroup_hierarchies():
        parent = hier / CGROUP_PARENT
        if parent.is_dir():
            try:
                os.rmdir(parent)
            except OSError:
                pass  # not empty: somebody else's test is using it
    if os.environ.get("OCIRUNTIME_TEST_KEEP"):
        return
    prefix = str(base) + "/"
    if any(m["mountpoint"].startswith(prefix) for m in read_mountinfo("/proc/self/mountinfo")):
        return  # never rmtree through a mount
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def busybox_rootfs(oci_session_dir):
    """The shared, read-only busybox rootfs.  Do not write into it: use
    make_bundle(copy_rootfs=True) to get a private copy."""
    return build_busybox_rootfs(oci_session_dir / "rootfs")


@pytest.fixture(scope="session")
def _busybox_rootfs_snapshot(busybox_rootfs):
    return _rootfs_snapshot(busybox_rootfs)


# --------------------------------------------------------------------------
# per-test context, cleanup and leftover checks
# --------------------------------------------------------------------------

class OciTestContext:
    def __init__(self, directory, session_dir, tag):
        self.dir = Path(directory)
        self.session_dir = Path(session_dir)
        self.tag = tag
        self.runtimes = []
        self.bundles = []
        self.background = []
        self.helpers = []
        self.extra_pids = {}  # pid -> start time of other processes to check
        self.shared_rootfs = None  # (path, snapshot) when a bundle links it

    def mounts_under_session(self):
        prefix = str(self.session_dir) + "/"
        return {
            (m["mountpoint"], m["root"], m["fstype"])
            for m in read_mountinfo("/proc/self/mountinfo")
            if m["mountpoint"].startswith(prefix) or m["root"].startswith(prefix)
        }

    def processes_in_cgroups(self):
        pids = set()
        for b in self.bundles:
            pids |= cgroup_pids(b.cgroups_path)
        return {p for p in pids if pid_alive(p)}

    def leftovers(self, mounts_before=None):
        """Describe everything the test's containers left behind."""
        problems = []
        for rt in self.runtimes:
            entries = rt.state_entries()
            if entries:
                problems.append(f"{rt.name}: state entries left under {rt.root}: {entries}")
        for b in self.bundles:
            dirs = cgroup_dirs(b.cgroups_path)
            if dirs:
                problems.append(f"cgroup directories left: {[str(d) for d in dirs]}")
        procs = self.processes_in_cgroups()
        if procs:
            problems.append(f"processes left in the test's cgroups: {sorted(procs)}")
        if mounts_before is not None:
            new = self.mounts_under_session() - mounts_before
            if new:
                problems.append(f"mounts left: {sorted(new)}")
        return problems


def _alive_and_same(pid, start):
    return pid_alive(pid) and pid_starttime(pid) == start


def _kill_pid_if_ours(pid, cgroups_paths):
    """SIGKILL pid only if it is alive and sits in one of our cgroups."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return
    if not any(f":{cg}\n" in text or f":{cg}/" in text for cg in cgroups_paths):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@pytest.fixture(autouse=True)
def _oci_test_context(request, oci_session_dir):
    n = next(_counter)
    directory = oci_session_dir / f"t{n}"
    directory.mkdir()
    ctx = OciTestContext(directory, oci_session_dir, f"{os.getpid()}-{n}")
    mounts_before = ctx.mounts_under_session()
    yield ctx

    problems = []
    # 1. background runtime commands and helper processes the test started
    for bg in ctx.background:
        bg.stop()
    for proc in ctx.helpers:
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            proc.wait(timeout=DEFAULT_TIMEOUT)
        except subprocess.TimeoutExpired:
            problems.append(f"helper {proc.pid} did not die")
    # 2. force-delete every container the test left
    for rt in ctx.runtimes:
        ids = set(rt.state_entries())
        for cid in sorted(ids):
            try:
                cp = rt.run("delete", "--force", cid)
            except RuntimeTimeout as e:
                problems.append(str(e))
                continue
            if cp.returncode != 0 and rt.state_entries().count(cid):
                problems.append(f"{rt.name} delete --force {cid} failed: {cp.stderr.strip()}")
    # 3. kill leftover processes we know about (same pid and start time)
    cg_paths = [b.cgroups_path for b in ctx.bundles]
    known = dict(ctx.extra_pids)
    for rt in ctx.runtimes:
        known.update(rt.known_pids)
    try:  # a SIGKILLed process can take a moment to become a zombie
        wait_for(lambda: not any(_alive_and_same(p, t) for p, t in known.items()),
                 timeout=3, what="known processes to die")
    except AssertionError:
        pass
    for pid, start in sorted(known.items()):
        if _alive_and_same(pid, start):
            problems.append(f"process {pid} still alive after delete --force")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    stray = ctx.processes_in_cgroups()
    if stray:
        problems.append(f"processes still in the test's cgroups after delete --force: {sorted(stray)}")
        for pid in stray:
            _kill_pid_if_ours(pid, cg_paths)
        try:
            wait_for(lambda: not ctx.processes_in_cgroups(), timeout=5, what="stray processes to die")
        except AssertionError:
            pass
    # 4. the test's cgroups
    for b in ctx.bundles:
        dirs = cgroup_dirs(b.cgroups_path)
        if dirs:
            problems.append(f"cgroups left after delete --force: {[str(d) for d in dirs]}")
        left = remove_cgroup(b.cgroups_path)
        if left:
            problems.append(f"could not remove cgroups: {left}")
    # 5. nothing may be left
    problems += ctx.leftovers(mounts_before)
    new_mounts = ctx.mounts_under_session() - mounts_before
    for mp, _root, _fs in sorted(new_mounts, key=lambda m: -len(m[0])):
        if mp.startswith(str(oci_session_dir) + "/"):
            subprocess.run(["umount", "-l", mp], capture_output=True, timeout=DEFAULT_TIMEOUT)
    if ctx.shared_rootfs is not None:
        rootfs, snap = ctx.shared_rootfs
        now = _rootfs_snapshot(rootfs)
        if now != snap:
            changed = sorted(k for k in set(snap) | set(now) if snap.get(k) != now.get(k))
            problems.append(f"the shared rootfs was modified: {changed[:20]}")
    if problems:
        pytest.fail("cleanup after test found leftovers:\n  " + "\n  ".join(problems),
                    pytrace=False)


@pytest.fixture
def oci(_oci_test_context):
    """The per-test context: ``oci.dir`` (scratch dir), ``oci.leftovers()``,
    ``oci.mounts_under_session()``; mostly used through other fixtures."""
    return _oci_test_context


@pytest.fixture(params=_runtime_entries(), ids=_runtime_name)
def runtime(request, _oci_test_context):
    entry = request.param
    path = shutil.which(entry)
    if path is None:
        pytest.skip(f"runtime {entry!r} not found")
    ctx = _oci_test_context
    root = ctx.dir / f"root-{_runtime_name(entry)}"
    root.mkdir()
    rt = Runtime(_runtime_name(entry), path, root, ctx)
    ctx.runtimes.append(rt)
    return rt


@pytest.fixture
def make_bundle(_oci_test_context, busybox_rootfs, _busybox_rootfs_snapshot):
    """Factory: make_bundle(args=None, *, copy_rootfs=False, name=None,
    **overrides) -> Bundle.

    The config starts from BASELINE_CONFIG (``runc spec`` with terminal
    false), gets ``process.args`` and a unique absolute
    ``linux.cgroupsPath`` (/ociruntime-test/<unique>), then ``overrides``
    are deep-merged into it (dicts merge, other values replace, None removes
    a key).  ``root.path`` is ``rootfs`` inside the bundle: by default a
    tree of its own whose regular files are hard links into the shared
    busybox rootfs (runc refuses a symlinked rootfs; directories are private,
    so a runtime creating mount points does not touch the shared tree; the
    shared files are checked for changes after the test).  With
    copy_rootfs=True, or when root.readonly is false, it is a full private
    copy that the container may write to."""
    ctx = _oci_test_context

    def factory(args=None, *, copy_rootfs=False, name=None, **overrides):
        n = next(_counter)
        bdir = ctx.dir / (name or f"bundle{n}")
        bdir.mkdir()
        config = copy.deepcopy(BASELINE_CONFIG)
        if args is not None:
            config["process"]["args"] = list(args)
        cgroups_path = f"/{CGROUP_PARENT}/{ctx.tag}-{n}"
        config["linux"]["cgroupsPath"] = cgroups_path
        deep_merge(config, overrides)
        if not config.get("root", {}).get("readonly", False):
            copy_rootfs = True  # the container may write: never share files
        if copy_rootfs:
            link_tree(busybox_rootfs, bdir / "rootfs", copy_files=True)
        else:
            link_tree(busybox_rootfs, bdir / "rootfs")
            ctx.shared_rootfs = (busybox_rootfs, _busybox_rootfs_snapshot)
        b = Bundle(bdir, f"oci{ctx.tag}-{n}", config, cgroups_path)
        ctx.bundles.append(b)
        return b.write()

    return factory


@pytest.fixture
def spawn(_oci_test_context):
    """Start a host helper process (list argv); it is SIGKILLed by PID after
    the test.  Returns the Popen."""
    ctx = _oci_test_context

    def factory(argv, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("stdout", subprocess.DEVNULL)
        kwargs.setdefault("stderr", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        ctx.helpers.append(proc)
        return proc

    return factory


@pytest.fixture
def host_ns():
    """Namespace links of the test process: {'net': 'net:[4026531840]', ...}."""
    return {n: os.readlink(f"/proc/self/ns/{n}")
            for n in ("pid", "mnt", "uts", "ipc", "net", "cgroup", "user", "time")}
