"""The config fields this runtime cannot apply yet: refused with the JSON path, never ignored."""

from __future__ import annotations

from ..errors import NotSupportedError

#: namespace types we create or join (user and time namespaces are not applied yet)
NAMESPACES = ("pid", "network", "mount", "ipc", "uts", "cgroup")

#: non-empty values here are refused; the key is the JSON path as users write it
_UNSUPPORTED = {
    ("process", "terminal"): "terminals (process.terminal: true) are not supported yet",
    ("process", "apparmorProfile"): "AppArmor is not enabled on this host",
    ("process", "selinuxLabel"): "SELinux is not enabled on this host",
    ("process", "scheduler"): "not supported yet",
    ("process", "ioPriority"): "not supported yet",
    ("process", "execCPUAffinity"): "not supported yet",
    ("linux", "uidMappings"): "user namespaces are not supported yet",
    ("linux", "gidMappings"): "user namespaces are not supported yet",
    ("linux", "timeOffsets"): "time namespaces are not supported yet",
    ("linux", "mountLabel"): "SELinux is not enabled on this host",
    ("linux", "intelRdt"): "Intel RDT is not supported yet",
    ("linux", "personality"): "not supported yet",
    ("linux", "memoryPolicy"): "not supported yet",
    ("linux", "netDevices"): "not supported yet",
}

_OTHER_PLATFORMS = ("windows", "solaris", "vm", "zos")


def check_supported(config: dict) -> None:
    """Raises NotSupportedError for the first field we would otherwise have to ignore."""
    if "process" not in config:
        raise NotSupportedError("process: required: ociruntime starts a process in every container")
    for platform in _OTHER_PLATFORMS:
        if platform in config:
            raise NotSupportedError(f"{platform}: not applicable to a Linux container")
    for (section, field), reason in _UNSUPPORTED.items():
        if config.get(section, {}).get(field):
            raise NotSupportedError(f"{section}.{field}: {reason}")
    _check_namespaces(config.get("linux", {}).get("namespaces", []))
    _check_resources(config.get("linux", {}).get("resources", {}))
    _check_mounts(config.get("mounts", []))
    if config.get("linux", {}).get("seccomp") is not None:
        _check_seccomp(config["linux"]["seccomp"])


def _check_seccomp(seccomp: dict) -> None:
    """Builds (and drops) the filter, so a bad profile fails before anything is created;
    the init builds it again before pivot_root and loads it just before the exec."""
    from ..security import seccomp as scmp

    scmp.build(seccomp).release()


def _check_namespaces(namespaces: list) -> None:
    for i, ns in enumerate(namespaces):
        kind = ns["type"]
        if kind not in NAMESPACES:
            raise NotSupportedError(f"linux.namespaces[{i}]: {kind} namespaces are not supported yet")


def _check_resources(resources: dict) -> None:
    for key, value in resources.items():
        if key != "devices" and value not in (None, {}, []):
            raise NotSupportedError(f"linux.resources.{key}: cgroup limits are not supported yet")


def _check_mounts(mounts: list) -> None:
    for i, mount in enumerate(mounts):
        if mount.get("uidMappings") or mount.get("gidMappings"):
            raise NotSupportedError(f"mounts[{i}]: idmapped mounts are not supported yet")
        for option in mount.get("options", []):
            if option in ("idmap", "ridmap", "tmpcopyup"):
                raise NotSupportedError(f"mounts[{i}].options: {option!r} is not supported yet")
