"""config.md: process (args, env, cwd, user, rlimits, capabilities,
noNewPrivileges, oomScoreAdj, terminal, LSM labels)."""

import os

from ..registry import case, process_case
from .common import CHECKER, cap_mask

# -- args, env, cwd -------------------------------------------------------------


@case("process.args", "config.md#process")
def _(t):
    "`args` is the argv of the process, byte for byte (spaces, empty strings)."
    b = t.bundle(["sh", "-c", 'printf "[%s]" "$0" "$@"', "zero", "a b", "", "c"])
    out = t.run_container(b)
    t.expect(out == "[zero][a b][][c]", f"argv was {out!r}")


@case("process.args-path-lookup", "config.md#process")
def _(t):
    "`args[0]` without a slash is looked up in the PATH of `process.env` (execvp)."
    b = t.bundle()
    b.process["env"] = ["PATH=/.ocic:/bin"]
    b.process["args"] = ["checker", "cwd=/"]
    b.write()
    t.verdict(t.run_container(b), b)


@case("process.env", "config.md#process")
def _(t):
    "`env` sets the process's environment (values with spaces, '=' and empty values)."
    b = t.bundle()
    b.process["env"] += ["OCIC_A=1", "OCIC_B=x y=z", "OCIC_EMPTY="]
    t.check(b, "env=OCIC_A=1", "env=OCIC_B=x y=z", "env=OCIC_EMPTY=")


@case("process.env-not-inherited", "config.md#process")
def _(t):
    "The runtime's own environment does not leak into the container process."
    b = t.bundle([CHECKER, "noenv=OCIC_LEAK"])
    env = dict(os.environ, OCIC_LEAK="from-the-runtime")
    t.create(b, env=env)
    pid = t.container_pid(b)
    t.start(b.id)
    t.wait_exit(pid)
    t.verdict(b.output(), b)


process_case("process.cwd", "config.md#process",
             "The process runs in `cwd`.",
             {"cwd": "/mnt/ro"}, "cwd=/mnt/ro")

process_case("process.cwd-tmpfs", "config.md#process",
             "`cwd` may be inside a mount of the config (resolved after the mounts).",
             {"cwd": "/tmp"}, "cwd=/tmp")


# -- user -----------------------------------------------------------------------

process_case("process.user-uid", "config.md#posix-platform-user",
             "The process runs with `user.uid` (real, effective and saved).",
             {"user": {"uid": 1000, "gid": 1000}}, "uid=1000")

process_case("process.user-gid", "config.md#posix-platform-user",
             "The process runs with `user.gid` (real, effective and saved).",
             {"user": {"uid": 1000, "gid": 100}}, "gid=100")

process_case("process.user-additional-gids", "config.md#posix-platform-user",
             "`additionalGids` are the process's supplementary groups.",
             {"user": {"uid": 1000, "gid": 1000, "additionalGids": [5, 100, 4242]}},
             "groups=5,100,4242")

process_case("process.user-root-additional-gids", "config.md#posix-platform-user",
             "`additionalGids` are set for uid 0 too.",
             {"user": {"uid": 0, "gid": 0, "additionalGids": [5, 100]}},
             "groups=5,100", "uid=0", "gid=0")

process_case("process.user-umask", "config.md#posix-platform-user",
             "`umask` is the process's umask.",
             {"user": {"uid": 0, "gid": 0, "umask": 0o077}}, "umask=0077")

process_case("process.user-umask-zero", "config.md#posix-platform-user",
             "`umask` 0 is applied (not taken for unset).",
             {"user": {"uid": 0, "gid": 0, "umask": 0}}, "umask=0000")


@case("process.user-umask-unset-inherited", "config.md#posix-platform-user", "SHOULD",
      deviations={"runc": "runc 1.1.5 sets umask 0022 when user.umask is unset, instead of "
                          "keeping the calling process's umask",
                  "crun": "crun 1.8.1 sets umask 0022 when user.umask is unset, instead of "
                          "keeping the calling process's umask"})
def _(t):
    "Without `umask` the process keeps the umask of the runtime's caller (0027 here)."
    b = t.bundle([CHECKER, "umask=0027"])
    t.create(b, umask=0o027)
    pid = t.container_pid(b)
    t.start(b.id)
    t.wait_exit(pid)
    t.verdict(b.output(), b)


# -- rlimits --------------------------------------------------------------------

process_case("process.rlimits-nofile", "config.md#posix-process",
             "An rlimit's `soft` and `hard` are what getrlimit returns in the container.",
             {"rlimits": [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048}]},
             "rlimit=NOFILE:512:2048")


@case("process.rlimits-several", "config.md#posix-process")
def _(t):
    "Several rlimits are all applied."
    b = t.bundle()
    b.process["rlimits"] = [{"type": "RLIMIT_CORE", "soft": 0, "hard": 4096},
                            {"type": "RLIMIT_NPROC", "soft": 300, "hard": 400},
                            {"type": "RLIMIT_MSGQUEUE", "soft": 1000, "hard": 2000},
                            {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]
    t.check(b, "rlimit=CORE:0:4096", "rlimit=NPROC:300:400", "rlimit=MSGQUEUE:1000:2000",
            "rlimit=NOFILE:100:200")


process_case("process.rlimits-lowered-hard", "config.md#posix-process",
             "A hard limit below the runtime's own is applied (lowering needs no privilege).",
             {"rlimits": [{"type": "RLIMIT_STACK", "soft": 1048576, "hard": 4194304}]},
             "rlimit=STACK:1048576:4194304")


@case("process.rlimits-invalid-type-error", "config.md#posix-process")
def _(t):
    "An rlimit `type` that maps to no kernel resource MUST make create (or start) fail."
    b = t.bundle(["true"])
    b.process["rlimits"] = [{"type": "RLIMIT_OCIC_NOSUCH", "soft": 1, "hard": 1}]
    b.write()
    res = t.create(b, check=False)
    if res.ok:  # process properties may be applied by start (runtime.md#create)
        t.expect_error(t.start(b.id, check=False), "create and start with an unknown rlimit type")


@case("process.rlimits-duplicate-error", "config.md#posix-process")
def _(t):
    "Duplicated rlimit types MUST make create (or start) fail."
    b = t.bundle(["true"])
    b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 100},
                            {"type": "RLIMIT_NOFILE", "soft": 200, "hard": 200}]
    b.write()
    res = t.create(b, check=False)
    if res.ok:
        t.expect_error(t.start(b.id, check=False), "create and start with a duplicated rlimit")


# -- capabilities -----------------------------------------------------------------

def caps_bundle(t, **sets):
    b = t.bundle()
    b.process["capabilities"] = sets
    return b.write()


@case("process.caps-bounding", "config.md#linux-process")
def _(t):
    "`capabilities.bounding` is the bounding set."
    caps = ["CAP_CHOWN", "CAP_KILL", "CAP_SETUID", "CAP_NET_RAW"]
    b = caps_bundle(t, bounding=caps, permitted=caps, effective=caps)
    t.check(b, f"cap=bnd:{cap_mask(caps)}")


@case("process.caps-effective", "config.md#linux-process")
def _(t):
    "`capabilities.effective` is the effective set (equal to permitted: an exec as root makes them equal)."
    caps = ["CAP_KILL", "CAP_CHOWN"]
    b = caps_bundle(t, bounding=caps + ["CAP_FOWNER"], permitted=caps, effective=caps)
    t.check(b, f"cap=eff:{cap_mask(caps)}")


@case("process.caps-permitted", "config.md#linux-process")
def _(t):
    "`capabilities.permitted` is the permitted set."
    b = caps_bundle(t, bounding=["CAP_KILL", "CAP_CHOWN", "CAP_FOWNER"],
                    permitted=["CAP_KILL", "CAP_CHOWN"], effective=["CAP_KILL", "CAP_CHOWN"])
    t.check(b, f"cap=prm:{cap_mask(['CAP_KILL', 'CAP_CHOWN'])}")


@case("process.caps-inheritable", "config.md#linux-process")
def _(t):
    "`capabilities.inheritable` is the inheritable set."
    b = caps_bundle(t, bounding=["CAP_KILL", "CAP_CHOWN"], permitted=["CAP_KILL", "CAP_CHOWN"],
                    effective=["CAP_KILL", "CAP_CHOWN"], inheritable=["CAP_CHOWN"])
    t.check(b, f"cap=inh:{cap_mask(['CAP_CHOWN'])}")


@case("process.caps-ambient", "config.md#linux-process")
def _(t):
    "A non-root user keeps `capabilities.ambient` (also inheritable and permitted) across exec."
    caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    b = caps_bundle(t, bounding=caps, permitted=caps, effective=caps, inheritable=caps,
                    ambient=["CAP_NET_BIND_SERVICE"])
    b.process["user"] = {"uid": 1000, "gid": 1000}
    amb = cap_mask(["CAP_NET_BIND_SERVICE"])
    t.check(b, f"cap=amb:{amb}", f"cap=eff:{amb}", "uid=1000")


@case("process.caps-empty", "config.md#linux-process")
def _(t):
    "Empty capability sets leave the process with no capabilities at all."
    b = caps_bundle(t, bounding=[], permitted=[], effective=[], inheritable=[], ambient=[])
    t.check(b, "cap=bnd:0", "cap=prm:0", "cap=eff:0", "cap=inh:0", "cap=amb:0")


@case("process.caps-ambient-root", "config.md#linux-process")
def _(t):
    "`capabilities.ambient` is applied for uid 0 too."
    caps = ["CAP_KILL", "CAP_CHOWN"]
    b = caps_bundle(t, bounding=caps, permitted=caps, effective=caps, inheritable=caps,
                    ambient=["CAP_CHOWN"])
    t.check(b, f"cap=amb:{cap_mask(['CAP_CHOWN'])}", f"cap=inh:{cap_mask(caps)}")


@case("process.caps-unknown-not-fatal", "config.md#linux-process", "SHOULD")
def _(t):
    "An unknown capability is a warning, not an error: the container runs with the others."
    caps = ["CAP_KILL", "CAP_OCIC_NOSUCH"]
    b = caps_bundle(t, bounding=caps, permitted=caps, effective=caps)
    t.check(b, f"cap=eff:{cap_mask(['CAP_KILL'])}")


# -- noNewPrivileges, oomScoreAdj ----------------------------------------------------

process_case("process.no-new-privileges-true", "config.md#linux-process",
             "`noNewPrivileges: true` sets no_new_privs.",
             {"noNewPrivileges": True}, "nnp=1")

process_case("process.no-new-privileges-false", "config.md#linux-process",
             "`noNewPrivileges: false` leaves no_new_privs unset.",
             {"noNewPrivileges": False}, "nnp=0")

process_case("process.oom-score-adj", "config.md#linux-process",
             "`oomScoreAdj` MUST be written to oom_score_adj.",
             {"oomScoreAdj": 345}, "oom=345")


@case("process.oom-score-adj-negative", "config.md#linux-process")
def _(t):
    "A negative `oomScoreAdj` is applied."
    if not t.host.bounding & (1 << 24):
        t.skip("lowering oom_score_adj needs CAP_SYS_RESOURCE, which this host's bounding set lacks")
    b = t.bundle()
    b.process["oomScoreAdj"] = -200
    t.check(b, "oom=-200")


@case("process.oom-score-adj-unset", "config.md#linux-process")
def _(t):
    "Without `oomScoreAdj` the runtime MUST NOT change oom_score_adj (the caller's 123 stays)."
    b = t.bundle([CHECKER, "oom=123"])
    wrap = ["sh", "-c", 'echo 123 > /proc/self/oom_score_adj && exec "$@"', "ocic-oom"]
    t.create(b, wrap=wrap)
    pid = t.container_pid(b)
    t.start(b.id)
    t.wait_exit(pid)
    t.verdict(b.output(), b)


# -- terminal ---------------------------------------------------------------------

def tty_bundle(t, *checks, size=None):
    b = t.bundle()
    b.process["terminal"] = True
    if size:
        b.process["consoleSize"] = {"height": size[0], "width": size[1]}
    b.process["args"] = [CHECKER, *checks]
    return b.write()


def run_tty(t, b):
    cs = t.console_socket()
    t.create(b, console=cs)
    pid = t.container_pid(b)
    t.start(b.id)
    t.wait_exit(pid)
    out = cs.wait(5).replace("\r", "")
    if cs.error:
        t.fail(cs.error)
    return t.verdict(out + b.output(), b)


@case("process.terminal", "config.md#process")
def _(t):
    "`terminal: true` gives the process a pseudoterminal on stdin, stdout and stderr."
    run_tty(t, tty_bundle(t, "tty=0", "tty=1", "tty=2"))


@case("process.terminal-console-size", "config.md#process")
def _(t):
    "`consoleSize` sets the terminal's rows and columns."
    run_tty(t, tty_bundle(t, "winsz=1:37:111", size=(37, 111)))


@case("process.terminal-dev-console", "config-linux.md#default-devices")
def _(t):
    "With a terminal, /dev/console is the pseudoterminal (a character device)."
    run_tty(t, tty_bundle(t, "stat=/dev/console:c:*:*:*:136:*"))


process_case("process.terminal-false", "config.md#process",
             "`terminal: false`: stdin, stdout and stderr are not terminals.",
             {}, "notty=0", "notty=1", "notty=2")

process_case("process.console-size-ignored-without-terminal", "config.md#process",
             "`consoleSize` MUST be ignored when `terminal` is false.",
             {"consoleSize": {"height": 10, "width": 10}}, "notty=1")


# -- LSM labels (features the host may lack) ---------------------------------------

@case("process.apparmor-profile", "config.md#linux-process")
def _(t):
    "`apparmorProfile` is applied to the process."
    if not os.path.exists("/sys/kernel/security/apparmor"):
        t.skip("AppArmor is not enabled on this host")
    b = t.bundle()
    b.process["apparmorProfile"] = "unconfined"
    t.check(b, "file=/proc/self/attr/current:unconfined")


@case("process.selinux-label", "config.md#linux-process")
def _(t):
    "`selinuxLabel` is applied to the process."
    if not os.path.exists("/sys/fs/selinux/enforce"):
        t.skip("SELinux is not enabled on this host")
    b = t.bundle()
    b.process["selinuxLabel"] = "system_u:system_r:container_t:s0"
    t.check(b, "filehas=/proc/self/attr/current:container_t")
