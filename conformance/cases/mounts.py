"""config.md: root and mounts (types, options, propagation, relative
destinations); config-linux.md: default filesystems, rootfs propagation."""

import os

from ..registry import case
from .common import CHECKER

# -- root -------------------------------------------------------------------------


@case("root.readonly", "config.md#root")
def _(t):
    "`root.readonly: true` makes the root filesystem read-only."
    b = t.bundle()
    t.check(b, "rofs=/", "touch=/ocic-new:30")


@case("root.writable", "config.md#root")
def _(t):
    "`root.readonly: false` (the default) leaves the root filesystem writable."
    b = t.bundle(root={"path": "rootfs", "readonly": False})
    t.check(b, "rwfs=/", "touch=/ocic-new:ok")


@case("root.is-root-path", "config.md#root")
def _(t):
    "`/` in the container is `root.path`."
    b = t.bundle()
    t.check(b, "file=/etc/hostname:rootfs", "file=/mnt/ro/data:rootfs data")


@case("root.path-absolute", "config.md#root")
def _(t):
    "`root.path` may be absolute."
    b = t.bundle()
    b.config["root"]["path"] = str(b.rootfs)
    t.check(b, "file=/etc/hostname:rootfs")


@case("root.path-relative-to-bundle", "config.md#root")
def _(t):
    "A relative `root.path` is relative to the bundle, whatever the caller's cwd."
    b = t.bundle([CHECKER, "file=/etc/hostname:rootfs"])
    t.create(b, cwd="/")
    pid = t.container_pid(b)
    t.start(b.id)
    t.wait_exit(pid)
    t.verdict(b.output(), b)


@case("root.missing-error", "config.md#root")
def _(t):
    "A `root.path` that does not exist MUST make create fail."
    b = t.bundle(["true"])
    b.config["root"]["path"] = "no-such-rootfs"
    b.write()
    t.expect_error(t.create(b, check=False), "create with a missing root.path")


# -- mounts: order, destinations, sources ------------------------------------------

def tmpfs(b, dest="/mnt/a", options=("size=1m",), **kw):
    return b.add_mount(dest, "tmpfs", type="tmpfs", options=list(options), **kw)


@case("mounts.listed-order", "config.md#mounts")
def _(t):
    "Mounts are made in the listed order: the later of two at one destination is on top."
    b = t.bundle()
    tmpfs(b, options=["size=1m"])
    tmpfs(b, options=["size=2m"])
    t.check(b, "mnt=/mnt/a:tmpfs:size=2048k")


@case("mounts.nested-order", "config.md#mounts")
def _(t):
    "A mount inside an earlier mount is made after it (its mount point created there)."
    b = t.bundle()
    tmpfs(b, options=["size=1m"])
    tmpfs(b, "/mnt/a/inner", options=["size=2m"])
    t.check(b, "mnt=/mnt/a:tmpfs:size=1024k", "mnt=/mnt/a/inner:tmpfs:size=2048k")


@case("mounts.relative-destination", "config.md#mounts")
def _(t):
    "A relative destination MUST be interpreted as relative to `/`."
    b = t.bundle()
    tmpfs(b, "mnt/a", options=["size=1m"])
    t.check(b, "mnt=/mnt/a:tmpfs")


@case("mounts.missing-destination-created", "config.md#mounts")
def _(t):
    "A destination that does not exist in the rootfs is created."
    b = t.bundle()
    tmpfs(b, "/mnt/new/deeper", options=["size=1m"])
    t.check(b, "mnt=/mnt/new/deeper:tmpfs")


@case("mounts.bind-directory", "config.md#mounts")
def _(t):
    "A bind mount (`bind` in options) shows the host directory."
    b = t.bundle()
    (b.host_dir / "hello").write_text("hi")
    b.add_mount("/mnt/a", b.host_dir, type="none", options=["bind"])
    t.check(b, "file=/mnt/a/hello:hi")


@case("mounts.bind-file", "config.md#mounts")
def _(t):
    "A bind mount of a single file."
    b = t.bundle()
    (b.host_dir / "file").write_text("file content")
    b.add_mount("/mnt/f", b.host_dir / "file", type="none", options=["rbind", "ro"])
    t.check(b, "file=/mnt/f:file content", "stat=/mnt/f:f")


@case("mounts.bind-relative-source", "config.md#mounts")
def _(t):
    "A relative bind-mount source is relative to the bundle."
    b = t.bundle()
    (b.host_dir / "hello").write_text("relative")
    b.add_mount("/mnt/a", "host", options=["rbind"])
    t.check(b, "file=/mnt/a/hello:relative")


@case("mounts.bind-without-type", "config.md#posix-platform-mounts")
def _(t):
    "`type` is optional for a bind mount."
    b = t.bundle()
    (b.host_dir / "hello").write_text("typeless")
    b.config.setdefault("mounts", []).append(
        {"destination": "/mnt/a", "source": str(b.host_dir), "options": ["rbind"]})
    t.check(b, "file=/mnt/a/hello:typeless")


@case("mounts.bind-writes-reach-host", "config.md#mounts")
def _(t):
    "A read-write bind mount shares the host directory: files written inside appear on the host."
    b = t.bundle()
    os.chmod(b.host_dir, 0o777)
    b.add_mount("/mnt/a", b.host_dir, options=["rbind", "rw"])
    t.check(b, "append=/mnt/a/written:from-inside")
    t.expect((b.host_dir / "written").read_text() == "from-inside\n", "the file is not on the host")


@case("mounts.bind-ro", "config.md#linux-mount-options")
def _(t):
    "`ro` on a bind mount makes it read-only."
    b = t.bundle()
    b.add_mount("/mnt/a", b.host_dir, options=["rbind", "ro"])
    t.check(b, "rofs=/mnt/a", "touch=/mnt/a/x:30")


@case("mounts.bind-flags", "config.md#linux-mount-options")
def _(t):
    "nosuid, nodev and noexec apply to bind mounts."
    b = t.bundle()
    b.add_mount("/mnt/a", b.host_dir, options=["rbind", "nosuid", "nodev", "noexec"])
    t.check(b, "mnt=/mnt/a:*:nosuid,nodev,noexec")


# -- filesystem types ----------------------------------------------------------------

@case("mounts.type-proc", "config.md#posix-platform-mounts")
def _(t):
    "A `proc` mount is a procfs of the container's PID namespace."
    b = t.bundle()
    t.check(b, "mnt=/proc:proc", "link=/proc/self:1")


@case("mounts.type-sysfs", "config.md#posix-platform-mounts")
def _(t):
    "A `sysfs` mount with its options."
    b = t.bundle()
    t.check(b, "mnt=/sys:sysfs:ro,nosuid,nodev,noexec")


@case("mounts.type-devpts", "config.md#posix-platform-mounts")
def _(t):
    "A `devpts` mount with its options (mode, gid, ptmxmode)."
    b = t.bundle()
    t.check(b, "mnt=/dev/pts:devpts:nosuid,noexec,gid=5,mode=620,ptmxmode=666")


@case("mounts.type-mqueue", "config.md#posix-platform-mounts")
def _(t):
    "An `mqueue` mount."
    b = t.bundle()
    t.check(b, "mnt=/dev/mqueue:mqueue:nosuid,nodev,noexec")


@case("mounts.type-tmpfs", "config.md#posix-platform-mounts")
def _(t):
    "A `tmpfs` mount with its size."
    b = t.bundle()
    tmpfs(b, options=["size=3m"])
    t.check(b, "mnt=/mnt/a:tmpfs:size=3072k", "touch=/mnt/a/x:ok")


@case("mounts.tmpfs-mode", "config.md#linux-mount-options", deviations={
    "runc": "runc 1.1.5 chmods a tmpfs mount point to the mode of the directory it covers, "
            "overriding the mode= option (755 instead of 700)"})
def _(t):
    "The `mode=` data of a tmpfs is the mode of its root directory."
    b = t.bundle()
    tmpfs(b, options=["size=1m", "mode=700"])
    t.check(b, "stat=/mnt/a:d:0700")


@case("mounts.default-filesystems", "config-linux.md#default-filesystems", "SHOULD")
def _(t):
    "/proc, /sys, /dev/pts and /dev/shm are proc, sysfs, devpts and tmpfs."
    b = t.bundle()
    t.check(b, "mnt=/proc:proc", "mnt=/sys:sysfs", "mnt=/dev/pts:devpts", "mnt=/dev/shm:tmpfs")


@case("mounts.unknown-options-are-data", "config.md#linux-mount-options", "SHOULD")
def _(t):
    "Options the runtime does not know are passed to mount(2) as data (nr_inodes here)."
    b = t.bundle()
    tmpfs(b, options=["size=1m", "nr_inodes=1234"])
    t.check(b, "mnt=/mnt/a:tmpfs:nr_inodes=1234")


@case("mounts.tmpcopyup", "config.md#linux-mount-options", "MAY")
def _(t):
    "`tmpcopyup` copies the covered directory's content into the tmpfs."
    b = t.bundle()
    tmpfs(b, "/mnt/ro", options=["size=1m", "tmpcopyup"])
    t.check(b, "mnt=/mnt/ro:tmpfs", "file=/mnt/ro/data:rootfs data")


# -- mount options (tmpfs at /mnt/a; the option's effect read back from mountinfo) ------

OPTIONS = [
    # (option list, expected in mnt check, level)
    (["ro"], "ro", "MUST"),
    (["rw"], "rw,!ro", "MUST"),
    (["nosuid"], "nosuid", "MUST"),
    (["suid"], "!nosuid", "MUST"),
    (["nodev"], "nodev", "MUST"),
    (["dev"], "!nodev", "MUST"),
    (["noexec"], "noexec", "MUST"),
    (["exec"], "!noexec", "MUST"),
    (["noatime"], "noatime", "MUST"),
    (["atime"], "!noatime", "MUST"),
    (["nodiratime"], "nodiratime", "MUST"),
    (["diratime"], "!nodiratime", "MUST"),
    (["relatime"], "relatime", "MUST"),
    (["strictatime"], "!relatime,!noatime", "MUST"),
    (["nostrictatime"], "relatime", "MUST"),
    (["sync"], "sync", "MUST"),
    (["async"], "!sync", "MUST"),
    (["dirsync"], "dirsync", "MUST"),
    (["lazytime"], "lazytime", "MUST"),
    (["nolazytime"], "!lazytime", "MUST"),
    (["defaults"], "rw,!nosuid,!nodev,!noexec", "MUST", {
        "runc": "runc 1.1.5 does not know `defaults` and passes it to mount(2) as data (EINVAL)"}),
    (["nosymfollow"], "nosymfollow", "SHOULD"),
    (["symfollow"], "!nosymfollow", "SHOULD"),
    (["noexec", "exec"], "!noexec", "MUST"),
    (["ro", "rw"], "rw,!ro", "MUST"),
]

for opts, want, level, *dev in OPTIONS:
    def _opt(t, opts=opts, want=want):
        b = t.bundle()
        tmpfs(b, options=["size=1m", *opts])
        t.check(b, f"mnt=/mnt/a:tmpfs:{want}")
    _opt.__doc__ = f"The `{','.join(opts)}` mount option{'s' if len(opts) > 1 else ''} take{'' if len(opts) > 1 else 's'} effect."
    case(f"mounts.option-{'-'.join(opts)}", "config.md#linux-mount-options", level,
         deviations=dev[0] if dev else None)(_opt)


# -- bind, rbind and recursive options (a host dir with a submount, made in a
#    private mount namespace the runtime then runs in) --------------------------------

def with_submount(t, b, extra_prepare=""):
    src = b.host_dir / "src"
    (src / "sub").mkdir(parents=True)
    (src / "top").write_text("top")
    prepare = f"mount -t tmpfs -o size=1m ocic-sub {src}/sub\necho sub > {src}/sub/file\n{extra_prepare}"
    return src, t.private_mounts(prepare)


@case("mounts.rbind-is-recursive", "config.md#linux-mount-options")
def _(t):
    "`rbind` takes the source's submounts along."
    b = t.bundle()
    src, wrap = with_submount(t, b)
    b.add_mount("/mnt/a", src, options=["rbind"])
    t.check(b, "file=/mnt/a/top:top", "file=/mnt/a/sub/file:sub", wrap=wrap)


@case("mounts.bind-is-not-recursive", "config.md#linux-mount-options")
def _(t):
    "`bind` does not take the source's submounts along."
    b = t.bundle()
    src, wrap = with_submount(t, b)
    b.add_mount("/mnt/a", src, options=["bind"])
    t.check(b, "file=/mnt/a/top:top", "absent=/mnt/a/sub/file", "nomnt=/mnt/a/sub", wrap=wrap)


RECURSIVE = [("rro", "ro"), ("rnosuid", "nosuid"), ("rnodev", "nodev"), ("rnoexec", "noexec"),
             ("rnoatime", "noatime"), ("rnosymfollow", "nosymfollow")]

for ropt, flag in RECURSIVE:
    def _rec(t, ropt=ropt, flag=flag):
        b = t.bundle()
        src, wrap = with_submount(t, b)
        b.add_mount("/mnt/a", src, options=["rbind", ropt])
        t.check(b, f"mnt=/mnt/a:*:{flag}", f"mnt=/mnt/a/sub:tmpfs:{flag}", wrap=wrap)
    _rec.__doc__ = f"`{ropt}` applies {flag} to the bind mount and its submounts."
    case(f"mounts.option-{ropt}", "config.md#linux-mount-options", "SHOULD")(_rec)


# -- propagation of bind mounts ------------------------------------------------------------

PROPAGATION = [("private", "private"), ("rprivate", "private"), ("shared", "shared"),
               ("rshared", "shared"), ("slave", "slave"), ("rslave", "slave"),
               ("unbindable", "unbindable"), ("runbindable", "unbindable")]

for opt, kind in PROPAGATION:
    def _prop(t, opt=opt, kind=kind):
        b = t.bundle()
        src = b.host_dir / "src"
        src.mkdir()
        # a shared source, so that a slave mount has a master to follow
        wrap = t.private_mounts(f"mount --bind {src} {src}\nmount --make-shared {src}", hold=True)
        b.add_mount("/mnt/a", src, options=["rbind", opt])
        t.check(b, f"prop=/mnt/a:{kind}", wrap=wrap)
    _prop.__doc__ = f"The `{opt}` option makes the bind mount {kind}."
    case(f"mounts.propagation-{opt}", "config.md#linux-mount-options")(_prop)


# -- rootfs propagation -----------------------------------------------------------------------

RUNC_ROOTFS_PROPAGATION = (
    "runc 1.1.5 applies rootfsPropagation to the mount tree before pivot_root, then makes "
    "the rootfs's parent private for pivot_root and never applies it to the new /: the "
    "container's / is private whatever the value")

for kind in ("shared", "slave", "private", "unbindable"):
    def _rootprop(t, kind=kind):
        b = t.bundle()
        b.linux["rootfsPropagation"] = kind
        # the bundle is a shared mount in the runtime's namespace, so that a
        # slave rootfs has a master (the host here has no shared mounts)
        wrap = t.private_mounts(f"mount --bind {b.path} {b.path}\nmount --make-shared {b.path}",
                                hold=True)
        t.check(b, f"prop=/:{kind}", wrap=wrap)
    _rootprop.__doc__ = f"`rootfsPropagation: {kind}` makes the container's / {kind}."
    case(f"mounts.rootfs-propagation-{kind}", "config-linux.md#rootfs-mount-propagation",
         deviations=None if kind == "private" else {"runc": RUNC_ROOTFS_PROPAGATION})(_rootprop)
