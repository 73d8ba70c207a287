"""config-linux.md#seccomp: actions, errno values, argument filters.

The checker makes the raw syscalls in a child process (`sc=NAME[,ARG0]:EXPECT`)
so that a killing action is observed as the child's SIGSYS.  Filters whose
default action is not ALLOW list every other syscall of the host's
<asm/unistd_64.h> as allowed."""

import re
from pathlib import Path

from ..registry import case

UNISTD = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
EPERM = 1


def all_syscalls(t):
    if not UNISTD.exists():
        t.skip(f"{UNISTD} is missing (package linux-libc-dev): cannot build an allow list")
    return sorted(set(re.findall(r"#define __NR_(\w+)\s+\d+", UNISTD.read_text())))


def sc_bundle(t, default="SCMP_ACT_ALLOW", rules=(), **extra):
    b = t.bundle()
    b.linux["seccomp"] = {"defaultAction": default, "syscalls": list(rules), **extra}
    return b.write()


def allow_all_but(t, *names):
    return {"names": [n for n in all_syscalls(t) if n not in names], "action": "SCMP_ACT_ALLOW"}


@case("seccomp.errno", "config-linux.md#seccomp")
def _(t):
    "SCMP_ACT_ERRNO without errnoRet makes the syscall fail with EPERM; others still work."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}])
    t.check(b, f"sc=getcwd:{EPERM}", "sc=uname:ok")


@case("seccomp.errno-ret", "config-linux.md#seccomp")
def _(t):
    "`errnoRet` is the errno the filtered syscall returns."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 99}])
    t.check(b, "sc=getcwd:99")


@case("seccomp.default-errno-ret", "config-linux.md#seccomp")
def _(t):
    "`defaultErrnoRet` is the errno of the default SCMP_ACT_ERRNO action."
    b = sc_bundle(t, "SCMP_ACT_ERRNO", [allow_all_but(t, "getcwd")], defaultErrnoRet=95)
    t.check(b, "sc=getcwd:95", "sc=uname:ok")


@case("seccomp.default-action-errno", "config-linux.md#seccomp")
def _(t):
    "A default SCMP_ACT_ERRNO action applies to unlisted syscalls (EPERM)."
    b = sc_bundle(t, "SCMP_ACT_ERRNO", [allow_all_but(t, "getcwd")])
    t.check(b, f"sc=getcwd:{EPERM}", "sc=uname:ok")


@case("seccomp.allow-rule", "config-linux.md#seccomp")
def _(t):
    "An SCMP_ACT_ALLOW rule overrides a denying default action."
    rule = allow_all_but(t, "getcwd", "uname")
    b = sc_bundle(t, "SCMP_ACT_ERRNO", [rule, {"names": ["getcwd"], "action": "SCMP_ACT_ALLOW"}])
    t.check(b, "sc=getcwd:ok", f"sc=uname:{EPERM}")


for action in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP"):
    def _kill(t, action=action):
        b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": action}])
        t.check(b, "sc=getcwd:kill", "sc=uname:ok")
    _kill.__doc__ = f"{action} ends the calling process with SIGSYS."
    case(f"seccomp.{action[9:].lower().replace('_', '-')}", "config-linux.md#seccomp")(_kill)


@case("seccomp.log", "config-linux.md#seccomp")
def _(t):
    "SCMP_ACT_LOG lets the syscall through."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_LOG"}])
    t.check(b, "sc=getcwd:ok")


@case("seccomp.several-names", "config-linux.md#seccomp")
def _(t):
    "A rule applies to every syscall in `names`."
    b = sc_bundle(t, rules=[{"names": ["getcwd", "uname"], "action": "SCMP_ACT_ERRNO"}])
    t.check(b, f"sc=getcwd:{EPERM}", f"sc=uname:{EPERM}", "sc=getpid:ok")


ARG_OPS = [
    # op, value, valueTwo, umask value that matches, one that does not
    ("SCMP_CMP_EQ", 0o77, None, 0o77, 0o22),
    ("SCMP_CMP_NE", 0o22, None, 0o77, 0o22),
    ("SCMP_CMP_GT", 0o50, None, 0o77, 0o22),
    ("SCMP_CMP_GE", 0o77, None, 0o77, 0o22),
    ("SCMP_CMP_LT", 0o50, None, 0o22, 0o77),
    ("SCMP_CMP_LE", 0o22, None, 0o22, 0o77),
    ("SCMP_CMP_MASKED_EQ", 0o70, 0o70, 0o77, 0o22),
]

for op, value, two, hit, miss in ARG_OPS:
    def _arg(t, op=op, value=value, two=two, hit=hit, miss=miss):
        arg = {"index": 0, "value": value, "op": op}
        if two is not None:
            arg["valueTwo"] = two
        b = sc_bundle(t, rules=[{"names": ["umask"], "action": "SCMP_ACT_ERRNO", "args": [arg]}])
        t.check(b, f"sc=umask,{hit}:{EPERM}", f"sc=umask,{miss}:ok")
    _arg.__doc__ = f"An `args` filter with {op} matches on the syscall's argument."
    case(f"seccomp.arg-{op[9:].lower().replace('_', '-')}", "config-linux.md#seccomp")(_arg)


@case("seccomp.architectures", "config-linux.md#seccomp")
def _(t):
    "`architectures` lists the ABIs the filter covers; the native one is still filtered."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}],
                  architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
    t.check(b, f"sc=getcwd:{EPERM}")


@case("seccomp.filter-mode", "config-linux.md#seccomp")
def _(t):
    "The container process runs in seccomp filter mode."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}])
    t.check(b, "seccomp=2")


@case("seccomp.without-no-new-privileges", "config-linux.md#seccomp")
def _(t):
    "The filter is applied with noNewPrivileges false and no CAP_SYS_ADMIN in the container."
    # getpriority: a syscall no runtime needs after loading the filter (without
    # no_new_privs the filter is loaded while the runtime still holds its caps)
    b = sc_bundle(t, rules=[{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}])
    b.process["noNewPrivileges"] = False
    t.check(b, f"sc=getpriority:{EPERM}", "nnp=0")


@case("seccomp.flag-log", "config-linux.md#seccomp", deviations={
    "runc": "runc 1.1.5 refuses any seccomp `flags` (\"seccomp flags are not yet supported by "
            "runc\"); support came with runc 1.2"})
def _(t):
    "The SECCOMP_FILTER_FLAG_LOG flag is accepted and the filter works."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}],
                  flags=["SECCOMP_FILTER_FLAG_LOG"])
    t.check(b, f"sc=getcwd:{EPERM}")


@case("seccomp.errno-ret-on-kill-error", "config-linux.md#seccomp", deviations={
    "runc": "runc 1.1.5 silently ignores `errnoRet` on an action that has no errno"})
def _(t):
    "`errnoRet` on an action without an errno (SCMP_ACT_KILL) MUST make create fail."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_KILL", "errnoRet": 5}])
    b.set_args("true")
    t.expect_error(t.create(b, check=False), "create with errnoRet on SCMP_ACT_KILL")


@case("seccomp.default-errno-ret-on-allow-error", "config-linux.md#seccomp", deviations={
    "runc": "runc 1.1.5 silently ignores `defaultErrnoRet` when the default action has no errno"})
def _(t):
    "`defaultErrnoRet` with a default action without an errno (SCMP_ACT_ALLOW) MUST make create fail."
    b = sc_bundle(t, rules=[{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}], defaultErrnoRet=5)
    b.set_args("true")
    t.expect_error(t.create(b, check=False), "create with defaultErrnoRet on SCMP_ACT_ALLOW")
