"""The container's filesystem: mounts, devices, pivot_root, masked and read-only paths.

Runs in the init, in the container's new mount namespace.  ``prepare`` works before
``pivot_root`` (host paths are still visible, every rootfs path is resolved with
``paths.open_in_root``); ``finish`` works after it, inside the container's root.
"""

from __future__ import annotations

import os
import stat

from . import _shim
from .errors import ConfigError
from .paths import ensure_in_root, fd_path, is_directory, open_in_root, write_on_procfs
from .security.lsm import mount_label_option

# option -> (flag, set it?)
MOUNT_FLAGS = {
    "ro": (_shim.MS_RDONLY, True), "rw": (_shim.MS_RDONLY, False),
    "nosuid": (_shim.MS_NOSUID, True), "suid": (_shim.MS_NOSUID, False),
    "nodev": (_shim.MS_NODEV, True), "dev": (_shim.MS_NODEV, False),
    "noexec": (_shim.MS_NOEXEC, True), "exec": (_shim.MS_NOEXEC, False),
    "sync": (_shim.MS_SYNCHRONOUS, True), "async": (_shim.MS_SYNCHRONOUS, False),
    "dirsync": (_shim.MS_DIRSYNC, True),
    "remount": (_shim.MS_REMOUNT, True),
    "mand": (_shim.MS_MANDLOCK, True), "nomand": (_shim.MS_MANDLOCK, False),
    "noatime": (_shim.MS_NOATIME, True), "atime": (_shim.MS_NOATIME, False),
    "nodiratime": (_shim.MS_NODIRATIME, True), "diratime": (_shim.MS_NODIRATIME, False),
    "relatime": (_shim.MS_RELATIME, True), "norelatime": (_shim.MS_RELATIME, False),
    "strictatime": (_shim.MS_STRICTATIME, True), "nostrictatime": (_shim.MS_STRICTATIME, False),
    "lazytime": (_shim.MS_LAZYTIME, True), "nolazytime": (_shim.MS_LAZYTIME, False),
    "nosymfollow": (_shim.MS_NOSYMFOLLOW, True), "symfollow": (_shim.MS_NOSYMFOLLOW, False),
    "silent": (_shim.MS_SILENT, True), "loud": (_shim.MS_SILENT, False),
    "bind": (_shim.MS_BIND, True), "rbind": (_shim.MS_BIND | _shim.MS_REC, True),
    "defaults": (0, True),
}
# recursive option -> (mount_setattr attr_set, attr_clr), applied to the whole mount tree
RECURSIVE_FLAGS = {
    "rro": (_shim.MOUNT_ATTR_RDONLY, 0), "rrw": (0, _shim.MOUNT_ATTR_RDONLY),
    "rnosuid": (_shim.MOUNT_ATTR_NOSUID, 0), "rsuid": (0, _shim.MOUNT_ATTR_NOSUID),
    "rnodev": (_shim.MOUNT_ATTR_NODEV, 0), "rdev": (0, _shim.MOUNT_ATTR_NODEV),
    "rnoexec": (_shim.MOUNT_ATTR_NOEXEC, 0), "rexec": (0, _shim.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (_shim.MOUNT_ATTR_NODIRATIME, 0), "rdiratime": (0, _shim.MOUNT_ATTR_NODIRATIME),
    "rrelatime": (_shim.MOUNT_ATTR_RELATIME, _shim.MOUNT_ATTR__ATIME),
    "rnoatime": (_shim.MOUNT_ATTR_NOATIME, _shim.MOUNT_ATTR__ATIME),
    "rstrictatime": (_shim.MOUNT_ATTR_STRICTATIME, _shim.MOUNT_ATTR__ATIME),
    "rnosymfollow": (_shim.MOUNT_ATTR_NOSYMFOLLOW, 0), "rsymfollow": (0, _shim.MOUNT_ATTR_NOSYMFOLLOW),
}
PROPAGATION = {
    "private": _shim.MS_PRIVATE, "shared": _shim.MS_SHARED, "slave": _shim.MS_SLAVE,
    "unbindable": _shim.MS_UNBINDABLE,
    "rprivate": _shim.MS_PRIVATE | _shim.MS_REC, "rshared": _shim.MS_SHARED | _shim.MS_REC,
    "rslave": _shim.MS_SLAVE | _shim.MS_REC, "runbindable": _shim.MS_UNBINDABLE | _shim.MS_REC,
}
# flags a bind remount must keep, read back with statvfs (ST_* -> MS_*)
_KEPT_FLAGS = {
    os.ST_RDONLY: _shim.MS_RDONLY, os.ST_NOSUID: _shim.MS_NOSUID, os.ST_NODEV: _shim.MS_NODEV,
    os.ST_NOEXEC: _shim.MS_NOEXEC, os.ST_NOATIME: _shim.MS_NOATIME,
    os.ST_NODIRATIME: _shim.MS_NODIRATIME, os.ST_RELATIME: _shim.MS_RELATIME,
}
#: idmapped mount options (config.md): never passed to mount(2)
IDMAP_OPTIONS = ("idmap", "ridmap")
# (name, major, minor): the devices the spec says every container has
DEFAULT_DEVICES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
                   ("urandom", 1, 9), ("tty", 5, 0)]
DEV_LINKS = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
             ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore")]
_DEVICE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


class MountOptions:
    """A mount's ``options`` sorted into what each system call needs."""

    def __init__(self, options: list[str]):
        self.flags = self.propagation = self.attr_set = self.attr_clr = 0
        #: "idmap", "ridmap" (the last one given) or None
        self.idmap: str | None = None
        #: tmpcopyup: a new tmpfs starts with a copy of the directory it covers
        self.copy_up = False
        data = []
        for option in options:
            if option in IDMAP_OPTIONS:
                self.idmap = option
            elif option == "tmpcopyup":
                self.copy_up = True
            elif option in MOUNT_FLAGS:
                flag, on = MOUNT_FLAGS[option]
                self.flags = self.flags | flag if on else self.flags & ~flag
            elif option in PROPAGATION:
                self.propagation = PROPAGATION[option]
            elif option in RECURSIVE_FLAGS:
                attr_set, attr_clr = RECURSIVE_FLAGS[option]
                self.attr_set = (self.attr_set & ~attr_clr) | attr_set
                self.attr_clr = (self.attr_clr & ~attr_set) | attr_clr
            else:
                data.append(option)
        #: filesystem-specific options, passed to mount(2) as its data string
        self.data = ",".join(data)


def is_bind(mount: dict) -> bool:
    return mount.get("type") == "bind" or bool(set(mount.get("options", [])) & {"bind", "rbind"})


def _kept_flags(path_or_fd) -> int:
    vfs = os.statvfs(path_or_fd)
    return sum(ms for st, ms in _KEPT_FLAGS.items() if vfs.f_flag & st)


def _remount_bind(target: str, flags: int) -> None:
    """Changes a bind mount's flags, keeping the ones it already has (the kernel refuses to
    drop locked flags such as nosuid inherited from the source)."""
    _shim.mount(None, target, None, _shim.MS_REMOUNT | _shim.MS_BIND | flags | _kept_flags(target))


class RootfsBuilder:
    """Builds one container's filesystem; keeps an O_PATH fd to the rootfs while it does.
    ``idmapped_trees`` maps the index of an idmapped mount to the detached tree the runtime
    prepared for it (see idmap.py); each is attached where its bind mount would be."""

    def __init__(self, config: dict, bundle: str, rootfs: str, cgroup_sources: list[tuple[str, str]],
                 user_namespace: bool = False, idmapped_trees: dict[int, int] | None = None):
        self.config = config
        #: in a user namespace devices cannot be made (mknod), only bind-mounted from the host
        self.user_namespace = user_namespace
        self.bundle = bundle
        self.rootfs = rootfs
        self.cgroup_sources = cgroup_sources
        self.idmapped_trees = idmapped_trees or {}
        self.root_fd = -1

    # -- before pivot_root -------------------------------------------------------------
    def prepare(self, own_mount_namespace: bool) -> None:
        """Propagation, the rootfs bind mount, every configured mount, the devices.
        Without a mount namespace of its own the container shares the caller's mounts:
        their propagation is left alone, and the rootfs is bound onto itself only when it
        must become read-only (otherwise it is chroot'ed as it is)."""
        linux = self.config.get("linux", {})
        if own_mount_namespace:
            # our mounts must not reach the host: everything slave first (runc's default);
            # linux.rootfsPropagation is applied to the container's "/" after pivot_root
            _shim.mount(None, "/", None, _shim.MS_SLAVE | _shim.MS_REC)
        if own_mount_namespace or self.config["root"].get("readonly"):
            _shim.mount(self.rootfs, self.rootfs, None, _shim.MS_BIND | _shim.MS_REC)
        self.root_fd = os.open(self.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        mounts = self.config.get("mounts", [])
        for index, mount in enumerate(mounts):
            try:
                self._mount(mount, self.idmapped_trees.pop(index, None))
            except OSError as err:
                raise ConfigError(f"mounts[{index}]: mounting {mount.get('type') or 'bind'} on "
                                  f"{mount['destination']}: {err.strerror or err}") from None
        if not any(m["destination"].rstrip("/") == "/dev" and is_bind(m) for m in mounts):
            self._create_devices(linux.get("devices", []))

    def _mount(self, mount: dict, idmapped_tree: int | None) -> None:
        options = MountOptions(mount.get("options", []))
        flags, propagation, data = options.flags, options.propagation, options.data
        kind = mount.get("type")
        destination = mount["destination"]
        if kind == "cgroup":
            self._mount_cgroup(destination, flags, data)
        elif is_bind(mount):
            if data:
                raise OSError(0, f"unknown option(s) for a bind mount: {data}")
            source = os.path.join(self.bundle, mount["source"])
            fd = ensure_in_root(self.root_fd, destination, os.path.isdir(source))
            try:
                if idmapped_tree is None:
                    _shim.mount(source, fd_path(fd), None, _shim.MS_BIND | (flags & _shim.MS_REC))
                else:
                    _shim.move_mount(idmapped_tree, fd)
            finally:
                os.close(fd)
                if idmapped_tree is not None:
                    os.close(idmapped_tree)
            extra = flags & ~(_shim.MS_BIND | _shim.MS_REC)
            if extra:
                self._at(destination, lambda target: _remount_bind(target, extra))
        else:
            fd = self._directory_for(destination, kind)
            data = ",".join(filter(None, [data, mount_label_option(self.config, kind)]))
            covered = -1
            try:
                if options.copy_up:
                    if kind != "tmpfs":
                        raise OSError(0, "tmpcopyup applies to tmpfs mounts only")
                    covered = os.open(fd_path(fd), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                _shim.mount(mount.get("source") or kind, fd_path(fd), kind, flags, data or None)
                if covered >= 0:
                    self._at(destination, lambda target: _copy_up(covered, target))
            except PermissionError:
                if kind != "sysfs" or not self.user_namespace:
                    raise
                # sysfs needs a network namespace the user namespace owns; without one,
                # the host's /sys is bound instead (runc does the same)
                _shim.mount("/sys", fd_path(fd), None, _shim.MS_BIND | _shim.MS_REC)
                self._at(destination, lambda target: _remount_bind(target, flags))
            finally:
                os.close(fd)
                if covered >= 0:
                    os.close(covered)
        if options.attr_set or options.attr_clr:
            self._at(destination, lambda target: _shim.mount_setattr(target, options.attr_set,
                                                                     options.attr_clr))
        if propagation:
            self._at(destination, lambda target: _shim.mount(None, target, None, propagation))

    def _directory_for(self, destination: str, kind: str | None) -> int:
        fd = ensure_in_root(self.root_fd, destination, True)
        if kind in ("proc", "sysfs") and not self._resolves_without_symlinks(destination):
            os.close(fd)
            raise OSError(0, f"{kind} must be mounted on a directory reached without symlinks")
        return fd

    def _resolves_without_symlinks(self, destination: str) -> bool:
        try:
            os.close(open_in_root(self.root_fd, destination, resolve=0x04))  # RESOLVE_NO_SYMLINKS
            return True
        except OSError:
            return False

    def _at(self, destination: str, action) -> None:
        """Runs ``action(target)`` on what is now mounted at ``destination`` (re-resolved:
        an fd opened before a mount refers to the covered directory, not the new mount)."""
        fd = open_in_root(self.root_fd, destination)
        try:
            action(fd_path(fd))
        finally:
            os.close(fd)

    def _mount_cgroup(self, destination: str, flags: int, data: str) -> None:
        """The container's own cgroups, bind-mounted from the host: on v1 one directory per
        hierarchy under a tmpfs, on v2 the cgroup directory itself."""
        sources = self.cgroup_sources
        hierarchies = len(sources) > 1 or bool(sources and sources[0][0])
        if hierarchies:
            fd = ensure_in_root(self.root_fd, destination, True)
            try:
                _shim.mount("tmpfs", fd_path(fd), "tmpfs",
                            flags & ~_shim.MS_RDONLY, ",".join(filter(None, ["mode=755", data])))
            finally:
                os.close(fd)
        for name, host_path in sources:
            target = os.path.join(destination, name) if name else destination
            fd = ensure_in_root(self.root_fd, target, True)
            try:
                _shim.mount(host_path, fd_path(fd), None, _shim.MS_BIND | _shim.MS_REC)
            finally:
                os.close(fd)
            self._at(target, lambda t: _remount_bind(t, flags & ~_shim.MS_REC))
        if hierarchies and flags & _shim.MS_RDONLY:
            self._at(destination, lambda t: _shim.mount(None, t, None, _shim.MS_REMOUNT | flags))

    def _create_devices(self, devices: list[dict]) -> None:
        """The default devices, then ``linux.devices``, then the /dev symlinks."""
        wanted = [{"path": f"/dev/{name}", "type": "c", "major": major, "minor": minor,
                   "fileMode": 0o666, "uid": 0, "gid": 0} for name, major, minor in DEFAULT_DEVICES]
        for index, device in enumerate([*wanted, *devices]):
            configured = index >= len(wanted)
            try:
                self._make_node(device, replace=not configured)
            except OSError as err:
                where = f"linux.devices[{index - len(wanted)}]" if configured else "default devices"
                raise ConfigError(f"{where}: creating {device['path']}: {err.strerror or err}") from None
        dev_fd = ensure_in_root(self.root_fd, "/dev", True)
        try:
            for name, target in DEV_LINKS:
                try:
                    os.symlink(target, name, dir_fd=dev_fd)
                except FileExistsError:
                    pass
        finally:
            os.close(dev_fd)

    def _make_node(self, device: dict, replace: bool) -> None:
        """mknod, owned as asked.  Something already at the path is replaced for the default
        devices; for ``linux.devices`` the spec wants an error unless it is that very device."""
        parent, _, name = device["path"].rpartition("/")
        parent_fd = ensure_in_root(self.root_fd, parent, True)
        kind = _DEVICE_TYPES[device["type"]]
        number = 0 if kind == stat.S_IFIFO else os.makedev(device["major"], device["minor"])
        try:
            try:
                existing = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
            except FileNotFoundError:
                existing = None
            if existing is not None:
                if stat.S_IFMT(existing.st_mode) == kind and existing.st_rdev == number:
                    return
                if not replace:
                    raise OSError(0, "a different file already exists there")
                os.unlink(name, dir_fd=parent_fd)
            if self.user_namespace and kind != stat.S_IFIFO:
                _bind_host_device(device["path"], kind, number, name, parent_fd)
                return
            os.mknod(name, kind | (device.get("fileMode") or 0o666) & 0o7777, number, dir_fd=parent_fd)
            os.chown(name, device.get("uid", 0), device.get("gid", 0), dir_fd=parent_fd,
                     follow_symlinks=False)
        finally:
            os.close(parent_fd)

    def make_cwd(self, cwd: str) -> None:
        """The process's cwd exists in the container, created if missing (as runc)."""
        os.close(ensure_in_root(self.root_fd, cwd, True))

    # -- the switch --------------------------------------------------------------------
    def pivot(self, no_pivot: bool, own_mount_namespace: bool) -> None:
        """Makes the rootfs the container's "/"; the host's root becomes unreachable.

        Without a mount namespace of its own the container shares the host's mounts, where
        pivot_root would move the root of every host process: only chroot is safe (runc's
        rule too)."""
        old_root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        os.fchdir(self.root_fd)
        os.close(self.root_fd)
        self.root_fd = -1
        try:
            if not own_mount_namespace:
                os.chroot(".")
            elif no_pivot:
                _shim.mount(".", "/", None, _shim.MS_MOVE)
                os.chroot(".")
            else:
                _shim.pivot_root(".", ".")
                # the old root is now stacked on "/": from inside it, make its unmount stay
                # out of the host, then detach it (from the new root, "." would be the
                # container's own tree)
                os.fchdir(old_root)
                _shim.mount(None, ".", None, _shim.MS_SLAVE | _shim.MS_REC)
                _shim.umount2(".", _shim.MNT_DETACH)
        finally:
            os.close(old_root)
        os.chdir("/")

    # -- after pivot_root --------------------------------------------------------------
    def finish(self) -> None:
        """Root propagation, sysctls, read-only and masked paths, read-only root (runc's order)."""
        linux = self.config.get("linux", {})
        if linux.get("rootfsPropagation"):
            _shim.mount(None, "/", None, PROPAGATION[linux["rootfsPropagation"]])
        for key, value in (linux.get("sysctl") or {}).items():
            write_sysctl(key, value)
        for path in linux.get("readonlyPaths") or []:
            readonly_path(path)
        masked = linux.get("maskedPaths") or []
        if masked:
            mask_paths(masked)
        if self.config["root"].get("readonly"):
            _remount_bind("/", _shim.MS_RDONLY)


def _copy_up(source_fd: int, target: str) -> None:
    """tmpcopyup: the covered directory's tree, with modes and owners, into the new tmpfs
    (through fds only: the rootfs's symlinks are copied, never followed)."""
    target_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _copy_tree(source_fd, target_fd)
        st = os.fstat(source_fd)
        os.chown(target_fd, st.st_uid, st.st_gid)
        os.chmod(target_fd, stat.S_IMODE(st.st_mode))
    finally:
        os.close(target_fd)


def _copy_tree(source_fd: int, target_fd: int) -> None:
    nofollow = os.O_NOFOLLOW | os.O_CLOEXEC
    for entry in os.scandir(source_fd):
        st = entry.stat(follow_symlinks=False)
        name, mode = entry.name, stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, 0o700, dir_fd=target_fd)
            inner_source = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=source_fd)
            inner_target = os.open(name, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=target_fd)
            try:
                _copy_tree(inner_source, inner_target)
            finally:
                os.close(inner_source)
                os.close(inner_target)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=source_fd), name, dir_fd=target_fd)
        elif stat.S_ISREG(st.st_mode):
            src = os.open(name, os.O_RDONLY | nofollow, dir_fd=source_fd)
            dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | nofollow, 0o600, dir_fd=target_fd)
            try:
                while os.sendfile(dst, src, None, 1 << 20) > 0:
                    pass
            finally:
                os.close(src)
                os.close(dst)
        else:  # fifos, sockets, device nodes: recreated, not copied
            os.mknod(name, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=target_fd)
        os.chown(name, st.st_uid, st.st_gid, dir_fd=target_fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, mode, dir_fd=target_fd)


def _bind_host_device(host_path: str, kind: int, number: int, name: str, parent_fd: int) -> None:
    """The host's node at the same path, bind-mounted over an empty file (runc's way in a
    user namespace); it must be the very device asked for.  Mode and owner stay the host's."""
    try:
        st = os.stat(host_path)
    except OSError as err:
        raise OSError(0, f"the host has no {host_path} to bind-mount ({err.strerror}), "
                         "and devices cannot be created in a user namespace") from None
    if stat.S_IFMT(st.st_mode) != kind or st.st_rdev != number:
        raise OSError(0, f"the host's {host_path} is another device; in a user namespace "
                         "devices can only be bind-mounted from the host's same path")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    os.close(os.open(name, flags, 0o600, dir_fd=parent_fd))
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        _shim.mount(host_path, fd_path(fd), None, _shim.MS_BIND)
    finally:
        os.close(fd)


def write_sysctl(key: str, value: str) -> None:
    try:
        write_on_procfs("/proc/sys/" + key.replace(".", "/"), str(value))
    except OSError as err:
        raise ConfigError(f"linux.sysctl: {key}: {err.strerror}") from None


def readonly_path(path: str) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        _shim.mount(fd_path(fd), fd_path(fd), None, _shim.MS_BIND | _shim.MS_REC)
    finally:
        os.close(fd)
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        _remount_bind(fd_path(fd), _shim.MS_RDONLY)
    finally:
        os.close(fd)


def mask_paths(paths: list[str]) -> None:
    """Files are covered with /dev/null (checked to be the real 1:3 char device, not
    something the container put there), directories with an empty read-only tmpfs."""
    null_fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(null_fd)
        if not stat.S_ISCHR(st.st_mode) or st.st_rdev != os.makedev(1, 3):
            raise ConfigError("linux.maskedPaths: /dev/null in the container is not the null device")
        for path in paths:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if is_directory(fd):
                    _shim.mount("tmpfs", fd_path(fd), "tmpfs", _shim.MS_RDONLY, None)
                else:
                    _shim.mount(fd_path(null_fd), fd_path(fd), None, _shim.MS_BIND)
            except OSError as err:
                raise ConfigError(f"linux.maskedPaths: {path}: {err.strerror}") from None
            finally:
                os.close(fd)
    finally:
        os.close(null_fd)
