"""Namespaces (config-linux.md "Namespaces"): join those with a path, create the others."""

from __future__ import annotations

import os
from collections.abc import Callable

from . import _shim
from .errors import ConfigError

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


def enter(config: dict, join_cgroup: Callable[[], None]) -> None:
    """Moves the calling process into the container's namespaces.

    Joined namespaces are opened first (a joined mount namespace could hide the other
    paths) and entered mount-last; the cgroup is joined before a new cgroup namespace is
    made, so that the container's cgroup becomes its root.  A new PID namespace applies to
    the children of the caller only: the caller must fork the init afterwards.
    """
    entries = config.get("linux", {}).get("namespaces", [])
    joined = []
    new_flags = 0
    for index, ns in enumerate(entries):
        if ns.get("path"):
            try:
                fd = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
            except OSError as err:
                raise ConfigError(f"linux.namespaces[{index}].path: {ns['path']}: {err.strerror}") from None
            joined.append((ns["type"], fd, index))
        else:
            new_flags |= FLAGS[ns["type"]]
    joined.sort(key=lambda item: item[0] == "mount")
    for kind, fd, index in joined:
        try:
            _shim.setns(fd, FLAGS[kind])
        except OSError as err:
            raise ConfigError(f"linux.namespaces[{index}]: joining {kind} namespace: {err.strerror}") from None
        finally:
            os.close(fd)
    join_cgroup()
    if new_flags:
        _shim.unshare(new_flags)


def bring_up_loopback() -> None:
    """A new network namespace has only ``lo``, and it is down: bring it up."""
    import fcntl
    import socket
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock, siocgifflags, request))[1]
        fcntl.ioctl(sock, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))
