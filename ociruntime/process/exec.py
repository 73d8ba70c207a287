"""``exec``: one more process in an existing container (runc's ``exec``).

    runtime (exec)  --fork-->  intermediate  --fork-->  process (execs the trampoline)

The intermediate is non-dumpable while it holds the runtime's fds; it joins the container's
cgroup, then every namespace of the container's init through ``/proc/<init>/ns`` (or, with
no mount namespace of its own, chroots into the init's root), and forks: a joined PID
namespace applies to children only.  The process applies the same attributes as the
container's init (``attributes.become_process``) and execs ``process.args`` through the sealed
trampoline.  The runtime is a child subreaper, so the process becomes its child once the
intermediate has exited: a foreground ``exec`` waits for it.

Reports: the intermediate sends ``pid`` or ``error`` over a ``sync.Channel``; the process
side writes "M<message>" and the trampoline "E<errno>" on a close-on-exec pipe, whose EOF
alone means the exec happened.
"""

from __future__ import annotations

import os

from .. import _shim, namespaces
from ..errors import ConfigError, ProcessError, exec_failure
from .attributes import (InitContext, become_process, exec_process, set_cpu_affinity,
                         set_oom_score_adj)
from .sync import Channel, message_of, report


def process_from_flags(base: dict, args: tuple, cwd: str | None, env: tuple, user: str | None,
                       additional_gids: tuple, caps: tuple, no_new_privs: bool,
                       apparmor: str | None, process_label: str | None) -> dict:
    """The container's ``process`` with runc's exec flags applied: new args, env appended,
    capabilities added to bounding/effective/permitted (and ambient when the config has an
    inheritable set, which --cap never fills), user and extra groups replaced or added."""
    if not args:
        raise ConfigError("exec: a command is required (or --process FILE)")
    process = {key: value for key, value in base.items() if key != "terminal"}
    process["args"] = list(args)
    process["env"] = [*(base.get("env") or []), *env]
    if cwd:
        process["cwd"] = cwd
    if apparmor:
        process["apparmorProfile"] = apparmor
    if process_label:
        process["selinuxLabel"] = process_label
    if no_new_privs:
        process["noNewPrivileges"] = True
    if caps and "capabilities" in process:  # without the field the process keeps every one
        sets = {kind: list(names) for kind, names in process["capabilities"].items()}
        kinds = ["bounding", "effective", "permitted"] + (["ambient"] if "inheritable" in sets else [])
        for kind in kinds:
            sets[kind] = [*sets.get(kind, []), *caps]
        process["capabilities"] = sets
    process["user"] = _user(base.get("user") or {}, user, additional_gids)
    return process


def _user(base: dict, spec: str | None, additional_gids: tuple) -> dict:
    """--user uid[:gid] and --additional-gids, over process.user."""
    user = dict(base)
    if spec:
        uid, colon, gid = spec.partition(":")
        user["uid"] = _number(uid, "--user: bad uid")
        if colon:
            user["gid"] = _number(gid, "--user: bad gid")
    if additional_gids:
        user["additionalGids"] = [*(user.get("additionalGids") or []),
                                  *(_number(g, "--additional-gids: must be a positive number")
                                    for g in additional_gids)]
    return user


def _number(text: str, what: str) -> int:
    if not text.isdigit():
        raise ConfigError(f"{what}: {text!r}")
    return int(text)


def load_process_file(path: str) -> dict:
    """--process FILE: a runtime-spec ``process`` object (runc reads a file; so do we)."""
    import json

    try:
        with open(path, "rb") as f:
            process = json.loads(f.read())
    except OSError as err:
        raise ConfigError(f"--process {path}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(f"--process {path}: invalid JSON: {err}") from None
    if not isinstance(process, dict):
        raise ConfigError(f"--process {path}: not a JSON object")
    return process


def spawn(ctx: InitContext, init_pid: int) -> int:
    """Starts ``ctx.config["process"]`` in the container whose init is ``init_pid``;
    returns its host PID once it has exec'd, or raises ProcessError with why it did not."""
    _shim.prctl(_shim.PR_SET_CHILD_SUBREAPER, 1)
    ours, theirs = Channel.pair()
    reader, writer = os.pipe()
    try:
        child = os.fork()
        if child == 0:
            ours.close()
            os.close(reader)
            _intermediate(theirs, ctx, init_pid, writer)
        theirs.close()
        os.close(writer)
        try:
            pid = ours.recv("pid")["pid"]
        finally:
            os.waitpid(child, 0)
        outcome = _read_all(reader)
    finally:
        ours.close()
        theirs.close()
        os.close(reader)
    if outcome:
        os.waitpid(pid, 0)
        raise ProcessError(exec_failure(ctx.config["process"]["args"][0], outcome))
    return pid


def _read_all(fd: int) -> bytes:
    data = b""
    while chunk := os.read(fd, 4096):
        data += chunk
    return data


def _intermediate(channel: Channel, ctx: InitContext, init_pid: int, status_fd: int) -> None:
    """Joins the container, forks the process, reports its PID, exits."""
    try:
        _shim.prctl(_shim.PR_SET_DUMPABLE, 0)
        process = ctx.config["process"]
        set_cpu_affinity(ctx.config, "initial")
        set_oom_score_adj(process)  # while still the runtime's user (see init.py)
        own_mounts = "mount" in namespaces.requested(ctx.config)
        root = None if own_mounts else _open_root(init_pid)
        ctx.cgroup.join(0)  # first: a joined mount namespace may not show the host's cgroupfs
        namespaces.join_process(init_pid, ctx.config)
        if root is not None:
            os.fchdir(root)
            os.close(root)
            os.chroot(".")
        host_pid_reader, host_pid_writer = os.pipe()
        pid = os.fork()
        if pid == 0:
            channel.close()
            os.close(host_pid_writer)
            _process(ctx, status_fd, host_pid_reader)
        os.write(host_pid_writer, str(pid).encode())
        channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 - must end in _exit whatever happens
        report(channel, err)
        os._exit(1)


def _open_root(init_pid: int) -> int:
    """What the container sees as "/" when it shares the host's mount namespace."""
    try:
        return os.open(f"/proc/{init_pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise ProcessError(f"the container's init: /proc/{init_pid}/root: {err.strerror}") from None


def _process(ctx: InitContext, status_fd: int, host_pid_reader: int) -> None:
    """The exec'd process, up to the exec: never returns."""
    try:
        ctx.host_pid = int(_read_all(host_pid_reader))  # a seccomp agent is told it
        os.close(host_pid_reader)
        os.setsid()
        os.chdir("/")
        if ctx.console is not None:
            from ..terminal import init_console  # imported by the runtime before the fork

            init_console(ctx.console, ctx.config["process"], dev_console=False)
            ctx.console = None
        path, env = become_process(ctx, keep=status_fd, status="running")
        exec_process(ctx, str(status_fd), path, env)
    except BaseException as err:  # noqa: BLE001
        try:
            os.write(status_fd, b"M" + message_of(err).encode())
        except OSError:
            pass
    os._exit(1)

