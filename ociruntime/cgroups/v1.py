"""cgroup v1 (and hybrid) driver: one directory per mounted hierarchy.

On a hybrid host the v2 hierarchy (e.g. /sys/fs/cgroup/unified) is joined too, as runc
does, so tools that look at the unified tree see the container where they expect it.
"""

from __future__ import annotations

import os

from . import Manager, _write, nested_path
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

    def mount_sources(self) -> list[tuple[str, str]]:
        """Each hierarchy under the name of its host mount point (cpu, memory, systemd...)."""
        mounts = _hierarchies()
        return [(os.path.basename(mounts[key]), path) for key, path in self.paths.items()
                if key in mounts]


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
