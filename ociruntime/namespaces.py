"""Namespaces (config-linux.md "Namespaces"): join those with a path, create the others."""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing and collections.abc cost ms at every call's start
if TYPE_CHECKING:
    from collections.abc import Callable

from . import _shim
from .errors import ConfigError
from .paths import write_on_procfs

FLAGS = {
    "pid": _shim.CLONE_NEWPID,
    "network": _shim.CLONE_NEWNET,
    "mount": _shim.CLONE_NEWNS,
    "ipc": _shim.CLONE_NEWIPC,
    "uts": _shim.CLONE_NEWUTS,
    "cgroup": _shim.CLONE_NEWCGROUP,
    "user": _shim.CLONE_NEWUSER,
    "time": _shim.CLONE_NEWTIME,
}


def requested(config: dict) -> dict[str, dict]:
    """Namespace type -> its config entry."""
    return {ns["type"]: ns for ns in config.get("linux", {}).get("namespaces", [])}


def enter(config: dict, join_cgroup: Callable[[], None], map_ids: Callable[[], None]) -> None:
    """Moves the calling process into the container's cgroup and namespaces.

    The cgroup comes first: a joined mount namespace may not show the host's cgroupfs, and
    a new user namespace takes away the right to write it.  Joined namespaces are opened
    before any is entered (a joined mount namespace could hide the other paths) and entered
    user-first (the others may belong to it), mount-last.  A new user namespace is made
    before the other new namespaces, so that it owns them; ``map_ids`` has the runtime
    write its ID maps while we wait.  New PID and time namespaces apply to the children of
    the caller only: the caller must fork the init afterwards.
    """
    join_cgroup()
    linux = config.get("linux", {})
    joined = []
    new_flags = 0
    for index, ns in enumerate(linux.get("namespaces", [])):
        if ns.get("path"):
            label = f"linux.namespaces[{index}]"
            joined.append((ns["type"], _open_ns(ns["path"], f"{label}.path"), label))
        else:
            new_flags |= FLAGS[ns["type"]]
    _join(joined, lambda: _check_joined_maps(linux))
    if new_flags & _shim.CLONE_NEWUSER:
        _shim.unshare(_shim.CLONE_NEWUSER)
        map_ids()
        _become_root()
    if new_flags & ~_shim.CLONE_NEWUSER:
        _shim.unshare(new_flags & ~_shim.CLONE_NEWUSER)
    if new_flags & _shim.CLONE_NEWTIME and linux.get("timeOffsets"):
        _set_time_offsets(linux["timeOffsets"])


#: namespace type -> its name under /proc/<pid>/ns
PROC_NAMES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
              "cgroup": "cgroup", "user": "user", "time": "time"}


def join_process(pid: int, config: dict) -> None:
    """Moves the caller into every namespace ``config`` lists, as process ``pid`` (the
    container's init) has them: what ``exec`` does.  As with ``enter``, the caller must
    fork afterwards for the PID and time namespaces to apply."""
    label = "the container's init"
    _join([(ns["type"], _open_ns(f"/proc/{pid}/ns/{PROC_NAMES[ns['type']]}", label), label)
           for ns in config.get("linux", {}).get("namespaces", [])], lambda: None)


def _open_ns(path: str, label: str) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise ConfigError(f"{label}: {path}: {err.strerror}") from None


def _join(joined: list[tuple[str, int, str]], check_user: Callable[[], None]) -> None:
    """setns into each (type, fd, label) and closes the fds.  All were opened before any is
    entered (a joined mount namespace could hide the other paths); user first (the others
    may belong to it, and it gives us the capabilities to join them), mount last."""
    joined = sorted(joined, key=lambda item: (item[0] != "user") + (item[0] == "mount"))
    for kind, fd, label in joined:
        try:
            _shim.setns(fd, FLAGS[kind])
        except OSError as err:
            raise ConfigError(f"{label}: joining {kind} namespace: {err.strerror}") from None
        finally:
            os.close(fd)
        if kind == "user":
            check_user()
            _become_root()


def _lines(mappings: list[dict]) -> list[tuple[int, int, int]]:
    return [(m["containerID"], m["hostID"], m["size"]) for m in mappings]


def write_id_maps(pid: int, uids: list[dict], gids: list[dict], where: str = "linux") -> None:
    """Writes the maps of the new user namespace of ``pid`` (only a process outside the
    namespace may); ``where`` is the JSON path of the mappings, for errors."""
    for name, entries in (("uid", uids), ("gid", gids)):
        text = "".join(f"{c} {h} {s}\n" for c, h, s in _lines(entries))
        if not text:
            continue
        try:
            write_on_procfs(f"/proc/{pid}/{name}_map", text)  # one write: maps go in whole
        except OSError as err:
            raise ConfigError(f"{where}.{name}Mappings: the kernel refused the map: "
                              f"{err.strerror} (overlapping or out-of-range?)") from None


def _check_joined_maps(linux: dict) -> None:
    """Mappings given with a joined user namespace cannot be applied: they must be the
    namespace's own (engines send them for their bookkeeping)."""
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        if linux.get(key):
            actual = _id_map(name)
            if actual != sorted(_lines(linux[key])):
                shown = ", ".join(" ".join(map(str, entry)) for entry in actual)
                raise ConfigError(f"linux.{key}: do not match the joined user namespace, "
                                  f"whose map is: {shown}")


def _id_map(name: str) -> list[tuple[int, ...]]:
    with open(f"/proc/self/{name}") as f:
        return sorted(tuple(map(int, line.split())) for line in f)


def _become_root() -> None:
    """Root of the (new or joined) user namespace, so that what we create is owned by its
    root; without a root in its maps, the process keeps the namespace's capabilities."""
    if all(any(inside == 0 for inside, _, _ in _id_map(name)) for name in ("uid_map", "gid_map")):
        os.setgroups([])
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)


def _set_time_offsets(offsets: dict) -> None:
    """linux.timeOffsets, written before any process lives in the new time namespace."""
    text = "".join(f"{clock} {value.get('secs', 0)} {value.get('nanosecs', 0)}\n"
                   for clock, value in offsets.items())
    try:
        write_on_procfs("/proc/self/timens_offsets", text)
    except OSError as err:
        raise ConfigError(f"linux.timeOffsets: the kernel refused the offsets: {err.strerror}") from None


def bring_up_loopback() -> None:
    """A new network namespace has only ``lo``, and it is down: bring it up."""
    import _socket
    import fcntl

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    name = b"lo".ljust(16, b"\0")  # struct ifreq: ifr_name[16], then ifr_flags (short)
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        reply = fcntl.ioctl(sock, siocgifflags, name + bytes(24))
        flags = int.from_bytes(reply[16:18], sys.byteorder) | iff_up
        fcntl.ioctl(sock, siocsifflags, name + flags.to_bytes(2, sys.byteorder) + bytes(22))
    finally:
        sock.close()
