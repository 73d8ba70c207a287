"""One error hierarchy: every failure the user sees is an ``OCIError`` with a one-line message.

The CLI prints ``str(err)`` and exits non-zero; nothing else is shown to the user, so the
message must say what failed and, where it helps, the JSON path or file involved.
"""


class OCIError(Exception):
    """Base class of every error the runtime reports to its caller."""


class ConfigError(OCIError):
    """The bundle or its config.json is unusable (missing, malformed, schema violation)."""


class NotSupportedError(ConfigError):
    """The config asks for something this runtime does not (yet) apply on this host."""


class ContainerNotFoundError(OCIError):
    """No container with the given ID exists under --root."""

    def __init__(self, container_id: str):
        super().__init__(f"container {container_id} does not exist")


class StateError(OCIError):
    """The operation is not allowed in the container's current state."""


class ContainerExistsError(OCIError):
    """``create`` was given an ID that is already in use."""

    def __init__(self, container_id: str):
        super().__init__(f"container with id {container_id} already exists")


class ProcessError(OCIError):
    """Starting or signalling the container process failed."""


class CgroupError(OCIError):
    """A cgroup could not be created, joined, configured or removed."""


class HookError(OCIError):
    """A lifecycle hook failed or timed out."""
