"""Host facts, the busybox rootfs, bundles, and the leftover checks.

Host rules this module enforces (see /work/shared/README.md of the project):

* every bundle gets an absolute ``linux.cgroupsPath`` below a parent of our
  own, ``/ociruntime-conformance/...``; nothing outside it is ever created or
  removed, and ``.../memory/process_api`` is refused outright;
* processes are only ever killed by PID, and only when they are known to be
  ours (a container's PID with its start time, a helper we spawned, or a
  process sitting in one of the case's own cgroups);
* the suite unmounts nothing of the host; mounts a runtime leaves under the
  run directory are reported (and lazily detached at the very end so the run
  directory can be removed).
"""

from __future__ import annotations

import copy
import errno
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
CGROUP_PARENT = "ociruntime-conformance"
FORBIDDEN_CGROUP_PART = "process_api"
BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
CHECKER_SOURCE = Path(__file__).with_name("checker.c")

# Inside every rootfs: the checker and a directory where hosts dirs get
# bind-mounted (the hook log, scratch files).
IN_CONTAINER_DIR = "/.ocic"
IN_CONTAINER_CHECKER = IN_CONTAINER_DIR + "/checker"
# Empty directories and files in the rootfs, usable as mount points without
# writing into the (shared, read-only) rootfs.
ROOTFS_DIRS = ("bin", "proc", "sys", "dev", "tmp", "etc", "root", "mnt", "mnt/a", "mnt/b",
               "mnt/c", "mnt/d", "mnt/log", "mnt/ro", "home/user", IN_CONTAINER_DIR.lstrip("/"))
ROOTFS_FILES = ("mnt/f", "mnt/g")

V1_CONTROLLERS = {"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                  "pids", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"}
NS_TYPES = {  # OCI namespace type -> /proc/<pid>/ns/<name>
    "pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
    "user": "user", "cgroup": "cgroup", "time": "time",
}


# --------------------------------------------------------------------------
# small host helpers
# --------------------------------------------------------------------------

def wait_for(predicate, timeout=10.0, interval=0.01):
    """Poll predicate() until it returns a truthy value, which is returned;
    None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)
        interval = min(interval * 1.5, 0.05)


def pid_starttime(pid):
    """Start time of pid in clock ticks since boot, or None: with the pid it
    identifies one process, so a reused pid is never taken for ours."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def pid_alive(pid):
    """True when pid exists and is neither a zombie nor dead."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return False
    return data.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def ns_link(pid, ns_type):
    try:
        return os.readlink(f"/proc/{pid}/ns/{NS_TYPES.get(ns_type, ns_type)}")
    except OSError:
        return None


def _unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def parse_mountinfo(text):
    mounts = []
    for line in text.splitlines():
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        lf, rf = left.split(), right.split()
        mounts.append({
            "id": lf[0], "parent": lf[1], "devno": lf[2], "root": _unescape(lf[3]),
            "mountpoint": _unescape(lf[4]), "options": lf[5].split(","), "optional": lf[6:],
            "fstype": rf[0], "source": rf[1] if len(rf) > 1 else "",
            "superoptions": rf[2].split(",") if len(rf) > 2 else [],
        })
    return mounts


def read_mountinfo(pid="self"):
    with open(f"/proc/{pid}/mountinfo") as f:
        return parse_mountinfo(f.read())


def mount_keys(prefix=None):
    """The host's mounts as a set of comparable tuples (optionally only those
    whose mount point or root lies under prefix)."""
    keys = set()
    for m in read_mountinfo():
        if prefix and not (m["mountpoint"].startswith(prefix) or m["root"].startswith(prefix)):
            continue
        keys.add((m["mountpoint"], m["root"], m["fstype"], m["source"], m["devno"]))
    return keys


LEAK_PLACES = ("/", "/proc", "/sys", "/dev", "/tmp", "/run", "/mnt", "/etc", "/home", "/root")


def leak_relevant(key, run_dir):
    """Whether a host mount (a mount_keys() tuple) is one a runtime of this
    suite could have leaked: anything under the run directory, or at the
    places a container's mounts land when made in the wrong namespace.
    Other mounts (other people's tests on a shared machine) are ignored."""
    mountpoint, root = key[0], key[1]
    if mountpoint.startswith(run_dir + "/") or root.startswith(run_dir + "/"):
        return True
    return mountpoint in LEAK_PLACES or mountpoint.startswith(("/proc/", "/sys/", "/dev/", "/mnt/"))


# --------------------------------------------------------------------------
# host facts
# --------------------------------------------------------------------------

@dataclass
class Host:
    """What this machine offers; detected once per run."""
    hierarchies: list = field(default_factory=list)  # [(Path, frozenset(controllers) | None=v2)]
    cgroup_mode: str = "v1"  # v1 | hybrid | v2
    v2_controllers: frozenset = frozenset()
    host_ns: dict = field(default_factory=dict)
    hugepage_sizes: list = field(default_factory=list)  # ["2MB", "1GB"]
    cap_last_cap: int = 40
    bounding: int = 0
    disk: tuple | None = None  # (major, minor) of a real block device
    has_userns: bool = True
    has_timens: bool = False
    hostname: str = ""

    @classmethod
    def detect(cls):
        h = cls()
        v1, v2 = [], None
        for m in read_mountinfo():
            mp = m["mountpoint"]
            if m["fstype"] == "cgroup2" and (mp == str(CGROUP_FS) or os.path.dirname(mp) == str(CGROUP_FS)):
                v2 = Path(mp)
            elif m["fstype"] == "cgroup" and os.path.dirname(mp) == str(CGROUP_FS):
                ctrls = frozenset(o for o in m["superoptions"]
                                  if o in V1_CONTROLLERS or o.startswith("name="))
                v1.append((Path(mp), ctrls))
        h.hierarchies = list(v1)
        if v2 is not None:
            h.hierarchies.append((v2, None))
            try:
                h.v2_controllers = frozenset((v2 / "cgroup.controllers").read_text().split())
            except OSError:
                pass
        h.cgroup_mode = "v2" if (v2 is not None and not v1) else ("hybrid" if v2 is not None else "v1")
        h.host_ns = {t: ns_link("self", t) for t in NS_TYPES}
        h.has_timens = os.path.exists("/proc/self/ns/time")
        try:
            h.has_userns = int(Path("/proc/sys/user/max_user_namespaces").read_text()) > 0
        except (OSError, ValueError):
            h.has_userns = os.path.exists("/proc/self/ns/user")
        for d in sorted(Path("/sys/kernel/mm/hugepages").glob("hugepages-*kB")):
            kb = int(d.name[len("hugepages-"):-2])
            h.hugepage_sizes.append(f"{kb // 1024 // 1024}GB" if kb >= 1024 * 1024
                                    else f"{kb // 1024}MB" if kb >= 1024 else f"{kb}KB")
        try:
            h.cap_last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        except (OSError, ValueError):
            pass
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                h.bounding = int(line.split()[1], 16)
        for dev in sorted(Path("/sys/block").iterdir()):
            if dev.name.startswith(("loop", "ram", "zram", "dm-", "md", "nbd", "sr")):
                continue
            try:
                major, minor = (dev / "dev").read_text().strip().split(":")
                h.disk = (int(major), int(minor))
                break
            except (OSError, ValueError):
                continue
        h.hostname = os.uname().nodename
        return h

    # -- cgroups ------------------------------------------------------------

    def v1_path(self, controller):
        """Mount point of the v1 hierarchy that holds controller, or None."""
        for path, ctrls in self.hierarchies:
            if ctrls is not None and controller in ctrls:
                return path
        return None

    def v2_path(self):
        for path, ctrls in self.hierarchies:
            if ctrls is None:
                return path
        return None

    def controller_version(self, controller):
        """'v1' or 'v2' for the hierarchy that governs controller; None when
        the controller is not available at all."""
        if self.v1_path(controller) is not None:
            return "v1"
        if self.v2_path() is not None and controller in self.v2_controllers:
            return "v2"
        return None

    def cgroup_dirs(self, cgroups_path):
        rel = cgroups_path.lstrip("/")
        return [p / rel for p, _ in self.hierarchies if (p / rel).is_dir()]


# --------------------------------------------------------------------------
# cgroup cleanup (only ever below /ociruntime-conformance)
# --------------------------------------------------------------------------

def check_cgroup_path(path):
    s = str(path)
    if FORBIDDEN_CGROUP_PART in s:
        raise RuntimeError(f"refusing to touch {s}")
    if f"/{CGROUP_PARENT}/" not in s + "/":
        raise RuntimeError(f"refusing to touch a cgroup outside /{CGROUP_PARENT}: {s}")


def cgroup_pids(host, cgroups_path):
    pids = set()
    for d in host.cgroup_dirs(cgroups_path):
        check_cgroup_path(d)
        for sub, _dirs, files in os.walk(d):
            if "cgroup.procs" in files:
                try:
                    pids.update(int(p) for p in Path(sub, "cgroup.procs").read_text().split())
                except (OSError, ValueError):
                    pass
    return {p for p in pids if pid_alive(p)}


def remove_cgroup(host, cgroups_path):
    """rmdir the cgroup and its children, leaf first, in every hierarchy;
    returns what could not be removed."""
    left = []
    for d in host.cgroup_dirs(cgroups_path):
        check_cgroup_path(d)
        for sub, _dirs, _files in os.walk(d, topdown=False):
            check_cgroup_path(sub)
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


def remove_cgroup_parent(host):
    """Remove /ociruntime-conformance in every hierarchy when it is empty."""
    for p, _ in host.hierarchies:
        parent = p / CGROUP_PARENT
        if parent.is_dir():
            try:
                os.rmdir(parent)
            except OSError:
                pass  # not empty: another run is using it


def kill_pid_if_in_cgroups(pid, cgroups_paths):
    """SIGKILL pid, but only when it sits in one of our cgroups."""
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return
    if any(f":{cg}\n" in text or f":{cg}/" in text for cg in cgroups_paths):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------
# the checker and the rootfs
# --------------------------------------------------------------------------

def cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ociruntime-conformance"


def build_checker(cache=None):
    """Compile checker.c statically (once; cached by the source's hash)."""
    src = CHECKER_SOURCE.read_bytes()
    digest = hashlib.sha256(src).hexdigest()[:16]
    cache = Path(cache or cache_dir())
    out = cache / f"checker-{digest}"
    if out.exists():
        return out
    cache.mkdir(parents=True, exist_ok=True)
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise RuntimeError("gcc is needed to build the in-container checker")
    tmp = cache / f".checker-{digest}.{os.getpid()}"
    cp = subprocess.run([gcc, "-static", "-O2", "-Wall", "-o", str(tmp), str(CHECKER_SOURCE)],
                        capture_output=True, text=True, timeout=120)
    if cp.returncode != 0:
        raise RuntimeError(f"building the checker failed:\n{cp.stderr}")
    os.replace(tmp, out)
    return out


def build_rootfs(dest, checker):
    """A busybox rootfs with the checker at /.ocic/checker."""
    busybox = next((b for b in BUSYBOX_CANDIDATES if os.path.exists(b)), None)
    if busybox is None:
        raise RuntimeError("busybox (package busybox-static) is not installed")
    dest = Path(dest)
    for d in ROOTFS_DIRS:
        (dest / d).mkdir(parents=True, exist_ok=True)
    os.chmod(dest / "tmp", 0o1777)
    os.chmod(dest / "root", 0o700)
    os.chown(dest / "home" / "user", 1000, 1000)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True, timeout=30).stdout.split()
    for applet in applets:
        if applet != "busybox" and "/" not in applet:
            os.symlink("busybox", dest / "bin" / applet)
    for f in ROOTFS_FILES:
        (dest / f).write_text("")
    shutil.copy2(checker, dest / IN_CONTAINER_CHECKER.lstrip("/"))
    (dest / "mnt" / "ro" / "data").write_text("rootfs data\n")
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n")
    (dest / "etc" / "group").write_text(
        "root:x:0:\ntty:x:5:\nusers:x:100:\nuser:x:1000:\n")
    (dest / "etc" / "hostname").write_text("rootfs\n")
    return dest


def link_tree(src, dst, copy_files=False):
    """Recreate the tree src at dst: new directories, hard links for regular
    files and symlinks (copies with copy_files=True)."""
    src = Path(src)
    for dirpath, dirnames, filenames in os.walk(src):
        target = Path(dst) / Path(dirpath).relative_to(src)
        target.mkdir()
        shutil.copystat(dirpath, target)
        st = os.stat(dirpath)
        os.chown(target, st.st_uid, st.st_gid)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            if copy_files and not os.path.islink(path):
                shutil.copy2(path, target / name)
            else:
                os.link(path, target / name, follow_symlinks=False)


def rootfs_snapshot(rootfs):
    snap = {}
    for dirpath, dirnames, filenames in os.walk(rootfs):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            snap[os.path.relpath(p, rootfs)] = (st.st_mode, st.st_size, st.st_mtime_ns,
                                                st.st_uid, st.st_gid)
    return snap


# --------------------------------------------------------------------------
# bundles
# --------------------------------------------------------------------------

def deep_merge(base, overrides):
    """Merge overrides into base in place: dicts recurse, other values
    replace, None removes the key."""
    for key, value in overrides.items():
        if value is None:
            base.pop(key, None)
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def default_config():
    """A small, ordinary config (what `runc spec` gives, minus the parts that
    would make unrelated cases depend on more features than they test)."""
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "TERM=xterm"],
            "cwd": "/",
            "capabilities": {"bounding": list(DEFAULT_CAPS), "effective": list(DEFAULT_CAPS),
                             "permitted": list(DEFAULT_CAPS)},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "ocic",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "nodev", "mode=1777", "size=16m"]},
        ],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                           {"type": "uts"}, {"type": "mount"}],
        },
    }


class Bundle:
    """A bundle directory.  ``config`` is a dict: change it, then write().
    ``host_dir`` is a scratch directory of the bundle (a bind-mount source);
    ``out``/``err`` receive the container's stdout/stderr (the runtime's
    stdio at create time, which the container inherits)."""

    def __init__(self, path, cid, config, cgroups_path):
        self.path = str(path)
        self.id = cid
        self.config = config
        self.cgroups_path = cgroups_path
        self.pid_file = str(Path(path) / "container.pid")
        self.host_dir = Path(path) / "host"
        self.host_dir.mkdir(exist_ok=True)
        self.out = Path(path) / "stdout"
        self.err = Path(path) / "stderr"

    @property
    def rootfs(self):
        root = self.config.get("root", {}).get("path", "rootfs")
        return Path(self.path) / root if not os.path.isabs(root) else Path(root)

    @property
    def config_path(self):
        return Path(self.path) / "config.json"

    def write(self):
        self.config_path.write_text(json.dumps(self.config, indent=1))
        return self

    def merge(self, **overrides):
        deep_merge(self.config, overrides)
        return self.write()

    @property
    def process(self):
        return self.config.setdefault("process", {})

    @property
    def linux(self):
        return self.config.setdefault("linux", {})

    def set_args(self, *args):
        self.process["args"] = [str(a) for a in args]
        return self.write()

    def add_mount(self, destination, source=None, type="bind", options=("rbind", "rw"), **extra):
        m = {"destination": destination, "type": type, "options": list(options)}
        if source is not None:
            m["source"] = str(source)
        m.update(extra)
        self.config.setdefault("mounts", []).append(m)
        return self.write()

    def remove_mount(self, destination):
        self.config["mounts"] = [m for m in self.config.get("mounts", [])
                                 if m["destination"] != destination]
        return self.write()

    def namespaces(self):
        return [n["type"] for n in self.linux.get("namespaces", [])]

    def set_namespaces(self, *types, **paths):
        """Replace linux.namespaces; keyword arguments give a `path` for a type
        (network='/proc/N/ns/net')."""
        nss = [{"type": t} for t in types if t not in paths]
        nss += [{"type": t, "path": str(p)} for t, p in paths.items()]
        self.linux["namespaces"] = nss
        return self.write()

    def add_namespace(self, ns_type, path=None):
        nss = [n for n in self.linux.setdefault("namespaces", []) if n["type"] != ns_type]
        nss.append({"type": ns_type, **({"path": str(path)} if path else {})})
        self.linux["namespaces"] = nss
        return self.write()

    def remove_namespace(self, ns_type):
        self.linux["namespaces"] = [n for n in self.linux.get("namespaces", [])
                                    if n["type"] != ns_type]
        return self.write()

    def output(self):
        try:
            return self.out.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def errors(self):
        try:
            return self.err.read_text(errors="replace")
        except FileNotFoundError:
            return ""
