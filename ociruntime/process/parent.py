"""The runtime side of create: fork the init and walk it through the sync protocol."""

from __future__ import annotations

import os
import _socket
import _signal  # the C module: signal.py builds enums at import

from .. import _shim, namespaces
from ..errors import OCIError
from ..hooks import run_hooks
from ..idmap import detached_trees
from ..state import INIT_SOCKET
from ..unixaddr import at_path
from .attributes import InitContext
from .init import intermediate
from .sync import Channel

def start_listener(state_dir: str) -> _socket.socket:
    """The socket the init waits on for ``start``.  Bound here, by the runtime: in a user
    namespace the init may not create files in the state dir.  Reached through an fd of
    the directory (unixaddr.py)."""
    listener = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        at_path(os.path.join(state_dir, INIT_SOCKET), listener.bind)
        listener.listen(1)
    except BaseException:
        listener.close()
        raise
    return listener


class InitProcess:
    """A container init on its way from fork to "waiting for start"."""

    def __init__(self, ctx: InitContext, hook_state: dict):
        self.ctx = ctx
        self.hook_state = hook_state
        self.pid = 0
        #: linux.netDevices moved into the init's network namespace (netdevices.MovedDevices)
        self.net_devices = None

    def spawn(self) -> int:
        """Forks the init and drives it to the point where it waits for ``start``;
        returns its PID.  On failure the init is killed and ProcessError raised."""
        # orphans (the init, once the intermediate exits) are reparented to us
        _shim.prctl(_shim.PR_SET_CHILD_SUBREAPER, 1)
        self.ctx.listener = start_listener(self.ctx.state_dir)
        ours, theirs = Channel.pair()
        try:
            # with host privileges, before the container enters any namespace; the init
            # inherits the (close-on-exec) trees and attaches them
            self.ctx.idmapped_trees = detached_trees(self.ctx.config, self.ctx.bundle)
            child = os.fork()
            if child == 0:
                ours.close()
                intermediate(theirs, self.ctx)
                os._exit(1)
            theirs.close()
            self._drive(ours, child)
        except BaseException:
            self.kill()
            if self.net_devices is not None:
                self.net_devices.restore()  # a failed create leaves them on the host
            raise
        finally:
            ours.close()
            theirs.close()
            self.ctx.listener.close()
            if self.ctx.console is not None:
                self.ctx.console.close()  # the init has its copy
            for fd in self.ctx.idmapped_trees.values():
                os.close(fd)
            if self.net_devices is not None:
                self.net_devices.close()
        return self.pid

    def _drive(self, channel: Channel, intermediate_pid: int) -> None:
        try:
            user = namespaces.requested(self.ctx.config).get("user")
            if user and not user.get("path"):
                channel.recv("userns")
                linux = self.ctx.config["linux"]
                namespaces.write_id_maps(intermediate_pid, linux["uidMappings"], linux["gidMappings"])
                channel.send("mapped")
            self.pid = channel.recv("pid")["pid"]
        except BaseException:
            os.kill(intermediate_pid, _signal.SIGKILL)
            raise
        finally:
            os.waitpid(intermediate_pid, 0)
        self._move_net_devices()
        channel.send("go")  # the init starts only once we know its PID (to kill it on failure)
        channel.recv("hooks")
        state = dict(self.hook_state, pid=self.pid)
        run_hooks(self.ctx.config, "prestart", state)
        run_hooks(self.ctx.config, "createRuntime", state)
        channel.send("continue")
        channel.recv("ready")

    def _move_net_devices(self) -> None:
        """linux.netDevices, moved while the init waits for "go": before any hook runs and
        before the container is set up (config-linux.md "Network Devices")."""
        devices = (self.ctx.config.get("linux") or {}).get("netDevices")
        if devices:
            from ..netdevices import MovedDevices

            try:
                self.net_devices = MovedDevices(f"/proc/{self.pid}/ns/net")
            except OSError as err:
                raise OCIError(f"linux.netDevices: the container's network namespace: "
                               f"{err.strerror}") from None
            self.net_devices.move_in(devices)

    def kill(self) -> None:
        if not self.pid:
            return
        try:
            os.kill(self.pid, _signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
