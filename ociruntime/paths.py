"""Resolving paths inside the container's rootfs without ever leaving it.

The rootfs is untrusted: any component may be a symlink to a host path.  Every lookup goes
through ``openat2(RESOLVE_IN_ROOT)``, which makes the kernel treat the rootfs as "/" for
``..`` and absolute symlinks, and the resulting O_PATH fd (never the string path) is what
mounts target, via its ``/proc/self/fd/N`` magic link.
"""

from __future__ import annotations

import os
import stat

from . import _shim

_RESOLVE = _shim.RESOLVE_IN_ROOT | _shim.RESOLVE_NO_MAGICLINKS


def open_in_root(root_fd: int, path: str, flags: int = os.O_PATH, resolve: int = 0) -> int:
    """An fd for ``path`` (absolute or not) resolved as if ``root_fd`` were "/"."""
    return _shim.openat2(root_fd, path.lstrip("/") or ".", flags, 0, _RESOLVE | resolve)


def ensure_in_root(root_fd: int, path: str, directory: bool, mode: int = 0o755) -> int:
    """Like ``open_in_root``, first creating the missing path (parents as directories, the
    last component as a directory or an empty file)."""
    relative = path.strip("/")
    try:
        return open_in_root(root_fd, relative)
    except FileNotFoundError:
        pass
    parent, _, name = relative.rpartition("/")
    parent_fd = ensure_in_root(root_fd, parent, True, 0o755)
    try:
        if directory:
            os.mkdir(name, mode, dir_fd=parent_fd)
        else:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open(name, flags, 0o644, dir_fd=parent_fd))
    except FileExistsError:
        pass
    finally:
        os.close(parent_fd)
    return open_in_root(root_fd, relative)


def fd_path(fd: int) -> str:
    """The magic link through which mount(2) and friends reach the object behind ``fd``."""
    return f"/proc/self/fd/{fd}"


def is_directory(fd: int) -> bool:
    return stat.S_ISDIR(os.fstat(fd).st_mode)


_PROC_SUPER_MAGIC = 0x9FA0


def write_on_procfs(path: str, value: str) -> None:
    """Writes a /proc file after checking the handle really is procfs (a container could
    have mounted something else there).  OSError on failure, strerror set either way."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if _shim.fstatfs_type(fd) != _PROC_SUPER_MAGIC:
            raise OSError(0, f"{path} is not on procfs")
        os.write(fd, value.encode())
    finally:
        os.close(fd)
