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
