"""config-linux.md: devices, default devices, the allowed device list (device
cgroup); runtime-linux.md: /dev symbolic links; masked and readonly paths;
sysctl."""

import os

from ..registry import case


def dev_bundle(t, *devices):
    b = t.bundle()
    b.linux["devices"] = list(devices)
    return b.write()


@case("devices.char", "config-linux.md#devices")
def _(t):
    "A `c` device is created at `path` with its major and minor numbers."
    b = dev_bundle(t, {"path": "/dev/ocic-null", "type": "c", "major": 1, "minor": 3})
    t.check(b, "stat=/dev/ocic-null:c:*:*:*:1:3")


@case("devices.block", "config-linux.md#devices")
def _(t):
    "A `b` device is created as a block device."
    b = dev_bundle(t, {"path": "/dev/ocic-loop", "type": "b", "major": 7, "minor": 0})
    t.check(b, "stat=/dev/ocic-loop:b:*:*:*:7:0")


@case("devices.fifo", "config-linux.md#devices")
def _(t):
    "A `p` device is created as a FIFO."
    b = dev_bundle(t, {"path": "/dev/ocic-fifo", "type": "p"})
    t.check(b, "stat=/dev/ocic-fifo:p")


@case("devices.unbuffered-char", "config-linux.md#devices")
def _(t):
    "A `u` (unbuffered character) device is a character device."
    b = dev_bundle(t, {"path": "/dev/ocic-zero", "type": "u", "major": 1, "minor": 5})
    t.check(b, "stat=/dev/ocic-zero:c:*:*:*:1:5")


@case("devices.file-mode", "config-linux.md#devices")
def _(t):
    "`fileMode` is the device node's mode."
    b = dev_bundle(t, {"path": "/dev/ocic-null", "type": "c", "major": 1, "minor": 3,
                       "fileMode": 0o640})
    t.check(b, "stat=/dev/ocic-null:c:0640")


@case("devices.owner", "config-linux.md#devices")
def _(t):
    "`uid` and `gid` own the device node."
    b = dev_bundle(t, {"path": "/dev/ocic-null", "type": "c", "major": 1, "minor": 3,
                       "uid": 1000, "gid": 100})
    t.check(b, "stat=/dev/ocic-null:c:*:1000:100")


@case("devices.outside-dev", "config-linux.md#devices")
def _(t):
    "A device path may be outside /dev."
    b = dev_bundle(t, {"path": "/mnt/ocic-null", "type": "c", "major": 1, "minor": 3})
    t.check(b, "stat=/mnt/ocic-null:c:*:*:*:1:3")


@case("devices.usable", "config-linux.md#devices")
def _(t):
    "A listed device is available: it can be opened and read."
    b = dev_bundle(t, {"path": "/dev/ocic-zero", "type": "c", "major": 1, "minor": 5})
    t.check(b, "open=/dev/ocic-zero:r:ok")


@case("devices.existing-file-mismatch-error", "config-linux.md#devices", deviations={
    "runc": "runc 1.1.5 replaces a file at a device's path (it bind-mounts or mknods over it) "
            "instead of reporting an error",
    "crun": "crun 1.8.1 replaces a file at a device's path instead of reporting an error"})
def _(t):
    "A file already at `path` that is not the requested device MUST make create fail."
    b = dev_bundle(t, {"path": "/mnt/f", "type": "c", "major": 1, "minor": 3})
    b.set_args("true")
    res = t.create(b, check=False)
    t.expect_error(res, "create with a device over a regular file")


# -- default devices ---------------------------------------------------------------

DEFAULTS = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
            ("urandom", 1, 9), ("tty", 5, 0)]

for name, major, minor in DEFAULTS:
    def _default(t, name=name, major=major, minor=minor):
        b = t.bundle()
        t.check(b, f"stat=/dev/{name}:c:*:*:*:{major}:{minor}")
    _default.__doc__ = f"/dev/{name} ({major}:{minor}) is supplied."
    case(f"devices.default-{name}", "config-linux.md#default-devices")(_default)


@case("devices.default-ptmx", "config-linux.md#default-devices")
def _(t):
    "/dev/ptmx is a symlink to, or bind mount of, the container's /dev/pts/ptmx."
    b = t.bundle()
    out = t.sh(b, "if [ -L /dev/ptmx ]; then readlink /dev/ptmx; else "
                  "stat -c '%t:%T' /dev/ptmx; grep ' /dev/ptmx ' /proc/self/mountinfo | cut -d' ' -f4; fi")
    lines = out.split()
    t.expect(lines and (lines[0] in ("pts/ptmx", "/dev/pts/ptmx")
                        or (lines[0] == "5:2" and len(lines) > 1 and lines[1] == "/ptmx")),
             f"/dev/ptmx is {out.strip()!r}")


@case("devices.default-usable", "config-linux.md#default-devices")
def _(t):
    "The default devices work: /dev/null, /dev/zero, /dev/full, /dev/urandom open read-write."
    b = t.bundle()
    t.check(b, "open=/dev/null:rw:ok", "open=/dev/zero:rw:ok", "open=/dev/full:rw:ok",
            "open=/dev/urandom:r:ok")


# -- /dev symbolic links ------------------------------------------------------------

for dest, src in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                  ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
    def _link(t, dest=dest, src=src):
        t.check(t.bundle(), f"link=/dev/{dest}:{src}")
    _link.__doc__ = f"/dev/{dest} is a symlink to {src}."
    case(f"devices.symlink-{dest}", "runtime-linux.md#dev-symbolic-links")(_link)


# -- the allowed device list (device cgroup) ------------------------------------------
# The rootfs of the bundle gets a node for /dev/loop0 (b 7:0), which no runtime
# allows by default; opening it for reading is harmless.  An access the device
# cgroup lets through either opens or fails with ENXIO (no loop driver);
# a denied one fails with EPERM.
ALLOWED = "ok,6"

def devcg_bundle(t, *rules):
    b = t.bundle()
    if os.statvfs(b.rootfs).f_flag & os.ST_NODEV:
        t.skip("the run directory's filesystem is mounted nodev: device nodes of the rootfs "
               "cannot be opened whatever the device cgroup says (use --workdir elsewhere)")
    os.mknod(b.rootfs / "mnt" / "ocic-loop", 0o600 | 0o060000, os.makedev(7, 0))
    b.linux.setdefault("resources", {})["devices"] = list(rules)
    return b.write()


DENY_ALL = {"allow": False, "access": "rwm"}


@case("devcg.deny-all", "config-linux.md#allowed-device-list")
def _(t):
    "A deny-all rule denies a device that no later rule allows."
    b = devcg_bundle(t, DENY_ALL)
    t.check(b, "open=/mnt/ocic-loop:r:1")


@case("devcg.allow-one", "config-linux.md#allowed-device-list")
def _(t):
    "An allow rule for one device and access grants exactly that access."
    b = devcg_bundle(t, DENY_ALL, {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "r"})
    t.check(b, f"open=/mnt/ocic-loop:r:{ALLOWED}", "open=/mnt/ocic-loop:w:1")


@case("devcg.listed-order", "config-linux.md#allowed-device-list")
def _(t):
    "Rules apply in the listed order: a later deny overrides an earlier allow."
    b = devcg_bundle(t, DENY_ALL,
                     {"allow": True, "type": "b", "major": 7, "minor": 0, "access": "rw"},
                     {"allow": False, "type": "b", "major": 7, "minor": 0, "access": "w"})
    t.check(b, f"open=/mnt/ocic-loop:r:{ALLOWED}", "open=/mnt/ocic-loop:w:1")


@case("devcg.wildcard-minor", "config-linux.md#allowed-device-list")
def _(t):
    "An unset `minor` means all minors."
    b = devcg_bundle(t, DENY_ALL, {"allow": True, "type": "b", "major": 7, "access": "r"})
    t.check(b, f"open=/mnt/ocic-loop:r:{ALLOWED}")


@case("devcg.type-unset-means-all", "config-linux.md#allowed-device-list")
def _(t):
    "An unset `type` means all types (`a`)."
    b = devcg_bundle(t, DENY_ALL, {"allow": True, "major": 7, "minor": 0, "access": "r"})
    t.check(b, f"open=/mnt/ocic-loop:r:{ALLOWED}")


# -- masked and readonly paths -------------------------------------------------------

def paths_bundle(t, masked=(), readonly=()):
    b = t.bundle()
    if masked:
        b.linux["maskedPaths"] = list(masked)
    if readonly:
        b.linux["readonlyPaths"] = list(readonly)
    return b.write()


def first_existing(*paths):
    return next((p for p in paths if os.path.exists(p)), paths[-1])


@case("paths.masked-proc-file", "config-linux.md#masked-paths")
def _(t):
    "A masked /proc file cannot be read (/proc/kcore, or /proc/keys where there is no kcore)."
    path = first_existing("/proc/kcore", "/proc/keys", "/proc/timer_list")
    t.check(paths_bundle(t, masked=[path]), f"masked={path}")


@case("paths.masked-rootfs-file", "config-linux.md#masked-paths")
def _(t):
    "A masked file of the rootfs reads as empty."
    t.check(paths_bundle(t, masked=["/mnt/ro/data"]), "masked=/mnt/ro/data")


@case("paths.masked-directory", "config-linux.md#masked-paths")
def _(t):
    "A masked directory shows no entries."
    t.check(paths_bundle(t, masked=["/mnt/ro"]), "masked=/mnt/ro")


@case("paths.masked-in-mount", "config-linux.md#masked-paths")
def _(t):
    "Masking applies to paths inside the config's mounts (/sys/firmware-like)."
    b = paths_bundle(t, masked=["/mnt/a/secret"])
    (b.host_dir / "secret").write_text("secret")
    b.add_mount("/mnt/a", b.host_dir, options=["rbind", "ro"])
    t.check(b, "masked=/mnt/a/secret", "exists=/mnt/a/secret")


@case("paths.masked-missing-ignored", "config-linux.md#masked-paths", "SHOULD")
def _(t):
    "A masked path that does not exist in the container does not stop it."
    t.check(paths_bundle(t, masked=["/proc/ocic-no-such-file"]), "absent=/proc/ocic-no-such-file")


@case("paths.readonly-proc-dir", "config-linux.md#readonly-paths")
def _(t):
    "A readonly /proc directory is read-only (/proc/sys)."
    t.check(paths_bundle(t, readonly=["/proc/sys"]), "rofs=/proc/sys", "rwfs=/proc")


@case("paths.readonly-proc-file", "config-linux.md#readonly-paths")
def _(t):
    "A readonly /proc file is read-only (/proc/sysrq-trigger, or /proc/sys/kernel/printk)."
    path = first_existing("/proc/sysrq-trigger", "/proc/sys/kernel/printk")
    t.check(paths_bundle(t, readonly=[path]), f"rofs={path}", "rwfs=/proc")


@case("paths.readonly-in-writable-root", "config-linux.md#readonly-paths")
def _(t):
    "A readonly path of a writable rootfs is read-only; the rest stays writable."
    b = t.bundle(root={"path": "rootfs", "readonly": False})
    b.linux["readonlyPaths"] = ["/mnt/ro"]
    t.check(b, "rofs=/mnt/ro", "touch=/mnt/ro/x:30", "rwfs=/", "touch=/ocic-x:ok")


@case("paths.readonly-mount", "config-linux.md#readonly-paths")
def _(t):
    "A readonly path inside a writable tmpfs mount is read-only."
    b = paths_bundle(t, readonly=["/mnt/a"])
    b.add_mount("/mnt/a", "tmpfs", type="tmpfs", options=["size=1m"])
    t.check(b, "rofs=/mnt/a", "rwfs=/tmp")


# -- sysctl -------------------------------------------------------------------------

SYSCTLS = [("net.ipv4.ip_forward", "1"), ("net.core.somaxconn", "256"),
           ("kernel.shmmax", "4096000"), ("kernel.msgmax", "9000"),
           ("net.ipv4.ping_group_range", "0 0")]

for key, value in SYSCTLS:
    def _sysctl(t, key=key, value=value):
        b = t.bundle()
        b.linux["sysctl"] = {key: value}
        host = open("/proc/sys/" + key.replace(".", "/")).read()
        t.check(b, f"wsfile=/proc/sys/{key.replace('.', '/')}:{value}")
        t.expect(open("/proc/sys/" + key.replace(".", "/")).read() == host,
                 "the host's value changed")
    _sysctl.__doc__ = f"`sysctl` sets {key} in the container (and not on the host)."
    case(f"sysctl.{key}", "config-linux.md#sysctl")(_sysctl)


@case("sysctl.unknown-key-error", "config-linux.md#sysctl")
def _(t):
    "A sysctl that does not exist cannot be applied: create MUST fail."
    b = t.bundle(["true"])
    b.linux["sysctl"] = {"net.ipv4.ocic_no_such_key": "1"}
    b.write()
    t.expect_error(t.create(b, check=False), "create with an unknown sysctl")
