"""Python face of the C shim: every raw system call the runtime makes goes through here.

Each wrapper raises ``OSError(errno, "<syscall>: <strerror>")`` on failure, so callers
can report which call failed.  Tests may replace functions of this module.
"""

import os

from ._shim_c import ffi, lib

# clone(2)/unshare(2) namespace flags
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# mount(2) flags
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000
MNT_DETACH = 0x2

# prctl(2) options
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
PR_SET_CHILD_SUBREAPER = 36
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# openat2(2) resolve flags
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

CLOSE_RANGE_CLOEXEC = 0x4

# mount_setattr(2), open_tree(2), move_mount(2)
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 0x1
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOVE_MOUNT_T_EMPTY_PATH = 0x40
MOUNT_ATTR_IDMAP = 0x100000
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000


def _check(name: str, result: int) -> int:
    if result < 0:
        err = ffi.errno
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return result


def _b(value: str | None):
    return ffi.NULL if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    _check("unshare", lib.oci_unshare(flags))


def setns(fd: int, nstype: int = 0) -> None:
    _check("setns", lib.oci_setns(fd, nstype))


def pivot_root(new_root: str, put_old: str) -> None:
    _check("pivot_root", lib.oci_pivot_root(_b(new_root), _b(put_old)))


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    _check("mount", lib.oci_mount(_b(source), _b(target), _b(fstype), flags, _b(data)))


def umount2(target: str, flags: int = 0) -> None:
    _check("umount2", lib.oci_umount2(_b(target), flags))


def sethostname(name: str) -> None:
    raw = os.fsencode(name)
    _check("sethostname", lib.oci_sethostname(raw, len(raw)))


def setdomainname(name: str) -> None:
    raw = os.fsencode(name)
    _check("setdomainname", lib.oci_setdomainname(raw, len(raw)))


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check("prctl", lib.oci_prctl(option, a2, a3, a4, a5))


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    return _check("openat2", lib.oci_openat2(dirfd, _b(path), flags | os.O_CLOEXEC, mode, resolve))


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    _check("close_range", lib.oci_close_range(first, last, flags))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    _check("capset", lib.oci_capset(effective, permitted, inheritable))


def join_session_keyring(name: str | None, setbits: int = 0) -> None:
    """Joins (or creates) the session keyring ``name`` and adds ``setbits`` to its
    permissions."""
    _check("keyctl", lib.oci_join_session_keyring(_b(name), setbits))


def fstatfs_type(fd: int) -> int:
    return _check("fstatfs", lib.oci_fstatfs_type(fd))


def bpf(cmd: int, attr: bytearray) -> int:
    """bpf(2) with ``attr`` (a union bpf_attr laid out by the caller, updated in place)."""
    buf = ffi.from_buffer(attr)
    return _check("bpf", lib.oci_bpf(cmd, buf, len(attr)))


def mount_setattr(target: str | int, attr_set: int, attr_clr: int = 0, recursive: bool = True,
                  userns_fd: int = 0) -> None:
    """Changes the flags of the mount at ``target``, a path or an fd (such as open_tree's),
    and of all below it; MOUNT_ATTR_IDMAP takes the mapping's user namespace ``userns_fd``."""
    flags = AT_RECURSIVE if recursive else 0
    if isinstance(target, int):
        dirfd, path, flags = target, b"", flags | AT_EMPTY_PATH
    else:
        dirfd, path = AT_FDCWD, os.fsencode(target)
    _check("mount_setattr", lib.oci_mount_setattr(dirfd, path, flags, attr_set, attr_clr, userns_fd))


def open_tree(path: str, recursive: bool) -> int:
    """A close-on-exec fd of a detached copy of the mount at ``path`` (with ``recursive``,
    of the mounts below it too), as a bind mount would make it, not yet attached anywhere."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if recursive else 0)
    return _check("open_tree", lib.oci_open_tree(AT_FDCWD, os.fsencode(path), flags))


def move_mount(tree_fd: int, target_fd: int) -> None:
    """Attaches the mount behind ``tree_fd`` (open_tree's) onto what ``target_fd`` refers to."""
    _check("move_mount", lib.oci_move_mount(tree_fd, b"", target_fd, b"",
                                            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))


# ioprio_set(2)
IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASS_SHIFT = 13
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}


def ioprio_set(ioclass: int, priority: int, who: int = 0) -> None:
    """Sets the I/O priority of process ``who`` (0: the caller)."""
    _check("ioprio_set", lib.oci_ioprio_set(IOPRIO_WHO_PROCESS, who,
                                            (ioclass << IOPRIO_CLASS_SHIFT) | priority))


# sched_setattr(2); SCHED_ISO is reserved by Linux but not implemented
SCHED_POLICIES = {"SCHED_OTHER": 0, "SCHED_FIFO": 1, "SCHED_RR": 2, "SCHED_BATCH": 3,
                  "SCHED_IDLE": 5, "SCHED_DEADLINE": 6}
SCHED_FLAGS = {"SCHED_FLAG_RESET_ON_FORK": 0x01, "SCHED_FLAG_RECLAIM": 0x02,
               "SCHED_FLAG_DL_OVERRUN": 0x04, "SCHED_FLAG_KEEP_POLICY": 0x08,
               "SCHED_FLAG_KEEP_PARAMS": 0x10, "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
               "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40}


def sched_setattr(policy: int, flags: int = 0, nice: int = 0, priority: int = 0,
                  runtime: int = 0, deadline: int = 0, period: int = 0, pid: int = 0) -> None:
    """Sets the scheduling policy and its parameters of ``pid`` (0: the calling thread)."""
    _check("sched_setattr", lib.oci_sched_setattr(pid, policy, flags, nice, priority,
                                                  runtime, deadline, period))


# personality(2) execution domains (linux.personality.domain)
PERSONALITY_DOMAINS = {"LINUX": 0x0000, "LINUX32": 0x0008}


def personality(persona: int) -> int:
    """Sets the execution domain; returns the previous persona."""
    return _check("personality", lib.oci_personality(persona))


# set_mempolicy(2) modes and the mode flags or-ed into them (linux.memoryPolicy)
MPOL_MODES = {"MPOL_DEFAULT": 0, "MPOL_PREFERRED": 1, "MPOL_BIND": 2, "MPOL_INTERLEAVE": 3,
              "MPOL_LOCAL": 4, "MPOL_PREFERRED_MANY": 5, "MPOL_WEIGHTED_INTERLEAVE": 6}
MPOL_FLAGS = {"MPOL_F_STATIC_NODES": 1 << 15, "MPOL_F_RELATIVE_NODES": 1 << 14,
              "MPOL_F_NUMA_BALANCING": 1 << 13}


def set_mempolicy(mode: int, nodes: set[int]) -> None:
    """Sets the NUMA memory policy of the calling thread (``mode`` with its flags or-ed in)
    to ``nodes`` (empty: no nodemask at all)."""
    if not nodes:
        _check("set_mempolicy", lib.oci_set_mempolicy(mode, ffi.NULL, 0))
        return
    bits = ffi.sizeof("unsigned long") * 8
    mask = sum(1 << node for node in nodes)
    words = [(mask >> (bits * i)) & ((1 << bits) - 1) for i in range(max(nodes) // bits + 1)]
    _check("set_mempolicy", lib.oci_set_mempolicy(mode, ffi.new("unsigned long[]", words),
                                                  len(words) * bits + 1))
