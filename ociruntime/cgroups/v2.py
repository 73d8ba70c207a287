"""cgroup v2 (unified) driver: one directory; devices through an eBPF program."""

from __future__ import annotations

import os

from . import CGROUP_ROOT, Manager, nested_path


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
        apply_device_rules(path, device_rules)

    def mount_sources(self) -> list[tuple[str, str]]:
        return [("", self.paths[""])]
