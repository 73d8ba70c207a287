"""Cgroup statistics in the shape ``runc events`` prints (runc's types.Stats), for both drivers.

The drivers read their own files; this module holds the file parsers they share and builds
the JSON document.  runc encodes with Go's ``omitempty``: zero counters and empty lists are
left out, except where runc always prints them (``limit`` and ``failcnt`` of a memory entry,
``kernel``/``user`` of the CPU usage, a hugetlb ``failcnt``); ``omit_zero`` applies that rule.
"""

from __future__ import annotations

#: what the kernel prints for "no limit" on v2 (``max``), reported as runc does (2^64 - 1)
UNLIMITED = (1 << 64) - 1

#: cpuset fields runc always prints (not omitempty)
CPUSET_FIELDS = ("cpu_exclusive", "mem_hardwall", "mem_exclusive", "memory_migrate",
                  "memory_spread_page", "memory_spread_slab", "memory_pressure",
                  "sched_load_balance")


def read_text(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def read_int(path: str, max_value: int = 0) -> int:
    """An integer file; ``max`` (v2's "no limit") reads as ``max_value``; missing as 0."""
    text = read_text(path)
    if not text:
        return 0
    if text == "max":
        return max_value
    return int(text)


def read_keyed(path: str) -> dict[str, int]:
    """A flat keyed file (``key value`` lines: memory.stat, cpu.stat, memory.events...)."""
    text = read_text(path) or ""
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


def read_ints(path: str) -> list[int]:
    """A space-separated list of integers (cpuacct.usage_percpu)."""
    return [int(word) for word in (read_text(path) or "").split()]


def parse_list(text: str | None) -> list[int]:
    """A kernel list like ``0-3,8`` -> [0, 1, 2, 3, 8]."""
    numbers: list[int] = []
    for part in (text or "").split(","):
        if part:
            low, _, high = part.partition("-")
            numbers.extend(range(int(low), int(high or low) + 1))
    return numbers


def omit_zero(values: dict, keep: tuple = ()) -> dict:
    """Go's omitempty: drops zero, empty and None values except the keys in ``keep``."""
    return {key: value for key, value in values.items() if value or key in keep}


def memory_entry(limit: int, usage: int = 0, max_usage: int = 0, failcnt: int = 0) -> dict:
    return omit_zero({"limit": limit, "usage": usage, "max": max_usage, "failcnt": failcnt},
                     keep=("limit", "failcnt"))


def cpu(total: int, kernel: int, user: int, percpu: tuple = ((), (), ()),
        throttling: tuple = (0, 0, 0)) -> dict:
    """``percpu``: (all, kernel, user) lists of ns; ``throttling``: (periods, throttled
    periods, throttled ns)."""
    usage = omit_zero({"total": total, "percpu": list(percpu[0]), "percpu_kernel": list(percpu[1]),
                       "percpu_user": list(percpu[2]), "kernel": kernel, "user": user},
                      keep=("kernel", "user"))
    periods, throttled, throttled_time = throttling
    return {"usage": usage, "throttling": omit_zero(
        {"periods": periods, "throttledPeriods": throttled, "throttledTime": throttled_time})}


def cpuset(cpus: str | None, mems: str | None, flags: dict[str, int] | None = None,
           relax_domain_level: int = 0) -> dict:
    flags = flags or {}
    values = omit_zero({"cpus": parse_list(cpus), "mems": parse_list(mems)})
    values.update({name: flags.get(name, 0) for name in CPUSET_FIELDS})
    values["sched_relax_domain_level"] = relax_domain_level
    return values


def pids(current: int, limit: int) -> dict:
    return omit_zero({"current": current, "limit": limit})


def memory(cache: int, usage: dict, swap: dict, kernel: dict, kernel_tcp: dict,
           raw: dict[str, int]) -> dict:
    return omit_zero({"cache": cache, "usage": usage, "swap": swap, "kernel": kernel,
                      "kernelTCP": kernel_tcp, "raw": raw},
                     keep=("usage", "swap", "kernel", "kernelTCP"))


def blkio_entry(major: int, minor: int, op: str, value: int) -> dict:
    return omit_zero({"major": major, "minor": minor, "op": op, "value": value})


def hugetlb_entry(usage: int, max_usage: int, failcnt: int) -> dict:
    return omit_zero({"usage": usage, "max": max_usage, "failcnt": failcnt}, keep=("failcnt",))


def hugepage_sizes(directory: str) -> list[str]:
    """Page sizes with hugetlb files in a cgroup directory ("2MB", "1GB"), sorted."""
    import os

    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted({name.split(".")[1] for name in names
                   if name.startswith("hugetlb.") and name.count(".") >= 2})


def document(cpu_stats: dict, cpuset_stats: dict, memory: dict, pids_stats: dict, blkio: dict,
             hugetlb: dict) -> dict:
    """The "data" of a stats event; Intel RDT and network interfaces are not collected
    (runc prints them empty for a container without them)."""
    return {"cpu": cpu_stats, "cpuset": cpuset_stats, "memory": memory, "pids": pids_stats,
            "blkio": blkio, "hugetlb": hugetlb, "intel_rdt": {}, "network_interfaces": None}
