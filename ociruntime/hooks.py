"""Lifecycle hooks (config.md "POSIX-platform Hooks"): run a hook list with the state on stdin."""

from __future__ import annotations

import os
import _signal  # the C module: signal.py builds enums at import (5 ms)

from .errors import HookError

#: hook lists whose failure fails the operation; for poststart/poststop the spec asks only
#: for a warning and the lifecycle goes on.
FATAL_HOOKS = ("prestart", "createRuntime", "createContainer", "startContainer")


def run_hooks(config: dict, kind: str, state: dict, warn=None) -> None:
    """Runs every hook of ``config.hooks[kind]`` in order.

    A failing hook of a fatal kind raises HookError; otherwise ``warn(message)`` is called
    and the remaining hooks still run.
    """
    hooks = config.get("hooks", {}).get(kind) or []
    if not hooks:
        return
    from .jsonenc import dumps  # json itself cannot be loaded in the container (startContainer)

    stdin = dumps(state).encode()
    for index, hook in enumerate(hooks):
        try:
            _run_one(hook, stdin)
        except HookError as err:
            message = f"{kind} hook #{index} ({hook['path']}): {err}"
            if kind in FATAL_HOOKS or warn is None:
                raise HookError(message) from None
            warn(message)


def _run_one(hook: dict, stdin: bytes) -> None:
    import subprocess

    args = hook.get("args") or [hook["path"]]
    env = hook.get("env")
    env = os.environ.copy() if env is None else dict(e.split("=", 1) for e in env if "=" in e)
    try:
        proc = subprocess.Popen(
            args, executable=hook["path"], env=env, stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
    except OSError as err:
        raise HookError(f"cannot run: {err.strerror}") from None
    try:
        _, stderr = proc.communicate(stdin, timeout=hook.get("timeout"))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, _signal.SIGKILL)
        proc.wait()
        raise HookError(f"timed out after {hook['timeout']}s") from None
    if proc.returncode != 0:
        detail = stderr.decode(errors="replace").strip().splitlines()
        suffix = f": {detail[-1]}" if detail else ""
        raise HookError(f"exited with status {_describe(proc.returncode)}{suffix}")


def _describe(returncode: int) -> str:
    if returncode < 0:
        import signal  # its names, only for this message

        return f"signal {signal.Signals(-returncode).name}"
    return str(returncode)
