"""What every container process gets just before it execs, the init and ``exec``'d
processes alike (config.md "Process"): cwd, environment, I/O priority, CPU affinity,
scheduler, memory policy, personality, LSM labels, rlimits, user, capabilities,
no_new_privs, seccomp, signal dispositions and the fds it keeps; then the exec through the
sealed trampoline.  Kept apart from ``init`` so that ``exec`` loads none of the rootfs code.
"""

from __future__ import annotations

import errno
import fcntl
import os
import resource
import _signal  # the C module: signal.py builds enums at import
import _socket
import stat

from .. import _shim
from ..cgroups import Manager
from ..errors import OCIError
from ..security import capabilities, lsm, seccomp
from ..spec.support import parse_cpu_list

TRAMPOLINE_ARGV0 = "ociruntime-exec"
TRAMPOLINE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ociruntime-exec")
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


class InitContext:
    """What the container side needs (the init, or a process ``exec`` starts), prepared by
    the runtime before the fork.  (A plain class: importing dataclasses costs more than all
    of ``state``.)"""

    def __init__(self, config: dict, bundle: str, rootfs: str, state_dir: str, cgroup: Manager,
                 trampoline_fd: int, no_pivot: bool = False, no_new_keyring: bool = False,
                 preserve_fds: int = 0, capabilities: dict | None = None):
        self.config = config
        self.bundle = bundle
        self.rootfs = rootfs
        self.state_dir = state_dir
        self.cgroup = cgroup
        self.trampoline_fd = trampoline_fd
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.preserve_fds = preserve_fds
        self.capabilities = capabilities
        #: kept for the process when process.user.umask is unset (config.md)
        self.caller_umask = 0o022
        #: linux.seccomp as a libseccomp filter, built in the init before pivot_root
        self.seccomp_filter = None
        #: the init's PID as the runtime sees it (for a seccomp agent)
        self.host_pid = 0
        #: the socket ``start`` connects to, bound by the runtime (see parent.py)
        self.listener: _socket.socket | None = None
        #: mount index -> detached idmapped tree, prepared by the runtime (idmap.py)
        self.idmapped_trees: dict[int, int] = {}
        #: process.terminal: the connected console socket the pty master goes to
        self.console = None  # a connected socket.socket


def set_oom_score_adj(process: dict) -> None:
    """Set while we are still the runtime's user: lowering it needs CAP_SYS_RESOURCE, which
    a process in a new user namespace lacks.  The init inherits it."""
    if "oomScoreAdj" in process:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(process["oomScoreAdj"]))


def container_state(ctx: InitContext, status: str) -> dict:
    """The state document container-namespace hooks get on stdin: runtime.md says their
    ``pid`` is the container process as the container sees it (1 in a new PID namespace)."""
    state = {"ociVersion": ctx.config["ociVersion"], "id": os.path.basename(ctx.state_dir),
             "status": status, "pid": os.getpid(), "bundle": ctx.bundle}
    if ctx.config.get("annotations"):
        state["annotations"] = ctx.config["annotations"]
    return state


def become_process(ctx: InitContext, keep: int, status: str) -> tuple[str, dict]:
    """The process's cwd, identity, signals and fds; returns (executable, environment).
    Only 0-2, the preserved fds and ``keep`` (start's socket, or exec's status pipe) stay
    open across exec."""
    process = ctx.config["process"]
    env = environment(process)
    path = find_executable(process["args"][0], env)
    try:
        os.chdir(process.get("cwd", "/"))
    except OSError as err:
        raise OCIError(f"process.cwd: {process.get('cwd')}: {err.strerror}") from None
    if os.getcwd().startswith("(unreachable)"):
        raise OCIError(f"process.cwd: {process.get('cwd')} is outside the container")
    nnp = bool(process.get("noNewPrivileges"))
    if ctx.seccomp_filter is not None:
        state = container_state(ctx, status) | {"pid": ctx.host_pid}
        seccomp.prepare_notify(ctx.seccomp_filter, ctx.config["linux"]["seccomp"], state)
    _set_io_priority(process)
    set_cpu_affinity(ctx.config, "final")
    _set_scheduler(process)
    _set_memory_policy(ctx.config)
    _set_personality(ctx.config)
    lsm.apply_exec_labels(process)
    _set_identity(process, ctx.capabilities, ctx.caller_umask,
                  None if nnp else ctx.seccomp_filter)
    _reset_signals()
    _close_fds(ctx.preserve_fds, keep)
    if nnp and ctx.seccomp_filter is not None:
        # last: only the exec of the trampoline and its own syscalls (see security/seccomp.py)
        seccomp.load(ctx.seccomp_filter)
    return path, env


def set_cpu_affinity(config: dict, key: str) -> None:
    """process.execCPUAffinity.initial (the init, first thing) or .final (just before exec)."""
    text = ((config.get("process") or {}).get("execCPUAffinity") or {}).get(key)
    if text:
        path = f"process.execCPUAffinity.{key}"
        try:
            os.sched_setaffinity(0, parse_cpu_list(text, path))
        except OSError as err:
            raise OCIError(f"{path}: {text}: sched_setaffinity: {err.strerror}") from None


def _set_io_priority(process: dict) -> None:
    """process.ioPriority, set before capabilities are dropped (the RT class needs
    CAP_SYS_NICE or CAP_SYS_ADMIN)."""
    prio = process.get("ioPriority")
    if prio:
        try:
            _shim.ioprio_set(_shim.IOPRIO_CLASSES[prio["class"]], prio["priority"])
        except OSError as err:
            raise OCIError(f"process.ioPriority: {prio['class']} {prio['priority']}: "
                           f"{err.strerror}") from None


def _set_scheduler(process: dict) -> None:
    """process.scheduler with sched_setattr(2), before capabilities are dropped (negative
    nice and real-time policies need CAP_SYS_NICE); support.py checked the values."""
    sched = process.get("scheduler")
    if sched:
        flags = 0
        for name in sched.get("flags") or []:
            flags |= _shim.SCHED_FLAGS[name]
        try:
            _shim.sched_setattr(_shim.SCHED_POLICIES[sched["policy"]], flags,
                                sched.get("nice", 0), sched.get("priority", 0),
                                sched.get("runtime", 0), sched.get("deadline", 0),
                                sched.get("period", 0))
        except OSError as err:
            hint = ""
            if err.errno == errno.EPERM and sched["policy"] in ("SCHED_FIFO", "SCHED_RR"):
                hint = (" (with RT group scheduling the container's cpu cgroup needs "
                        "cpu.rt_runtime_us > 0)")
            raise OCIError(f"process.scheduler: {sched['policy']}: {err.strerror}"
                           f"{hint}") from None


def _set_memory_policy(config: dict) -> None:
    """linux.memoryPolicy with set_mempolicy(2): the process inherits it across execve
    (support.py checked mode, flags and nodes)."""
    policy = (config.get("linux") or {}).get("memoryPolicy")
    if policy:
        mode = _shim.MPOL_MODES[policy["mode"]]
        for name in policy.get("flags") or []:
            mode |= _shim.MPOL_FLAGS[name]
        try:
            _shim.set_mempolicy(mode, parse_cpu_list(policy.get("nodes", ""),
                                                     "linux.memoryPolicy.nodes"))
        except OSError as err:
            raise OCIError(f"linux.memoryPolicy: {policy['mode']}: {err.strerror}") from None


def _set_personality(config: dict) -> None:
    """linux.personality (before seccomp is loaded: a profile may deny personality(2))."""
    domain = (config.get("linux") or {}).get("personality", {}).get("domain")
    if domain:
        try:
            _shim.personality(_shim.PERSONALITY_DOMAINS[domain])
        except OSError as err:
            raise OCIError(f"linux.personality.domain: {domain}: {err.strerror}") from None


def sealed_trampoline() -> int:
    """A sealed, close-on-exec memfd copy of the exec trampoline (see csrc/exec_trampoline.c):
    nothing in the container can ever write the file its process was started from."""
    try:
        source = os.open(TRAMPOLINE, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise OCIError(f"{TRAMPOLINE}: {err.strerror} (is ociruntime installed correctly?)") from None
    memfd = os.memfd_create("ociruntime-exec", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        size = os.fstat(source).st_size
        while os.sendfile(memfd, source, None, size) > 0:
            pass
        os.fchmod(memfd, 0o555)
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, _SEALS)
    finally:
        os.close(source)
    return memfd


def exec_process(ctx: InitContext, status: str, path: str, env: dict) -> None:
    """Execs the sealed trampoline, which execs the process (see csrc/exec_trampoline.c)."""
    os.execve(ctx.trampoline_fd, [TRAMPOLINE_ARGV0, status, path, *ctx.config["process"]["args"]], env)


def _set_identity(process: dict, capability_sets: dict[str, int] | None, umask: int,
                  seccomp_filter=None) -> None:
    """rlimits, user and groups, capabilities, no_new_privs, umask: runc's order.
    ``seccomp_filter`` is given only without no_new_privs: loading it then needs
    CAP_SYS_ADMIN, so it is loaded before the user changes and capabilities are dropped."""
    for index, rlimit in enumerate(process.get("rlimits") or []):
        kind = getattr(resource, rlimit["type"], None)
        if kind is None:
            raise OCIError(f"process.rlimits[{index}].type: {rlimit['type']} is not known on this host")
        try:
            resource.prlimit(0, kind, (rlimit["soft"], rlimit["hard"]))
        except (OSError, ValueError) as err:
            raise OCIError(f"process.rlimits[{index}]: setting {rlimit['type']}: {err}") from None
    sets = capability_sets
    if sets is not None:
        _shim.prctl(_shim.PR_SET_KEEPCAPS, 1)
        capabilities.drop_bounding(sets["bounding"])
    if seccomp_filter is not None:
        seccomp.load(seccomp_filter)
    user = process.get("user", {})
    uid, gid = user.get("uid", 0), user.get("gid", 0)
    os.setgroups(user.get("additionalGids") or [])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if sets is not None:
        _shim.prctl(_shim.PR_SET_KEEPCAPS, 0)
        capabilities.apply(sets)
    if process.get("noNewPrivileges"):
        _shim.prctl(_shim.PR_SET_NO_NEW_PRIVS, 1)
    os.umask(user.get("umask", umask))


def _reset_signals() -> None:
    """Python ignores SIGPIPE and SIGXFSZ; ignored signals survive exec, so restore every
    disposition and unblock everything before the process starts."""
    for sig in _signal.valid_signals():
        if sig not in (_signal.SIGKILL, _signal.SIGSTOP):
            try:
                _signal.signal(sig, _signal.SIG_DFL)
            except (OSError, ValueError):
                pass
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


def _close_fds(preserve: int, keep: int) -> None:
    """Only 0-2 and the preserved fds may reach the container: everything else is marked
    close-on-exec; ``keep`` (start's socket) is closed by the trampoline itself."""
    _shim.close_range(3 + preserve, flags=_shim.CLOSE_RANGE_CLOEXEC)
    for fd in range(3, 3 + preserve):
        os.set_inheritable(fd, True)
    os.set_inheritable(keep, True)


def environment(process: dict) -> dict[str, str]:
    """process.env as a dict, with HOME defaulted as runc does."""
    env = dict(item.split("=", 1) if "=" in item else (item, "") for item in process.get("env") or [])
    if "HOME" not in env:
        env["HOME"] = _home_of(process.get("user", {}).get("uid", 0))
    return env


def _home_of(uid: int) -> str:
    """The home directory of ``uid`` in the container's /etc/passwd, else "/"."""
    try:
        with open("/etc/passwd") as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid):
                    return fields[5] or "/"
    except OSError:
        pass
    return "/"


def find_executable(name: str, env: dict[str, str]) -> str:
    """Resolves process.args[0] like execvp, with the container's PATH; errors use the
    wording engines match on."""
    if "/" in name:
        if not os.path.exists(name):
            raise OCIError(f'exec: "{name}": no such file or directory')
        if not _is_executable(name):
            raise OCIError(f'exec: "{name}": permission denied')
        return name
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", name)
        if _is_executable(candidate):
            return candidate
    raise OCIError(f'exec: "{name}": executable file not found in $PATH')


def _is_executable(path: str) -> bool:
    """A regular file with an execute bit: what execvp would try to run."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)
