"""sd_notify (NOTIFY_SOCKET) through the runtime, as runc does it.

Imported only when the runtime's environment has NOTIFY_SOCKET.  At ``create`` the state
directory gets a ``notify`` directory, bind-mounted read-only at ``/run/notify`` in the
container, and the process gets ``NOTIFY_SOCKET=/run/notify/notify.sock``.  ``start`` (and
``run``) bind that socket, release the process, wait until it sends ``READY=...`` (or exits),
and send the host's socket the READY line and then ``MAINPID=<pid>`` as two datagrams: the
container's init after ``start`` and ``run -d``, the runtime itself in a foreground ``run``
(which stays the service's main process).
"""

from __future__ import annotations

import os
import select
import socket

from .errors import OCIError

DIRECTORY = "notify"
SOCKET_NAME = "notify.sock"
CONTAINER_DIRECTORY = "/run/notify"


def setup(config: dict, state_dir: str) -> None:
    """The socket's directory, its mount and the process's NOTIFY_SOCKET (``create``)."""
    source = os.path.join(state_dir, DIRECTORY)
    os.mkdir(source, 0o755)
    config.setdefault("mounts", []).append({
        "destination": CONTAINER_DIRECTORY, "type": "bind", "source": source,
        "options": ["bind", "nosuid", "noexec", "nodev", "ro"]})
    if "process" in config:
        env = config["process"].setdefault("env", [])
        env.append(f"NOTIFY_SOCKET={CONTAINER_DIRECTORY}/{SOCKET_NAME}")


class Relay:
    """The container's notify socket, bound before its process is released."""

    def __init__(self, state_dir: str, host: str):
        self.host = "\0" + host[1:] if host.startswith("@") else host  # '@': abstract
        path = os.path.join(state_dir, DIRECTORY, SOCKET_NAME)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            if os.path.lexists(path):
                os.unlink(path)  # left by an earlier start that failed
            self.sock.bind(path)
            os.chmod(path, 0o777)  # the container's user may be anyone
        except OSError as err:
            self.sock.close()
            raise OCIError(f"NOTIFY_SOCKET: binding {path}: {err.strerror}") from None

    def forward(self, init_pid: int, main_pid: int) -> None:
        """Waits for a READY= line from the container (or its init's exit) and reports it
        with ``MAINPID=main_pid`` to the host's socket."""
        try:
            pidfd = os.pidfd_open(init_pid)
        except ProcessLookupError:
            return
        try:
            ready = self._wait_ready(pidfd)
        finally:
            os.close(pidfd)
        if ready is None:
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as client:
                client.connect(self.host)
                client.send(ready + b"\n")
                client.send(b"MAINPID=%d\n" % main_pid)
        except OSError as err:
            raise OCIError(f"NOTIFY_SOCKET {self.host.lstrip(chr(0))}: {err.strerror}") from None

    def _wait_ready(self, pidfd: int) -> bytes | None:
        """The first READY= line; None once the init exited without one."""
        self.sock.setblocking(False)
        poller = select.poll()
        poller.register(self.sock, select.POLLIN)
        poller.register(pidfd, select.POLLIN)
        while True:
            exited = pidfd in dict(poller.poll())
            while True:  # what was sent before an exit still counts
                try:
                    message = self.sock.recv(4096)
                except BlockingIOError:
                    break
                for line in message.split(b"\n"):
                    if line.startswith(b"READY="):
                        return line
            if exited:
                return None

    def close(self) -> None:
        self.sock.close()
