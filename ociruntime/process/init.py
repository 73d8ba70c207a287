"""The container side of create: everything from the fork to the final execve.

Runs in forked copies of the runtime process, so it has the parent's objects without any
serialisation.  It must never return into the CLI: every path ends in ``os._exit`` or the
exec of the trampoline.
"""

from __future__ import annotations

import errno
import os
import _socket

from .. import _shim, namespaces
from ..errors import OCIError
from ..hooks import run_hooks
from ..rootfs import RootfsBuilder
from ..security import seccomp
from .attributes import (InitContext, become_process, container_state, environment, exec_process,
                         find_executable, set_cpu_affinity, set_oom_score_adj)
from .sync import Channel, message_of, report

_KEY_USR_SEARCH = 0x00080000


def intermediate(channel: Channel, ctx: InitContext) -> None:
    """Enters namespaces and cgroup, forks the init, reports its PID, exits."""
    try:
        _shim.prctl(_shim.PR_SET_DUMPABLE, 0)
        set_oom_score_adj(ctx.config.get("process", {}))
        namespaces.enter(ctx.config, lambda: ctx.cgroup.join(0), lambda: _wait_for_id_maps(channel))
        pid = os.fork()
        if pid == 0:
            _init(channel, ctx)
        channel.send("pid", pid=pid)
        os._exit(0)
    except BaseException as err:  # noqa: BLE001 - must end in _exit whatever happens
        report(channel, err)
        os._exit(1)


def _wait_for_id_maps(channel: Channel) -> None:
    """In a new user namespace: the runtime writes our ID maps (see parent.py)."""
    channel.send("userns")
    channel.recv("mapped")


def _init(channel: Channel, ctx: InitContext) -> None:
    """PID 1 of the container: set everything up, wait for start, exec."""
    connection = None
    try:
        channel.recv("go")
        set_cpu_affinity(ctx.config, "initial")
        listener = _prepare(channel, ctx)
        if not ctx.config.get("hooks", {}).get("startContainer"):
            # nothing left that needs Python: the trampoline itself waits for start
            path, env = become_process(ctx, keep=listener.fileno(), status="creating")
            channel.send("ready")
            channel.close()
            exec_process(ctx, f"w{listener.fileno()}", path, env)
        channel.send("ready")
        channel.close()
        connection = _socket.socket(fileno=listener._accept()[0])
        listener.close()
        run_hooks(ctx.config, "startContainer", container_state(ctx, "created"))
        path, env = become_process(ctx, keep=connection.fileno(), status="running")
        exec_process(ctx, str(connection.fileno()), path, env)
    except BaseException as err:  # noqa: BLE001
        if connection is None:
            report(channel, err)
        else:
            try:
                connection.send(b"M" + message_of(err).encode())
            except OSError:
                pass
    os._exit(1)


def _prepare(channel: Channel, ctx: InitContext) -> _socket.socket:
    """Everything before ``start``; returns the socket ``start`` will connect to."""
    config = ctx.config
    os.setsid()
    ctx.caller_umask = os.umask(0)
    if not ctx.no_new_keyring:
        _join_session_keyring(os.path.basename(ctx.state_dir))
    requested = namespaces.requested(config)
    if "network" in requested and not requested["network"].get("path"):
        namespaces.bring_up_loopback()
    if config.get("hooks", {}).get("startContainer"):
        import subprocess  # noqa: F401 - runs hooks after pivot_root, where it cannot be loaded
    if ctx.console is not None:
        from .. import terminal  # used after pivot_root, where it cannot be loaded

    builder = RootfsBuilder(config, ctx.bundle, ctx.rootfs, ctx.cgroup.mount_sources(),
                            "user" in requested, ctx.idmapped_trees)
    builder.prepare("mount" in requested)
    channel.send("hooks")
    channel.recv("continue")
    run_hooks(config, "createContainer", container_state(ctx, "creating"))
    process = config.get("process", {})
    builder.make_cwd(process.get("cwd", "/"))
    if config.get("linux", {}).get("seccomp") is not None:
        # libseccomp (dlopen'ed by the parent's checks) cannot be loaded after pivot_root
        ctx.seccomp_filter = seccomp.build(config["linux"]["seccomp"])
        seccomp.connect_listener(ctx.seccomp_filter)  # the agent's socket is a host path
        ctx.host_pid = int(os.readlink("/proc/self"))  # still the runtime's /proc here
    builder.pivot(ctx.no_pivot, "mount" in requested)
    if ctx.console is not None:
        # inside the container's devpts; before finish() makes anything read-only (runc's order)
        terminal.init_console(ctx.console, process)
        ctx.console = None
    _set_names(config, requested)
    builder.finish()
    if process:
        find_executable(process["args"][0], environment(process))
    return ctx.listener


def _join_session_keyring(container_id: str) -> None:
    """A session keyring of the container's own, named and made searchable by its owner
    as runc does (``_ses.<id>``, KEY_USR_SEARCH); kernels without keys are fine."""
    try:
        _shim.join_session_keyring(f"_ses.{container_id}", _KEY_USR_SEARCH)
    except OSError as err:
        if err.errno != errno.ENOSYS:
            raise


def _set_names(config: dict, requested: dict) -> None:
    for field, setter in (("hostname", _shim.sethostname), ("domainname", _shim.setdomainname)):
        if field in config:
            if "uts" not in requested:
                raise OCIError(f"{field}: cannot be set without a new UTS namespace")
            setter(config[field])


