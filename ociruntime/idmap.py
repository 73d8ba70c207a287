"""Idmapped bind mounts (config.md "Mounts": ``uidMappings``/``gidMappings``, ``idmap`` and
``ridmap``), prepared by the runtime on the host side.

MOUNT_ATTR_IDMAP needs CAP_SYS_ADMIN in the user namespace that owns the source's
filesystem (the host's), which the container's init may no longer have.  So the runtime
clones each source into a detached mount tree, idmaps it here, and hands the close-on-exec
fds to the init (through the fork), which attaches them with move_mount where the bind
mount would otherwise be made (rootfs.py).
"""

from __future__ import annotations

import errno
import os
import _signal

from . import _shim
from .errors import ConfigError, NotSupportedError, OCIError
from .namespaces import write_id_maps
from .rootfs import MountOptions


def kind(mount: dict) -> str | None:
    """"idmap", "ridmap" or None.  Mappings without either option still apply, to the top
    mount only: the spec's SHOULD for the option is there so that older runtimes fail."""
    option = MountOptions(mount.get("options", [])).idmap
    return option or ("idmap" if mount.get("uidMappings") or mount.get("gidMappings") else None)


def mappings(index: int, mount: dict, config: dict) -> tuple[str, list[dict], list[dict]]:
    """(JSON path, uid mappings, gid mappings) of an idmapped mount: its own, else those of
    the container's user namespace (config.md allows that for the options alone)."""
    if mount.get("uidMappings") or mount.get("gidMappings"):
        return f"mounts[{index}]", mount.get("uidMappings") or [], mount.get("gidMappings") or []
    linux = config.get("linux") or {}
    return "linux", linux.get("uidMappings") or [], linux.get("gidMappings") or []


def detached_trees(config: dict, bundle: str) -> dict[int, int]:
    """For every idmapped mount, its index -> an fd of the idmapped, detached copy of its
    source.  support.py checked the mounts; the caller closes the fds."""
    trees: dict[int, int] = {}
    namespaces: dict[tuple, int] = {}  # mounts with the same mappings share a namespace
    try:
        for index, mount in enumerate(config.get("mounts") or []):
            option = kind(mount)
            if option is None:
                continue
            where, uids, gids = mappings(index, mount, config)
            key = (repr(uids), repr(gids))
            if key not in namespaces:
                namespaces[key] = user_namespace(where, uids, gids)
            trees[index] = _idmapped_tree(index, mount, bundle, namespaces[key],
                                          option == "ridmap")
    except BaseException:
        for fd in trees.values():
            os.close(fd)
        raise
    finally:
        for fd in namespaces.values():
            os.close(fd)
    return trees


def _idmapped_tree(index: int, mount: dict, bundle: str, userns_fd: int, recursive: bool) -> int:
    source = os.path.join(bundle, mount["source"])
    rbind = bool(MountOptions(mount.get("options", [])).flags & _shim.MS_REC)
    try:
        tree = _shim.open_tree(source, rbind)
    except OSError as err:
        raise ConfigError(f"mounts[{index}].source: {source}: {err.strerror}") from None
    try:
        _shim.mount_setattr(tree, _shim.MOUNT_ATTR_IDMAP, recursive=recursive and rbind,
                            userns_fd=userns_fd)
    except OSError as err:
        os.close(tree)
        if err.errno == errno.EINVAL:
            raise NotSupportedError(f"mounts[{index}]: {source}: filesystem "
                                    f"{_filesystems(source, recursive and rbind)} does not "
                                    "support idmapped mounts") from None
        raise ConfigError(f"mounts[{index}]: idmapping {source}: {err.strerror}") from None
    return tree


def _filesystems(source: str, recursive: bool) -> str:
    """The type of the filesystem at ``source`` (with ``recursive``, also of those mounted
    below it), for the error message."""
    from .mountinfo import mounts

    path = os.path.realpath(source)
    table = mounts()
    top = max((m for m in table if _is_under(path, m.mount_point)), key=lambda m: len(m.mount_point))
    types = [top.fstype]
    if recursive:
        types += [m.fstype for m in table if m.mount_point != path and _is_under(m.mount_point, path)]
    return "/".join(dict.fromkeys(types))


def _is_under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def user_namespace(where: str, uids: list[dict], gids: list[dict]) -> int:
    """An fd of a new user namespace with these mappings ("containerID hostID size", as the
    kernel's uid_map), made by a short-lived child: it unshares, we write its maps, open
    its namespace, then kill and reap it."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        try:
            _shim.prctl(_shim.PR_SET_PDEATHSIG, _signal.SIGKILL)
            _shim.unshare(_shim.CLONE_NEWUSER)
            os.write(ready_w, b"u")
            while True:
                _signal.pause()
        finally:
            os._exit(1)
    os.close(ready_w)
    try:
        if os.read(ready_r, 1) != b"u":
            raise OCIError(f"{where}: could not create a user namespace for idmapped mounts")
        write_id_maps(pid, uids, gids, where)
        return os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(ready_r)
        os.kill(pid, _signal.SIGKILL)
        os.waitpid(pid, 0)
