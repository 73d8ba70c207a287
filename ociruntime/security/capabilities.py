"""Linux capabilities (config.md "process.capabilities"): the five sets as 64-bit masks."""

from __future__ import annotations

from .. import _shim
from ..errors import ConfigError

#: capability names by number (capability.h); index = bit
NAMES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
]
SETS = ("bounding", "effective", "permitted", "inheritable", "ambient")


def last_cap() -> int:
    """The highest capability number the running kernel knows."""
    with open("/proc/sys/kernel/cap_last_cap") as f:
        return int(f.read())


def known() -> list[str]:
    """Names of the capabilities both we and the kernel know."""
    return NAMES[: last_cap() + 1]


def masks(config: dict, warn=None) -> dict[str, int] | None:
    """The five sets as bit masks, or None when the config sets no capabilities (then the
    process keeps what it has, as runc does).  Names this kernel does not know are skipped
    with a warning: the runtime-spec (1.1 on) says a runtime SHOULD NOT fail for them."""
    caps = config.get("process", {}).get("capabilities")
    if caps is None:
        return None
    available = {name: bit for bit, name in enumerate(known())}
    result = {}
    for kind in SETS:
        mask = 0
        for name in caps.get(kind) or []:
            if name in available:
                mask |= 1 << available[name]
            elif warn is not None:
                warn(f"process.capabilities.{kind}: unknown capability {name!r} on this kernel, ignored")
        result[kind] = mask
    return result


def drop_bounding(bounding: int) -> None:
    """Removes from the bounding set every capability not in ``bounding`` (needs CAP_SETPCAP,
    so it runs before the user switch)."""
    for bit in range(last_cap() + 1):
        if not bounding & (1 << bit):
            _shim.prctl(_shim.PR_CAPBSET_DROP, bit)


def apply(sets: dict[str, int]) -> None:
    """Sets effective/permitted/inheritable, then raises the ambient ones (after the user
    switch).  The kernel raises only ambient capabilities that are also permitted and
    inheritable; the others are skipped, as runc does (``create`` warns about them)."""
    _shim.capset(sets["effective"], sets["permitted"], sets["inheritable"])
    _shim.prctl(_shim.PR_CAP_AMBIENT, _shim.PR_CAP_AMBIENT_CLEAR_ALL)
    ambient = raisable_ambient(sets)
    for bit in range(last_cap() + 1):
        if ambient & (1 << bit):
            _shim.prctl(_shim.PR_CAP_AMBIENT, _shim.PR_CAP_AMBIENT_RAISE, bit)


def raisable_ambient(sets: dict[str, int]) -> int:
    return sets["ambient"] & sets["permitted"] & sets["inheritable"]


def names(mask: int) -> list[str]:
    return [name for bit, name in enumerate(NAMES) if mask & (1 << bit)]


def own_bounding() -> int:
    """The runtime's own bounding set: nothing outside it can be granted to a container."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return (1 << (last_cap() + 1)) - 1


def check_grantable(sets: dict[str, int]) -> None:
    """Fails early, naming the set and capabilities, instead of a bare EPERM from capset."""
    available = own_bounding()
    for kind in ("effective", "permitted", "inheritable"):
        missing = sets[kind] & ~available
        if missing:
            raise ConfigError(f"process.capabilities.{kind}: {', '.join(names(missing))} not in "
                              "the runtime's own bounding set, cannot be granted")
