"""cgroup v2 (unified) driver: one directory; devices through an eBPF program."""

from __future__ import annotations

import os

from . import CGROUP_ROOT, Manager, _write, nested_path, stats
from .stats import read_int, read_keyed, read_text


def _own_cgroup() -> str:
    with open("/proc/self/cgroup") as f:
        for line in f:
            if line.startswith("0::"):
                return line[3:].strip()
    return "/"


def _nesting_parent() -> str:
    """Where a relative cgroupsPath goes on v2: below the parent of our own cgroup, as runc
    does. Our cgroup has processes (at least us), and v2 gives a cgroup with processes no
    controllers for its children, so a container nested right below it could get no limits."""
    return os.path.dirname(_own_cgroup())


def _enable_controllers(path: str) -> None:
    """Makes every controller the host has usable in ``path`` by enabling it in the
    ``cgroup.subtree_control`` of each ancestor, top-down from the root, as runc does.
    A controller that cannot be enabled (an ancestor with processes of its own, one
    delegated without it) is left out: ``apply`` names the field that needed it."""
    inner = os.path.relpath(path, CGROUP_ROOT)
    ancestor = CGROUP_ROOT
    for name in [""] + inner.split(os.sep)[:-1]:
        ancestor = os.path.join(ancestor, name)
        _enable_in(ancestor)


def _enable_in(directory: str) -> None:
    with open(os.path.join(directory, "cgroup.controllers")) as f:
        wanted = ["+" + name for name in f.read().split()]
    control = os.path.join(directory, "cgroup.subtree_control")
    with open(control) as f:
        enabled = set(f.read().split())
    missing = [item for item in wanted if item[1:] not in enabled]
    if not missing:
        return
    try:
        _write_control(control, " ".join(missing))
    except OSError:  # one refused controller fails the whole write: enable one by one
        for item in missing:
            try:
                _write_control(control, item)
            except OSError:
                pass


def _write_control(control: str, value: str) -> None:
    with open(control, "w") as f:
        f.write(value)


class V2Manager(Manager):
    driver = "v2"

    @classmethod
    def for_path(cls, path: str, container_id: str) -> "V2Manager":
        inner = nested_path(_nesting_parent(), path, container_id)
        return cls({"": os.path.join(CGROUP_ROOT, inner.lstrip("/"))})

    def _create(self, device_rules: list[dict]) -> None:
        from .devices_bpf import apply_device_rules

        path = self.paths[""]
        os.makedirs(path, exist_ok=True)
        _enable_controllers(path)
        apply_device_rules(path, device_rules)

    def apply(self, resources: dict) -> None:
        from .v2_resources import apply

        apply(self.paths[""], resources)

    def mount_sources(self) -> list[tuple[str, str]]:
        return [("", self.paths[""])]

    def freeze_file(self) -> str:
        return self._file("cgroup.freeze")

    def _request_freeze(self, frozen: bool) -> None:
        _write(self._file("cgroup.freeze"), "1" if frozen else "0")

    def _freeze_settled(self, frozen: bool) -> bool:
        return read_keyed(self._file("cgroup.events")).get("frozen") == int(frozen)

    def oom_kills(self) -> int:
        return read_keyed(self._file("memory.events")).get("oom_kill", 0)

    def stats(self) -> dict:
        return stats.document(self._cpu_stats(), self._cpuset_stats(), self._memory_stats(),
                              stats.pids(read_int(self._file("pids.current")),
                                         read_int(self._file("pids.max"))),
                              self._io_stats(), self._hugetlb_stats())

    def _file(self, name: str) -> str:
        return os.path.join(self.paths[""], name)

    def _cpu_stats(self) -> dict:
        """cpu.stat counts microseconds; runc reports nanoseconds. No per-CPU usage on v2."""
        cpu = read_keyed(self._file("cpu.stat"))
        return stats.cpu(cpu.get("usage_usec", 0) * 1000, cpu.get("system_usec", 0) * 1000,
                         cpu.get("user_usec", 0) * 1000,
                         throttling=(cpu.get("nr_periods", 0), cpu.get("nr_throttled", 0),
                                     cpu.get("throttled_usec", 0) * 1000))

    def _cpuset_stats(self) -> dict:
        return stats.cpuset(read_text(self._file("cpuset.cpus.effective")),
                            read_text(self._file("cpuset.mems.effective")))

    def _memory_stats(self) -> dict:
        """v1 reports swap as memory + swap; runc adds them up on v2 too, and so do we."""
        raw = read_keyed(self._file("memory.stat"))
        usage = read_int(self._file("memory.current"))
        limit = read_int(self._file("memory.max"), stats.UNLIMITED)
        swap_limit = read_int(self._file("memory.swap.max"), stats.UNLIMITED)
        if swap_limit != stats.UNLIMITED:
            swap_limit = min(swap_limit + limit, stats.UNLIMITED)
        failcnt = read_keyed(self._file("memory.events")).get("max", 0)
        return stats.memory(
            raw.get("file", 0),
            stats.memory_entry(limit, usage, read_int(self._file("memory.peak")), failcnt),
            stats.memory_entry(swap_limit, usage + read_int(self._file("memory.swap.current"))),
            stats.memory_entry(0), stats.memory_entry(0), raw)

    def _io_stats(self) -> dict:
        """io.stat: ``MAJOR:MINOR rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N``."""
        keys = {"bytes": "ioServiceBytesRecursive", "ios": "ioServicedRecursive"}
        ops = {"r": "Read", "w": "Write", "d": "Discard"}
        found: dict[str, list] = {key: [] for key in keys.values()}
        for line in (read_text(self._file("io.stat")) or "").splitlines():
            device, *pairs = line.split()
            major, _, minor = device.partition(":")
            for pair in pairs:
                name, _, value = pair.partition("=")
                if name[:1] in ops and name[1:] in keys:
                    found[keys[name[1:]]].append(
                        stats.blkio_entry(int(major), int(minor), ops[name[0]], int(value)))
        return stats.omit_zero(found)

    def _hugetlb_stats(self) -> dict:
        """No maximum usage on v2; failures are the ``max`` events."""
        return {size: stats.hugetlb_entry(
                    read_int(self._file(f"hugetlb.{size}.current")), 0,
                    read_keyed(self._file(f"hugetlb.{size}.events")).get("max", 0))
                for size in stats.hugepage_sizes(self.paths[""])}
