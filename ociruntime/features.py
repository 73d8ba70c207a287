"""The features document (features.md, features-linux.md), built from what the code applies."""

from __future__ import annotations

from . import SPEC_VERSION, __version__


def features_document() -> dict:
    from ._shim import MPOL_FLAGS, MPOL_MODES
    from .rootfs import IDMAP_OPTIONS, MOUNT_FLAGS, PROPAGATION, RECURSIVE_FLAGS
    from .security.capabilities import known
    from .security import lsm
    from .spec.support import NAMESPACES

    return {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": sorted([*MOUNT_FLAGS, *PROPAGATION, *RECURSIVE_FLAGS, *IDMAP_OPTIONS,
                                "tmpcopyup"]),
        "linux": {
            "namespaces": list(NAMESPACES),
            "capabilities": known(),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False, "rdma": True},
            "seccomp": _seccomp(),
            "apparmor": {"enabled": lsm.apparmor_enabled()},
            "selinux": {"enabled": lsm.selinux_enabled()},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},
            "memoryPolicy": {"modes": list(MPOL_MODES), "flags": list(MPOL_FLAGS)},
            "netDevices": {"enabled": True},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.ociruntime.version": __version__},
    }



def _seccomp() -> dict:
    """features-linux.md "Seccomp": what libseccomp on this host lets us apply."""
    from .security import seccomp

    if not seccomp.available():
        return {"enabled": False}
    return {
        "enabled": True,
        "actions": list(seccomp.ACTIONS),
        "operators": list(seccomp.OPERATORS),
        "archs": seccomp.known_archs(),
        "knownFlags": list(seccomp.KNOWN_FLAGS),
        "supportedFlags": seccomp.supported_flags(),
    }
