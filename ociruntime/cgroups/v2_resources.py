"""``linux.resources`` on cgroup v2: one small function per controller.

Each function turns its part of the config into ``Write``s (file, value, JSON field), with
the v1 units of the spec converted the way runc does (cpu shares to cpu.weight, blkio weight
to io.weight, v1's memory+swap limit to memory.swap.max).  Everything is checked before the
first file is written, so a refused config changes nothing.  Fields with no v2 file are
refused with their JSON path unless they hold the neutral default: runc ignores them
silently, this project never ignores configuration.
"""

from __future__ import annotations

import os

from ..errors import CgroupError, ConfigError, NotSupportedError

PREFIX = "linux.resources"
DEFAULT_CPU_PERIOD = 100000  # µs, the kernel's default (cgroup-v2.rst, cpu.max)


class Write(tuple):
    """One file write: (file, value, field), ``field`` being the JSON path below
    linux.resources that error messages name.  (A tuple of its own: typing.NamedTuple would
    add milliseconds to every create on a cgroup v2 host.)"""

    __slots__ = ()

    def __new__(cls, file: str, value: str, field: str):
        return tuple.__new__(cls, (file, value, field))

    file = property(lambda self: self[0])
    value = property(lambda self: self[1])
    field = property(lambda self: self[2])


def apply(path: str, resources: dict) -> None:
    """Writes every field of ``resources`` (devices excepted) into the cgroup at ``path``."""
    for write in plan(path, resources):
        _write(path, write)


def plan(path: str, resources: dict) -> list[Write]:
    """The writes for ``resources`` in runc's order (unified last, so it wins); raises
    ConfigError/NotSupportedError naming the field before anything is written."""
    _refuse_v1_only(resources)
    writes: list[Write] = []
    for part in (_pids, _memory, _io, _cpu, _cpuset, _hugetlb, _rdma, _unified):
        writes += part(path, resources)
    return writes


def _write(path: str, write: Write) -> None:
    """One write(2) per value (the kernel parses each write as a whole); no O_CREAT, so a
    file the cgroup lacks is reported as missing rather than as a permission error."""
    try:
        fd = os.open(os.path.join(path, write.file), os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, write.value.encode())
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise CgroupError(f"{PREFIX}.{write.field}: the container's cgroup has no {write.file} "
                          "(controller not available, or not in this kernel)") from None
    except OSError as err:
        raise CgroupError(f"{PREFIX}.{write.field}: writing {write.value!r} to {write.file}: "
                          f"{err.strerror}") from None


# Fields with no cgroup v2 file: (section, key, accepted values).  runc ignores them.
_V1_ONLY: tuple[tuple[str, str, tuple], ...] = (
    ("memory", "kernel", (None,)),
    ("memory", "kernelTCP", (None,)),
    ("memory", "swappiness", (None,)),
    ("memory", "disableOOMKiller", (None, False)),
    ("memory", "useHierarchy", (None, True)),  # v2 is always hierarchical
    ("cpu", "realtimeRuntime", (None,)),
    ("cpu", "realtimePeriod", (None,)),
    ("blockIO", "leafWeight", (None,)),
    ("network", "classID", (None,)),
    ("network", "priorities", (None, [])),
)


def _refuse_v1_only(resources: dict) -> None:
    for section, key, neutral in _V1_ONLY:
        value = (resources.get(section) or {}).get(key)
        if value not in neutral:
            raise NotSupportedError(f"{PREFIX}.{section}.{key}: cgroup v2 has no equivalent")
    for i, entry in enumerate((resources.get("blockIO") or {}).get("weightDevice") or []):
        if entry.get("leafWeight") is not None:
            raise NotSupportedError(f"{PREFIX}.blockIO.weightDevice[{i}].leafWeight: cgroup v2 "
                                    "has no equivalent")


def _limit(value: int) -> str:
    """A v2 limit from a v1-style number: -1 (v1's "no limit") is "max"."""
    return "max" if value == -1 else str(value)


def _pids(path: str, resources: dict) -> list[Write]:
    pids = resources.get("pids")
    if not pids or pids.get("limit") is None:
        return []
    limit = pids["limit"]
    return [Write("pids.max", "max" if limit <= 0 else str(limit), "pids.limit")]


def _memory(path: str, resources: dict) -> list[Write]:
    memory = resources.get("memory") or {}
    limit, swap = memory.get("limit") or 0, memory.get("swap") or 0
    writes = []
    swap_max = swap_v2(swap, limit)
    if swap_max is not None:
        writes.append(Write("memory.swap.max", swap_max, "memory.swap"))
    if limit:
        if memory.get("checkBeforeUpdate") and limit > 0:
            _check_usage(path, limit)
        writes.append(Write("memory.max", _limit(limit), "memory.limit"))
    if memory.get("reservation"):
        writes.append(Write("memory.low", _limit(memory["reservation"]), "memory.reservation"))
    return writes


def swap_v2(swap: int, limit: int) -> str | None:
    """memory.swap.max from the spec's v1 memory+swap limit (runc's conversion); None: leave
    it.  An unlimited memory limit with no swap value makes swap unlimited too."""
    if limit == -1 and swap == 0:
        return "max"
    if swap in (0, -1):
        return "max" if swap == -1 else None
    if limit in (0, -1):
        raise ConfigError(f"{PREFIX}.memory.swap: a swap limit needs a memory limit")
    if swap < limit:
        raise ConfigError(f"{PREFIX}.memory.swap: {swap} is less than memory.limit ({limit}): "
                          "it is the limit of memory and swap together")
    return str(swap - limit)


def _check_usage(path: str, limit: int) -> None:
    """memory.checkBeforeUpdate: refuse a limit below what the cgroup already uses."""
    try:
        with open(os.path.join(path, "memory.current")) as f:
            usage = int(f.read())
    except FileNotFoundError:
        return  # no memory controller: the write of memory.max reports it
    if limit < usage:
        raise ConfigError(f"{PREFIX}.memory.limit: {limit} is below the current usage ({usage})")


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), runc's linear map."""
    return 1 + _div((shares - 2) * 9999, 262142)


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) to io.weight (1..10000), runc's linear map."""
    return 1 + _div((weight - 10) * 9999, 990)


def _div(a: int, b: int) -> int:
    """Integer division truncating toward zero (Go's), which the formulas assume."""
    return -(-a // b) if a < 0 else a // b


def _cpu(path: str, resources: dict) -> list[Write]:
    cpu = resources.get("cpu") or {}
    writes = []
    if cpu.get("idle") is not None:  # first: the kernel refuses a weight for an idle group
        writes.append(Write("cpu.idle", str(cpu["idle"]), "cpu.idle"))
    if cpu.get("shares"):
        writes.append(Write("cpu.weight", str(shares_to_weight(cpu["shares"])), "cpu.shares"))
    quota, period, burst = cpu.get("quota") or 0, cpu.get("period") or 0, cpu.get("burst")
    if quota or period:
        if burst is not None:  # burst must never exceed the quota: clear it while they change
            writes.append(Write("cpu.max.burst", "0", "cpu.burst"))
        writes.append(Write("cpu.max", _cpu_max(path, quota, period),
                            "cpu.quota" if quota else "cpu.period"))
    if burst is not None:
        writes.append(Write("cpu.max.burst", str(burst), "cpu.burst"))
    return writes


def _cpu_max(path: str, quota: int, period: int) -> str:
    """cpu.max "QUOTA PERIOD": quota -1 is "max"; a missing quota or period keeps the current
    one (a period alone must not lift the quota on ``update``)."""
    current = _read(path, "cpu.max").split() or ["max", str(DEFAULT_CPU_PERIOD)]
    quota_text = current[0] if quota == 0 else ("max" if quota < 0 else str(quota))
    return f"{quota_text} {period or current[1]}"


def _read(path: str, name: str) -> str:
    try:
        with open(os.path.join(path, name)) as f:
            return f.read()
    except FileNotFoundError:
        return ""


def _cpuset(path: str, resources: dict) -> list[Write]:
    cpu = resources.get("cpu") or {}
    return [Write(f"cpuset.{key}", cpu[key], f"cpu.{key}") for key in ("cpus", "mems")
            if cpu.get(key)]


def _io(path: str, resources: dict) -> list[Write]:
    blkio = resources.get("blockIO") or {}
    bfq = os.path.exists(os.path.join(path, "io.bfq.weight"))
    writes = []
    if blkio.get("weight"):
        writes.append(_io_weight(bfq, "default", blkio["weight"], "blockIO.weight"))
    for i, entry in enumerate(blkio.get("weightDevice") or []):
        if entry.get("weight") is not None:
            device = f"{entry['major']}:{entry['minor']}"
            writes.append(_io_weight(bfq, device, entry["weight"], f"blockIO.weightDevice[{i}]"))
    for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                      ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for i, entry in enumerate(blkio.get(key) or []):
            writes.append(Write("io.max", f"{entry['major']}:{entry['minor']} {name}={entry['rate']}",
                                f"blockIO.{key}[{i}]"))
    return writes


def _io_weight(bfq: bool, device: str, weight: int, field: str) -> Write:
    """BFQ takes blkio's own 10..1000 scale; io.weight (iocost) needs the conversion."""
    if bfq:
        return Write("io.bfq.weight", f"{device} {weight}", field)
    return Write("io.weight", f"{device} {blkio_to_io_weight(weight)}", field)


def _hugetlb(path: str, resources: dict) -> list[Write]:
    """The limit goes to hugetlb.<size>.max and, where the kernel has reservation
    accounting, to .rsvd.max too (the spec prefers reservations; runc writes both)."""
    writes = []
    for i, entry in enumerate(resources.get("hugepageLimits") or []):
        size, field = entry["pageSize"], f"hugepageLimits[{i}]"
        if not _is_name(size) or not os.path.exists(os.path.join(path, f"hugetlb.{size}.max")):
            raise NotSupportedError(f"{PREFIX}.{field}.pageSize: {size!r}: no such huge page "
                                    "size in the container's cgroup")
        writes.append(Write(f"hugetlb.{size}.max", str(entry["limit"]), field))
        if os.path.exists(os.path.join(path, f"hugetlb.{size}.rsvd.max")):
            writes.append(Write(f"hugetlb.{size}.rsvd.max", str(entry["limit"]), field))
    return writes


def _rdma(path: str, resources: dict) -> list[Write]:
    writes = []
    for device, limits in (resources.get("rdma") or {}).items():
        parts = [device] + [f"{name}={limits[key]}" for key, name in
                            (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object"))
                            if limits.get(key) is not None]
        writes.append(Write("rdma.max", " ".join(parts), f"rdma.{device}"))
    return writes


def _unified(path: str, resources: dict) -> list[Write]:
    """Written as given, but only to an existing file of the container's own cgroup."""
    writes = []
    for key, value in (resources.get("unified") or {}).items():
        field = f"unified.{key}"
        if not _is_name(key):
            raise ConfigError(f"{PREFIX}.{field}: not a file name of the cgroup")
        if not os.path.isfile(os.path.join(path, key)):
            raise NotSupportedError(f"{PREFIX}.{field}: the container's cgroup has no such file "
                                    "(controller not available on this host?)")
        writes.append(Write(key, value, field))
    return writes


def _is_name(name: str) -> bool:
    """A plain file name: nothing that could leave the cgroup directory."""
    return bool(name) and "/" not in name and "\0" not in name and name not in (".", "..")

