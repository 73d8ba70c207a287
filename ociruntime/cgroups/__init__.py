"""Cgroup managers: one interface, one implementation per driver (v1/hybrid and v2).

``open_manager`` picks the driver from what the host mounts at /sys/fs/cgroup; the chosen
manager's ``describe()`` is saved in the container state so later commands (``delete``,
``kill --all``) reopen exactly the same cgroups with ``from_description``.
"""

from __future__ import annotations

import errno
import itertools
import os
import time

from ..errors import CgroupError, NotSupportedError

CGROUP_ROOT = "/sys/fs/cgroup"


class Manager:
    """A container's cgroup on one driver. ``paths`` maps a hierarchy key to a directory."""

    driver = ""

    def __init__(self, paths: dict[str, str], preexisting: list[str] | None = None):
        self.paths = paths
        #: hierarchies where the cgroup existed before ``create``: never removed by us (the
        #: spec: resources not created by the container MUST NOT be deleted)
        self.preexisting = preexisting or []

    def create(self, device_rules: list[dict]) -> None:
        """Creates the cgroup directories and applies the device rules."""
        self.preexisting = [key for key, path in self.paths.items() if os.path.isdir(path)]
        self._create(device_rules)

    def _create(self, device_rules: list[dict]) -> None:
        raise NotImplementedError

    def join(self, pid: int) -> None:
        """Moves ``pid`` (0: the caller) into the cgroup in every hierarchy."""
        for path in self.paths.values():
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        """PIDs of every process in the container's cgroup."""
        try:
            with open(os.path.join(self._main_path(), "cgroup.procs")) as f:
                return [int(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def mount_sources(self) -> list[tuple[str, str]]:
        """(name under the container's /sys/fs/cgroup, host directory) pairs to bind-mount."""
        raise NotImplementedError

    def apply(self, resources: dict) -> None:
        """Writes ``linux.resources`` (without ``devices``) into the cgroup: at ``create``
        and on ``update``.  Raises CgroupError/ConfigError naming the JSON path."""
        raise NotImplementedError

    def freeze(self, frozen: bool, timeout: float = 10.0) -> None:
        """Freezes (``pause``) or thaws (``resume``) every process of the cgroup, returning
        once the kernel reports the new state.  The request is repeated while waiting: a v1
        freezer can stay FREEZING when a task forks at the wrong moment."""
        if self.freeze_file() is None:
            raise CgroupError("cgroup: the freezer controller is not mounted: cannot pause")
        deadline = time.monotonic() + timeout
        for attempt in itertools.count():
            if attempt % 50 == 0:
                self._request_freeze(frozen)
            if self._freeze_settled(frozen):
                return
            if time.monotonic() > deadline:
                if frozen:
                    self._request_freeze(False)
                action = "freezing" if frozen else "thawing"
                raise CgroupError(f"cgroup: {action} {self._main_path()} did not complete")
            time.sleep(0.002)

    def freeze_file(self) -> str | None:
        """The file that reads "1" while the cgroup itself is asked to be frozen (None without
        a freezer); ``state`` reads only this file to tell a paused container."""
        raise NotImplementedError

    def _request_freeze(self, frozen: bool) -> None:
        raise NotImplementedError

    def _freeze_settled(self, frozen: bool) -> bool:
        raise NotImplementedError

    def stats(self) -> dict:
        """The cgroup's statistics in the shape of runc's ``events --stats`` "data"."""
        raise NotImplementedError

    def oom_kills(self) -> int:
        """How many processes of the cgroup the OOM killer has killed so far."""
        raise NotImplementedError

    def destroy(self) -> None:
        """Removes the container's cgroup directories (never their parents), waiting briefly
        for exiting processes to leave them."""
        for key, path in self.paths.items():
            if key not in self.preexisting:
                _rmdir_retry(path)

    def describe(self) -> dict:
        return {"driver": self.driver, "paths": self.paths, "preexisting": self.preexisting,
                "freeze_file": self.freeze_file()}

    def _main_path(self) -> str:
        return next(iter(self.paths.values()))


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as err:
        raise CgroupError(f"cgroup: writing {value!r} to {path}: {err.strerror}") from None


def _rmdir_retry(path: str, attempts: int = 200) -> None:
    for _ in range(attempts):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise CgroupError(f"cgroup: removing {path}: {err.strerror}") from None
        time.sleep(0.005)
    raise CgroupError(f"cgroup: removing {path}: processes are still in it")


def host_driver() -> str:
    """"v2" on a unified host, "v1" on a legacy or hybrid one."""
    from ..mountinfo import mounts

    for mount in mounts():
        if mount.mount_point == CGROUP_ROOT:
            return "v2" if mount.fstype == "cgroup2" else "v1"
    raise CgroupError(f"cgroup: nothing is mounted at {CGROUP_ROOT}")


def open_manager(config: dict, container_id: str, systemd: bool = False) -> Manager:
    """The manager for a new container, from ``linux.cgroupsPath`` (runc's path rules)."""
    if systemd:
        reason = ("the systemd cgroup driver is not implemented: use the cgroupfs driver"
                  if os.path.isdir("/run/systemd/system") else
                  "systemd is not running as init on this host")
        raise NotSupportedError(f"--systemd-cgroup: {reason}")
    path = config.get("linux", {}).get("cgroupsPath") or ""
    if host_driver() == "v2":
        from .v2 import V2Manager

        return V2Manager.for_path(path, container_id)
    from .v1 import V1Manager

    return V1Manager.for_path(path, container_id)


def from_description(description: dict) -> Manager:
    """Reopens the manager a container's state recorded."""
    if description["driver"] == "v2":
        from .v2 import V2Manager as cls
    else:
        from .v1 import V1Manager as cls
    return cls(description["paths"], description.get("preexisting"))


def nested_path(own_cgroup: str, path: str, container_id: str) -> str:
    """runc's rule: an absolute cgroupsPath is used as given; a relative or empty one is
    placed below ``own_cgroup`` (empty means the container ID). That is the runtime's own
    cgroup on v1, and its parent on v2 (see ``v2._nesting_parent``)."""
    if path.startswith("/"):
        return os.path.normpath(path)
    return os.path.normpath(os.path.join(own_cgroup, path or container_id))
