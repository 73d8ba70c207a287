"""One error hierarchy: every failure the user sees is an ``OCIError`` with a one-line message.

The CLI prints ``str(err)`` and exits non-zero; nothing else is shown to the user, so the
message must say what failed and, where it helps, the JSON path or file involved.
"""


class OCIError(Exception):
    """Base class of every error the runtime reports to its caller."""

    #: the runtime's exit status when this error ends a command
    exit_code = 1


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


class ExecError(OCIError):
    """``exec`` could not start the process: runc's wording ("exec failed: ...") and exit
    status 255, which engines read as "the exec itself failed"."""

    exit_code = 255


class CgroupError(OCIError):
    """A cgroup could not be created, joined, configured or removed."""


class HookError(OCIError):
    """A lifecycle hook failed or timed out."""


def exec_failure(args0: str, report: bytes) -> str:
    """The message for what the exec trampoline ("E<errno>") or the process side of the
    runtime ("M<message>") reported instead of exec'ing ``args0`` (see csrc/exec_trampoline.c)."""
    import os

    text = report.decode(errors="replace")
    if text.startswith("E"):
        return f'exec: "{args0}": {os.strerror(int(text[1:]))}'
    return text[1:]
