"""The config fields this runtime cannot apply yet: refused with the JSON path, never ignored."""

from __future__ import annotations

import os

from ..errors import ConfigError, NotSupportedError

#: namespace types we create or join
NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time")
#: the clocks a time namespace can offset (time_namespaces(7))
TIME_CLOCKS = ("monotonic", "boottime")

_OTHER_PLATFORMS = ("windows", "solaris", "vm", "zos")


def check_supported(config: dict) -> None:
    """Raises NotSupportedError for the first field we would otherwise have to ignore."""
    if "process" not in config:
        raise NotSupportedError("process: required: ociruntime starts a process in every container")
    for platform in _OTHER_PLATFORMS:
        if platform in config:
            raise NotSupportedError(f"{platform}: not applicable to a Linux container")
    check_process(config)
    if (config.get("linux") or {}).get("personality", {}).get("flags"):
        raise NotSupportedError("linux.personality.flags: no flags are supported "
                                "(the runtime-spec defines none)")
    _check_namespaces(config.get("linux", {}).get("namespaces", []))
    _check_user_and_time(config.get("linux", {}))
    _check_intel_rdt((config.get("linux") or {}).get("intelRdt"))
    if (config.get("linux") or {}).get("memoryPolicy"):
        _check_memory_policy(config["linux"]["memoryPolicy"])
    if (config.get("linux") or {}).get("netDevices"):
        from ..netdevices import check

        check(config)
    check_resources(config.get("linux", {}).get("resources", {}))
    _check_mounts(config)
    if config.get("linux", {}).get("seccomp") is not None:
        _check_seccomp(config["linux"]["seccomp"])


def check_process(config: dict) -> None:
    """The checks of ``process`` beyond the schema (also run on the process of an exec)."""
    process = config["process"]
    if process.get("scheduler"):
        _check_scheduler(process["scheduler"])
    _check_exec_cpu_affinity(process.get("execCPUAffinity") or {})
    from ..security import lsm

    lsm.check(config)


def _check_seccomp(seccomp: dict) -> None:
    """Builds (and drops) the filter, so a bad profile fails before anything is created;
    the init builds it again before pivot_root and loads it just before the exec."""
    from ..security import seccomp as scmp

    scmp.build(seccomp).release()


def _check_scheduler(sched: dict) -> None:
    """process.scheduler: what sched_setattr(2) would refuse with a bare EINVAL."""
    policy = sched["policy"]
    if policy == "SCHED_ISO":
        raise NotSupportedError("process.scheduler.policy: SCHED_ISO is not implemented by Linux")
    nice, priority = sched.get("nice", 0), sched.get("priority", 0)
    if not -20 <= nice <= 19:
        raise ConfigError(f"process.scheduler.nice: {nice} is outside -20..19")
    if policy in ("SCHED_FIFO", "SCHED_RR"):
        if not 1 <= priority <= 99:
            raise ConfigError(f"process.scheduler.priority: {priority} is outside 1..99 "
                              f"(required for {policy})")
    elif priority != 0:
        raise ConfigError(f"process.scheduler.priority: {priority}: must be 0 for {policy}")
    if policy == "SCHED_DEADLINE":
        runtime, deadline = sched.get("runtime", 0), sched.get("deadline", 0)
        period = sched.get("period", 0)
        if deadline == 0:
            raise ConfigError("process.scheduler.deadline: required for SCHED_DEADLINE")
        if runtime < 1024:
            raise ConfigError(f"process.scheduler.runtime: {runtime}: SCHED_DEADLINE needs at "
                              "least 1024 (ns)")
        if runtime > deadline:
            raise ConfigError(f"process.scheduler.runtime: {runtime} is greater than "
                              f"the deadline ({deadline})")
        if period and period < deadline:
            raise ConfigError(f"process.scheduler.period: {period} is less than "
                              f"the deadline ({deadline})")


def parse_cpu_list(text: str, path: str, count: int | None = None) -> set[int]:
    """A cpu (or NUMA node) list like "0-1,3" (the schema checked its form) as a set of numbers;
    with ``count``, refuses CPUs from ``count`` on before building anything."""
    cpus: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        low, high = int(first), int(last or first)
        if low > high:
            raise ConfigError(f"{path}: {part!r}: range ends before it starts")
        if count is not None and high >= count:
            raise ConfigError(f"{path}: CPU {max(low, count)} does not exist on this host "
                              f"(CPUs 0-{count - 1})")
        cpus.update(range(low, high + 1))
    return cpus


#: set_mempolicy(2) modes that need a nodemask, and those that take none
_MPOL_NEED_NODES = ("MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE", "MPOL_PREFERRED_MANY")
_MPOL_NO_NODES = ("MPOL_DEFAULT", "MPOL_LOCAL")
NUMA_NODES = "/sys/devices/system/node/online"


def _check_memory_policy(policy: dict) -> None:
    """linux.memoryPolicy: what set_mempolicy(2) would refuse in the init with a bare EINVAL
    (the man page's rules), and nodes this host does not have."""
    from .. import _shim

    mode, flags = policy["mode"], policy.get("flags") or []
    if mode not in _shim.MPOL_MODES:
        raise NotSupportedError(f"linux.memoryPolicy.mode: {mode} is not known")
    for flag in flags:
        if flag not in _shim.MPOL_FLAGS:
            raise NotSupportedError(f"linux.memoryPolicy.flags: {flag} is not known")
    nodes = parse_cpu_list(policy.get("nodes", ""), "linux.memoryPolicy.nodes")
    if mode in _MPOL_NO_NODES:
        if nodes:
            raise ConfigError(f"linux.memoryPolicy.nodes: {mode} takes no nodes")
        if flags:
            raise ConfigError(f"linux.memoryPolicy.flags: {mode} takes no flags")
    elif not nodes and (mode in _MPOL_NEED_NODES or flags):
        raise ConfigError(f"linux.memoryPolicy.nodes: required for {mode}"
                          + (f" with {flags[0]}" if mode not in _MPOL_NEED_NODES else ""))
    if {"MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"} <= set(flags):
        raise ConfigError("linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and "
                          "MPOL_F_RELATIVE_NODES exclude each other")
    if "MPOL_F_NUMA_BALANCING" in flags and mode not in ("MPOL_BIND", "MPOL_PREFERRED_MANY"):
        raise ConfigError(f"linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING needs MPOL_BIND or "
                          f"MPOL_PREFERRED_MANY, not {mode}")
    if "MPOL_F_RELATIVE_NODES" not in flags:  # relative nodes are positions, not node IDs
        _check_nodes_exist(nodes)


def _check_nodes_exist(nodes: set[int]) -> None:
    try:
        with open(NUMA_NODES) as f:
            online = parse_cpu_list(f.read().strip(), NUMA_NODES)
    except FileNotFoundError:
        raise NotSupportedError("linux.memoryPolicy: this kernel has no NUMA support "
                                f"({NUMA_NODES} is missing)") from None
    missing = sorted(nodes - online)
    if missing:
        have = ",".join(map(str, sorted(online)))
        raise ConfigError(f"linux.memoryPolicy.nodes: node {missing[0]} does not exist on this "
                          f"host (nodes {have})")


def _check_exec_cpu_affinity(affinity: dict) -> None:
    """execCPUAffinity: only CPUs this host has (sched_setaffinity would fail in the init)."""
    for key in ("initial", "final"):
        if affinity.get(key):
            parse_cpu_list(affinity[key], f"process.execCPUAffinity.{key}", os.cpu_count() or 1)


def _check_namespaces(namespaces: list) -> None:
    for i, ns in enumerate(namespaces):
        kind = ns["type"]
        if kind not in NAMESPACES:
            raise NotSupportedError(f"linux.namespaces[{i}]: {kind} namespaces are not supported yet")


def _check_intel_rdt(rdt: dict | None) -> None:
    """resctrl is not driven by this runtime: refused, saying whether the host has it."""
    if rdt:
        reason = ("applying it is not implemented" if os.path.isdir("/sys/fs/resctrl/info")
                  else "this host has no resctrl filesystem mounted at /sys/fs/resctrl")
        raise NotSupportedError(f"linux.intelRdt: {reason}")


def _check_user_and_time(linux: dict) -> None:
    """The pairings runc insists on: ID maps go with a user namespace, offsets with a new
    time namespace (a joined one has its offsets already)."""
    kinds = {ns["type"]: ns for ns in linux.get("namespaces", [])}
    user = kinds.get("user")
    if linux.get("uidMappings") and user is None:
        raise ConfigError('linux.uidMappings: given without a user namespace '
                          '(linux.namespaces has no "user" entry)')
    if user is not None and not user.get("path") and not linux.get("uidMappings"):
        raise ConfigError("linux.uidMappings: required to create a user namespace "
                          "(and linux.gidMappings)")
    offsets = linux.get("timeOffsets")
    if offsets:
        if "time" not in kinds:
            raise ConfigError('linux.timeOffsets: given without a time namespace '
                              '(linux.namespaces has no "time" entry)')
        if kinds["time"].get("path"):
            raise ConfigError("linux.timeOffsets: cannot be applied to a joined time namespace")
        for clock, offset in offsets.items():
            if clock not in TIME_CLOCKS:
                raise ConfigError(f"linux.timeOffsets.{clock}: not a clock a time namespace "
                                  f"can offset ({', '.join(TIME_CLOCKS)})")
            if offset.get("nanosecs", 0) >= 1_000_000_000:
                raise ConfigError(f"linux.timeOffsets.{clock}.nanosecs: "
                                  f"{offset['nanosecs']} is not below one second")


def check_resources(resources: dict) -> None:
    """What no host accepts (beyond the schema), refused before anything is created;
    whether the host has a controller or file is checked by the cgroup manager."""
    cpu = resources.get("cpu") or {}
    quota, burst = cpu.get("quota") or 0, cpu.get("burst") or 0
    if quota > 0 and burst > quota:
        raise ConfigError(f"linux.resources.cpu.burst: {burst} is larger than the quota ({quota})")


def _check_mounts(config: dict) -> None:
    for i, mount in enumerate(config.get("mounts", [])):
        if mount.get("uidMappings") or mount.get("gidMappings") or {"idmap", "ridmap"} & set(
                mount.get("options", [])):
            _check_idmapped(i, mount, config)


def _check_idmapped(index: int, mount: dict, config: dict) -> None:
    """config.md: [r]idmap MUST apply a mapping: the mount's own (uid and gid together),
    else the container's user namespace's, else an error."""
    from .. import idmap
    from ..rootfs import is_bind

    option = idmap.kind(mount)
    if not is_bind(mount):
        raise NotSupportedError(f"mounts[{index}]: {option}: only bind mounts can be idmapped")
    where, uids, gids = idmap.mappings(index, mount, config)
    if not uids and not gids:
        raise ConfigError(f"mounts[{index}].options: {option!r} needs uidMappings and gidMappings: "
                          "the mount has none and the container no user namespace mappings")
    if not uids or not gids:
        missing = "uidMappings" if not uids else "gidMappings"
        raise ConfigError(f"{where}.{missing}: required (non-empty) with the other mappings "
                          "of an idmapped mount")
