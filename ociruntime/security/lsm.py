"""Linux security modules: process.apparmorProfile, process.selinuxLabel, linux.mountLabel.

Applied only where the host runs the module; asking for a label on a host without it is an
error (runc's rule: the container would otherwise run unconfined without anyone knowing).
"""

from __future__ import annotations

import os

from ..errors import NotSupportedError, OCIError
from ..paths import write_on_procfs

_APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
_SELINUX_FS = "/sys/fs/selinux"


def apparmor_enabled() -> bool:
    try:
        with open(_APPARMOR_ENABLED) as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """selinuxfs is mounted (with a policy loaded, it has ``enforce``)."""
    return os.path.exists(os.path.join(_SELINUX_FS, "enforce"))


def check(config: dict) -> None:
    """Refuses labels this host cannot apply, naming the field."""
    if config["process"].get("apparmorProfile") and not apparmor_enabled():
        raise NotSupportedError(f"process.apparmorProfile: AppArmor is not enabled on this host "
                                f"({_APPARMOR_ENABLED} is not Y)")
    for section, field in (("process", "selinuxLabel"), ("linux", "mountLabel")):
        if (config.get(section) or {}).get(field) and not selinux_enabled():
            raise NotSupportedError(f"{section}.{field}: SELinux is not enabled on this host "
                                    f"(no {_SELINUX_FS}/enforce)")


def mount_label_option(config: dict, kind: str | None) -> str:
    """The ``context=`` mount option linux.mountLabel adds to a new filesystem's data (not to
    proc/sysfs, whose labels the policy fixes, as runc does)."""
    label = (config.get("linux") or {}).get("mountLabel")
    if not label or kind in (None, "bind", "proc", "sysfs", "cgroup"):
        return ""
    return f'context="{label}"'


def apply_exec_labels(process: dict) -> None:
    """Sets the labels the kernel gives the process at its execve; called in the init just
    before the exec, through the container's procfs (checked to be procfs)."""
    profile = process.get("apparmorProfile")
    if profile:
        attr = "apparmor/exec" if os.path.exists("/proc/thread-self/attr/apparmor") else "exec"
        _write_attr(attr, f"exec {profile}", "process.apparmorProfile")
    if process.get("selinuxLabel"):
        _write_attr("exec", process["selinuxLabel"], "process.selinuxLabel")


def _write_attr(name: str, value: str, field: str) -> None:
    try:
        write_on_procfs(f"/proc/thread-self/attr/{name}", value)
    except OSError as err:
        raise OCIError(f"{field}: {value}: {err.strerror}") from None
