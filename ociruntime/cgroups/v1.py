"""cgroup v1 (and hybrid) driver: one directory per mounted hierarchy.

On a hybrid host the v2 hierarchy (e.g. /sys/fs/cgroup/unified) is joined too, as runc
does, so tools that look at the unified tree see the container where they expect it.
"""

from __future__ import annotations

import os

from . import Manager, _write, nested_path, stats
from .stats import read_int, read_ints, read_keyed, read_text
from .devices import v1_rule

_NOT_CONTROLLERS = {"rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode"}


def _hierarchies() -> dict[str, str]:
    """Hierarchy key ("cpu", "name=systemd", "" for the v2 one) -> mount point."""
    from ..mountinfo import mounts

    found: dict[str, str] = {}
    for mount in mounts():
        if mount.fstype == "cgroup":
            options = [o for o in mount.super_options.split(",")
                       if o not in _NOT_CONTROLLERS and not o.startswith("release_agent=")]
            found.setdefault(",".join(options), mount.mount_point)
        elif mount.fstype == "cgroup2":
            found.setdefault("", mount.mount_point)
    return found


def _own_cgroups() -> dict[str, str]:
    """Hierarchy key -> this process's cgroup path, from /proc/self/cgroup."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, key, path = line.rstrip("\n").split(":", 2)
            own[key] = path
    return own


class V1Manager(Manager):
    driver = "v1"

    @classmethod
    def for_path(cls, path: str, container_id: str) -> "V1Manager":
        own = _own_cgroups()
        paths = {}
        for key, mount_point in _hierarchies().items():
            inner = nested_path(own.get(key, "/"), path, container_id)
            paths[key] = os.path.join(mount_point, inner.lstrip("/"))
        return cls(paths)

    def _create(self, device_rules: list[dict]) -> None:
        for key, path in self.paths.items():
            if key == "cpuset":
                _make_cpuset(path)
            else:
                os.makedirs(path, exist_ok=True)
        devices = self.paths.get("devices")
        if devices:
            _write(os.path.join(devices, "devices.deny"), "a")
            for rule in device_rules:
                name = "devices.allow" if rule.get("allow") else "devices.deny"
                _write(os.path.join(devices, name), v1_rule(rule))

    def apply(self, resources: dict) -> None:
        from .v1_resources import apply

        apply(self.paths, resources)

    def _main_path(self) -> str:
        for key in ("pids", "devices", "memory"):
            if key in self.paths:
                return self.paths[key]
        return super()._main_path()

    def freeze_file(self) -> str | None:
        return self._file("freezer.self_freezing") or None

    def _request_freeze(self, frozen: bool) -> None:
        _write(self._file("freezer.state"), "FROZEN" if frozen else "THAWED")

    def _freeze_settled(self, frozen: bool) -> bool:
        return read_text(self._file("freezer.state")) == ("FROZEN" if frozen else "THAWED")

    def oom_kills(self) -> int:
        return read_keyed(self._file("memory.oom_control")).get("oom_kill", 0)

    def stats(self) -> dict:
        return stats.document(self._cpu_stats(), self._cpuset_stats(), self._memory_stats(),
                              stats.pids(self._int("pids.current"), self._int("pids.max")),
                              self._blkio_stats(), self._hugetlb_stats())

    def _file(self, name: str) -> str:
        """The container's ``name`` (``memory.stat``) in the hierarchy of the controller it
        starts with; "" (which reads as missing) when that controller is not mounted."""
        controller = name.split(".", 1)[0]
        for key, path in self.paths.items():
            if controller in key.split(","):
                return os.path.join(path, name)
        return ""

    def _int(self, name: str) -> int:
        return read_int(self._file(name))

    def _cpu_stats(self) -> dict:
        """cpuacct.stat counts clock ticks; runc reports nanoseconds."""
        ticks = read_keyed(self._file("cpuacct.stat"))
        ns_per_tick = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
        throttle = read_keyed(self._file("cpu.stat"))
        percpu = [read_ints(self._file(name)) for name in (
            "cpuacct.usage_percpu", "cpuacct.usage_percpu_sys", "cpuacct.usage_percpu_user")]
        return stats.cpu(
            self._int("cpuacct.usage"), ticks.get("system", 0) * ns_per_tick,
            ticks.get("user", 0) * ns_per_tick, tuple(percpu),
            (throttle.get("nr_periods", 0), throttle.get("nr_throttled", 0),
             throttle.get("throttled_time", 0)))

    def _cpuset_stats(self) -> dict:
        flags = {name: self._int(f"cpuset.{name}") for name in stats.CPUSET_FIELDS}
        return stats.cpuset(read_text(self._file("cpuset.cpus")), read_text(self._file("cpuset.mems")),
                            flags, self._int("cpuset.sched_relax_domain_level"))

    def _memory_stats(self) -> dict:
        """Swap is reported as memory + swap (memsw), kernel as kmem, as runc does."""
        raw = read_keyed(self._file("memory.stat"))
        return stats.memory(raw.get("cache", 0), self._memory_entry("memory."),
                            self._memory_entry("memory.memsw."), self._memory_entry("memory.kmem."),
                            self._memory_entry("memory.kmem.tcp."), raw)

    def _memory_entry(self, prefix: str) -> dict:
        return stats.memory_entry(self._int(prefix + "limit_in_bytes"), self._int(prefix + "usage_in_bytes"),
                                  self._int(prefix + "max_usage_in_bytes"), self._int(prefix + "failcnt"))

    def _blkio_stats(self) -> dict:
        names = {"ioServiceBytesRecursive": "blkio.throttle.io_service_bytes_recursive",
                 "ioServicedRecursive": "blkio.throttle.io_serviced_recursive"}
        return stats.omit_zero({key: _blkio_entries(self._file(name)) for key, name in names.items()})

    def _hugetlb_stats(self) -> dict:
        directory = os.path.dirname(self._file("hugetlb."))  # "" without hugetlb: no sizes
        return {size: stats.hugetlb_entry(self._int(f"hugetlb.{size}.usage_in_bytes"),
                                          self._int(f"hugetlb.{size}.max_usage_in_bytes"),
                                          self._int(f"hugetlb.{size}.failcnt"))
                for size in stats.hugepage_sizes(directory)}

    def mount_sources(self) -> list[tuple[str, str]]:
        """Each hierarchy under the name of its host mount point (cpu, memory, systemd...)."""
        mounts = _hierarchies()
        return [(os.path.basename(mounts[key]), path) for key, path in self.paths.items()
                if key in mounts]


def _blkio_entries(path: str) -> list[dict]:
    """``MAJOR:MINOR Op value`` lines; the closing ``Total N`` line is left out, as runc."""
    entries = []
    for line in (read_text(path) or "").splitlines():
        fields = line.split()
        if len(fields) == 3:
            major, _, minor = fields[0].partition(":")
            entries.append(stats.blkio_entry(int(major), int(minor), fields[1], int(fields[2])))
    return entries


def _make_cpuset(path: str) -> None:
    """A new cpuset cgroup starts with no CPUs or memory nodes; copy them down the chain
    from the nearest parent that has them, or nothing can join it."""
    if os.path.isdir(path):
        return
    parent = os.path.dirname(path)
    _make_cpuset(parent)
    os.mkdir(path)
    for name in ("cpuset.cpus", "cpuset.mems"):
        with open(os.path.join(path, name)) as f:
            if f.read().strip():
                continue
        with open(os.path.join(parent, name)) as f:
            _write(os.path.join(path, name), f.read().strip())
