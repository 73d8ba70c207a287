"""linux.seccomp (config-linux.md "Seccomp") through libseccomp, loaded with cffi in ABI mode.

``build`` validates the config and translates it into a libseccomp filter context; the
parent calls it before anything is created (errors name the JSON path), the init calls it
again before pivot_root (libseccomp is dlopen'ed by then, in the parent) and ``load``s the
result as late as possible before the exec:

* with ``process.noNewPrivileges`` the filter is loaded after everything else, just before
  the init execs the trampoline;
* without it the kernel wants CAP_SYS_ADMIN, so (as runc does) the filter is loaded before the
  init changes its user and drops its capabilities: the init's own setgroups, setresgid,
  setresuid, prctl, capget/capset, umask, rt_sigaction, rt_sigprocmask, close_range and
  fcntl then run under the filter too.

In both cases the filter also applies to the exec trampoline (csrc/exec_trampoline.c), which
makes execve, fcntl, close, write, exit_group and, when no startContainer hook is configured,
accept4 (waiting for ``start``) before the user's execve.  A default-deny profile must allow
them, as it must for runc's own init (every usual profile, e.g. Docker's default, does).

libseccomp's own "set no_new_privs on load" attribute is switched off: no_new_privs is set
only when the config asks for it.

SCMP_ACT_NOTIFY: the init connects to ``listenerPath`` before pivot_root (a host path), and
right after loading the filter sends the container process state (ociVersion, fds
["seccompFd"], pid, metadata = listenerMetadata, state) with the notify fd as SCM_RIGHTS,
closes the connection and its own copy of the fd.  Between the load and that send the init
needs sendmsg and close, so NOTIFY is refused for those and as the default action (the init
would wait for an agent that does not have the fd yet).  NOTIFY rules on syscalls the init or
the trampoline makes later (listed above) are answered by the agent like any other.
"""

from __future__ import annotations

import errno
import os

from .. import SPEC_VERSION
from ..errors import ConfigError, NotSupportedError, OCIError
from ..jsonenc import dumps

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY")
#: actions that carry an errno (errnoRet / defaultErrnoRet)
_WITH_ERRNO = ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE")
_ACTION_VALUES = {
    "SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000, "SCMP_ACT_NOTIFY": 0x7FC00000,
}
OPERATORS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
             "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
#: the spec's architecture names and libseccomp's
_ARCHS = {
    "SCMP_ARCH_X86": "x86", "SCMP_ARCH_X86_64": "x86_64", "SCMP_ARCH_X32": "x32",
    "SCMP_ARCH_ARM": "arm", "SCMP_ARCH_AARCH64": "aarch64", "SCMP_ARCH_MIPS": "mips",
    "SCMP_ARCH_MIPS64": "mips64", "SCMP_ARCH_MIPS64N32": "mips64n32", "SCMP_ARCH_MIPSEL": "mipsel",
    "SCMP_ARCH_MIPSEL64": "mipsel64", "SCMP_ARCH_MIPSEL64N32": "mipsel64n32",
    "SCMP_ARCH_PPC": "ppc", "SCMP_ARCH_PPC64": "ppc64", "SCMP_ARCH_PPC64LE": "ppc64le",
    "SCMP_ARCH_S390": "s390", "SCMP_ARCH_S390X": "s390x", "SCMP_ARCH_PARISC": "parisc",
    "SCMP_ARCH_PARISC64": "parisc64", "SCMP_ARCH_RISCV64": "riscv64",
    "SCMP_ARCH_LOONGARCH64": "loongarch64", "SCMP_ARCH_M68K": "m68k", "SCMP_ARCH_SH": "sh",
    "SCMP_ARCH_SHEB": "sheb",
}
# enum scmp_filter_attr
_ATTR_CTL_NNP = 3
_ATTR_CTL_TSYNC = 4
_ATTR_CTL_LOG = 6
_ATTR_CTL_SSB = 7
_ATTR_CTL_WAITKILL = 10
#: flag -> (filter attribute, minimum libseccomp API level, minimum libseccomp version)
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (_ATTR_CTL_TSYNC, 2, (2, 2)),
    "SECCOMP_FILTER_FLAG_LOG": (_ATTR_CTL_LOG, 3, (2, 4)),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (_ATTR_CTL_SSB, 4, (2, 5)),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (_ATTR_CTL_WAITKILL, 7, (2, 6)),
}
KNOWN_FLAGS = tuple(_FLAGS)
#: what the init does between loading a filter with SCMP_ACT_NOTIFY and handing its fd over
_NOT_NOTIFIABLE = ("sendmsg", "close")

_CDEF = """
typedef void *scmp_filter_ctx;
typedef uint64_t scmp_datum_t;
struct scmp_arg_cmp { unsigned int arg; int op; scmp_datum_t datum_a; scmp_datum_t datum_b; };
struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };
const struct scmp_version *seccomp_version(void);
unsigned int seccomp_api_get(void);
scmp_filter_ctx seccomp_init(uint32_t def_action);
void seccomp_release(scmp_filter_ctx ctx);
int seccomp_load(scmp_filter_ctx ctx);
int seccomp_attr_set(scmp_filter_ctx ctx, int attr, uint32_t value);
uint32_t seccomp_arch_resolve_name(const char *arch_name);
uint32_t seccomp_arch_native(void);
int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
int seccomp_syscall_resolve_name(const char *name);
int seccomp_notify_fd(scmp_filter_ctx ctx);
int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall,
                           unsigned int arg_cnt, const struct scmp_arg_cmp *arg_array);
"""

_lib = None
_ffi = None


def _library():
    """(ffi, lib), dlopen'ed once per process (the parent, before any fork)."""
    global _ffi, _lib
    if _lib is None:
        try:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef(_CDEF)
            lib = ffi.dlopen("libseccomp.so.2")
        except (ImportError, OSError) as err:
            raise OCIError(f"linux.seccomp: libseccomp is not available: {err}") from None
        _ffi, _lib = ffi, lib
    return _ffi, _lib


def available() -> bool:
    try:
        _library()
    except OCIError:
        return False
    return True


def version() -> tuple[int, int, int]:
    ffi, lib = _library()
    v = lib.seccomp_version()
    return (v.major, v.minor, v.micro)


def known_archs() -> list[str]:
    _, lib = _library()
    return [name for name, token in _ARCHS.items() if lib.seccomp_arch_resolve_name(token.encode())]


def supported_flags() -> list[str]:
    _, lib = _library()
    api, ver = lib.seccomp_api_get(), version()[:2]
    return [flag for flag, (_, level, minimum) in _FLAGS.items() if api >= level and ver >= minimum]


class Filter:
    """A libseccomp filter context built from linux.seccomp, loaded with ``load``."""

    def __init__(self, ctx, notify: bool = False, listener_path: str = ""):
        self.ctx = ctx
        #: an SCMP_ACT_NOTIFY rule is in the filter: its fd goes to the agent at listener_path
        self.notify = notify
        self.listener_path = listener_path
        #: the connection to the agent (made before pivot_root) and the container process
        #: state to send with the fd (see ``prepare_notify``)
        self.listener = None  # the agent's connected socket (SCMP_ACT_NOTIFY)
        self.message = b""

    def release(self) -> None:
        if self.ctx is not None:
            _lib.seccomp_release(self.ctx)
            self.ctx = None


def _action(value, errno_ret, path: str, errno_path: str) -> int:
    if value not in ACTIONS:
        raise ConfigError(f"{path}: unknown action {value!r} (known: {', '.join(ACTIONS)})")
    if errno_ret is not None:
        if value not in _WITH_ERRNO:
            raise ConfigError(f"{errno_path}: {value} has no errno to return; "
                           f"only {' and '.join(_WITH_ERRNO)} take one")
        if not isinstance(errno_ret, int) or isinstance(errno_ret, bool) or not 0 <= errno_ret <= 0xFFFF:
            raise ConfigError(f"{errno_path}: {errno_ret!r} is not an errno (0-65535)")
    if value in _WITH_ERRNO:
        return _ACTION_VALUES[value] | (errno.EPERM if errno_ret is None else errno_ret)
    return _ACTION_VALUES[value]


def _uint64(value, path: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64:
        raise ConfigError(f"{path}: {value!r} is not a 64-bit unsigned integer")
    return value


def _fail(rc: int, what: str) -> OCIError:
    return OCIError(f"{what}: {os.strerror(-rc)}")


def build(seccomp: dict) -> Filter:
    """Validates linux.seccomp and returns the libseccomp filter for it (not loaded yet).
    Syscall names libseccomp does not know are skipped, as runc does."""
    base = "linux.seccomp"
    if not isinstance(seccomp, dict):
        raise ConfigError(f"{base}: must be an object")
    if seccomp.get("defaultAction") == "SCMP_ACT_NOTIFY":
        raise NotSupportedError(f"{base}.defaultAction: SCMP_ACT_NOTIFY as the default action is not "
                                "supported: the runtime's own last syscalls (sending the fd to the "
                                "agent) would wait for an agent that does not have the fd yet")
    default = _action(seccomp.get("defaultAction"), seccomp.get("defaultErrnoRet"),
                      f"{base}.defaultAction", f"{base}.defaultErrnoRet")
    ffi, lib = _library()
    archs = []
    for i, name in enumerate(seccomp.get("architectures") or []):
        token = lib.seccomp_arch_resolve_name(_ARCHS[name].encode()) if name in _ARCHS else 0
        if not token:
            raise ConfigError(f"{base}.architectures[{i}]: unknown architecture {name!r}")
        archs.append(token)
    flags = []
    supported = supported_flags()
    for i, flag in enumerate(seccomp.get("flags") or []):
        if flag not in _FLAGS:
            raise ConfigError(f"{base}.flags[{i}]: unknown flag {flag!r} (known: {', '.join(KNOWN_FLAGS)})")
        if flag not in supported:
            v = ".".join(map(str, version()))
            raise NotSupportedError(f"{base}.flags[{i}]: {flag} is not supported by libseccomp {v} "
                           f"(API level {lib.seccomp_api_get()}) on this host")
        flags.append(_FLAGS[flag][0])
    # validate every rule before allocating anything
    rules = []
    notify = False
    for i, rule in enumerate(seccomp.get("syscalls") or []):
        path = f"{base}.syscalls[{i}]"
        action = _action(rule.get("action"), rule.get("errnoRet"), f"{path}.action", f"{path}.errnoRet")
        args = []
        for j, arg in enumerate(rule.get("args") or []):
            apath = f"{path}.args[{j}]"
            index = arg.get("index")
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index <= 5:
                raise ConfigError(f"{apath}.index: {index!r} is not a syscall argument index (0-5)")
            op = arg.get("op")
            if op not in OPERATORS:
                raise ConfigError(f"{apath}.op: unknown operator {op!r} (known: {', '.join(OPERATORS)})")
            args.append((index, OPERATORS[op], _uint64(arg.get("value"), f"{apath}.value"),
                         _uint64(arg.get("valueTwo", 0), f"{apath}.valueTwo")))
        names = rule.get("names") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ConfigError(f"{path}.names: must be a list of syscall names")
        if rule.get("action") == "SCMP_ACT_NOTIFY":
            notify = True
            for name in names:
                if name in _NOT_NOTIFIABLE:
                    raise NotSupportedError(
                        f"{path}: SCMP_ACT_NOTIFY cannot be used for {name}: the runtime needs it "
                        "to hand the notify fd to the agent")
        rules.append((path, names, action, args))

    listener_path = seccomp.get("listenerPath") or ""
    if notify and not listener_path:
        raise ConfigError(f"{base}.listenerPath: required when SCMP_ACT_NOTIFY is used")
    ctx = lib.seccomp_init(default)
    if ctx == ffi.NULL:
        raise OCIError(f"{base}.defaultAction: libseccomp refused the default action")
    result = Filter(ctx, notify, listener_path)
    try:
        rc = lib.seccomp_attr_set(ctx, _ATTR_CTL_NNP, 0)
        if rc < 0:
            raise _fail(rc, f"{base}: switching off libseccomp's no_new_privs")
        for attr in flags:
            rc = lib.seccomp_attr_set(ctx, attr, 1)
            if rc < 0:
                raise _fail(rc, f"{base}.flags")
        for i, token in enumerate(archs):
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and rc != -errno.EEXIST:
                raise _fail(rc, f"{base}.architectures[{i}]")
        for path, names, action, args in rules:
            if action == default:
                continue  # nothing to add: libseccomp refuses rules that repeat the default
            array = ffi.new("struct scmp_arg_cmp[]", max(len(args), 1))
            for k, (index, op, value, two) in enumerate(args):
                array[k].arg, array[k].op, array[k].datum_a, array[k].datum_b = index, op, value, two
            for name in names:
                number = lib.seccomp_syscall_resolve_name(name.encode())
                if number == -1:  # __NR_SCMP_ERROR: not a syscall libseccomp knows; runc skips it
                    continue
                rc = lib.seccomp_rule_add_array(ctx, action, number, len(args), array)
                if rc < 0:
                    raise _fail(rc, f"{path}: adding the rule for {name}")
    except BaseException:
        result.release()
        raise
    return result


def connect_listener(seccomp_filter: Filter) -> None:
    """With SCMP_ACT_NOTIFY: connects to the agent's socket (in the init, before pivot_root)."""
    if not seccomp_filter.notify:
        return
    import socket  # only here: before pivot_root, so load() finds it after

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(seccomp_filter.listener_path)
    except OSError as err:
        sock.close()
        raise OCIError(f"linux.seccomp.listenerPath: connecting to {seccomp_filter.listener_path}: "
                       f"{err.strerror or err}") from None
    seccomp_filter.listener = sock


def prepare_notify(seccomp_filter: Filter, seccomp: dict, state: dict) -> None:
    """The container process state (config-linux.md "Seccomp"), encoded before the filter is
    loaded so that as little as possible runs between the load and the send."""
    if not seccomp_filter.notify:
        return
    message = {"ociVersion": SPEC_VERSION, "fds": ["seccompFd"], "pid": state["pid"], "state": state}
    if seccomp.get("listenerMetadata"):
        message["metadata"] = seccomp["listenerMetadata"]
    seccomp_filter.message = dumps(message).encode()


def load(seccomp_filter: Filter) -> None:
    """Loads the filter into the calling process (the container's init); with SCMP_ACT_NOTIFY
    sends the notify fd and the container process state to the agent, over one connection
    that is closed afterwards, and closes the init's copy of the fd."""
    rc = _lib.seccomp_load(seccomp_filter.ctx)
    if rc < 0:
        raise _fail(rc, "linux.seccomp: loading the filter")
    if not seccomp_filter.notify:
        return
    fd = _lib.seccomp_notify_fd(seccomp_filter.ctx)
    if fd < 0:
        raise _fail(fd, "linux.seccomp: getting the notify fd")
    import socket  # already loaded by connect_listener

    sock, seccomp_filter.listener = seccomp_filter.listener, None
    try:
        socket.send_fds(sock, [seccomp_filter.message], [fd])
    except OSError as err:
        raise OCIError(f"linux.seccomp.listenerPath: sending the seccomp fd to "
                       f"{seccomp_filter.listener_path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
        sock.close()
