"""Messages between the runtime and the container's init: one JSON object per packet.

init -> parent: ``pid`` (sent by the intermediate), ``hooks`` (namespaces and mounts are
ready: run prestart/createRuntime), ``ready`` (waiting for start), ``error``.
parent -> init: ``go`` (the parent has the init's PID: without it, the intermediate's
``pid`` and the init's first message could arrive in either order), ``continue`` (the
runtime-namespace hooks are done).
``report`` is how a failure on the container side becomes the runtime's one-line error.
"""

from __future__ import annotations

import _socket
import marshal

from ..errors import OCIError, ProcessError


class Channel:
    def __init__(self, sock: _socket.socket):
        self.sock = sock

    @staticmethod
    def pair() -> tuple["Channel", "Channel"]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
        return Channel(a), Channel(b)

    def send(self, kind: str, **fields) -> None:
        self.sock.send(marshal.dumps({"type": kind, **fields}))

    def recv(self, expected: str) -> dict:
        """The next message, which must be ``expected``; an ``error`` message or the peer
        going away raises ProcessError."""
        data = self.sock.recv(65536)
        if not data:
            raise ProcessError("container init exited unexpectedly")
        message = marshal.loads(data)
        if message["type"] == "error":
            raise ProcessError(message["message"])
        if message["type"] != expected:
            raise ProcessError(f"container init: expected {expected!r}, got {message['type']!r}")
        return message

    def close(self) -> None:
        self.sock.close()


def report(channel: Channel, err: BaseException) -> None:
    try:
        channel.send("error", message=message_of(err))
    except OSError:
        pass


def message_of(err: BaseException) -> str:
    """The one-line message the runtime shows for ``err``."""
    return str(err) if isinstance(err, OCIError) else _describe(err)


def _describe(err: BaseException) -> str:
    if isinstance(err, OSError):
        return f"container init: {err.strerror or err}" + (f": {err.filename}" if err.filename else "")
    return f"container init: {type(err).__name__}: {err}"
