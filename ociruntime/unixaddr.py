"""Unix socket paths of any length: a sockaddr_un holds 107 bytes, and state directories
and engines' socket paths can be longer.  The socket is reached through an fd of its
directory instead (``/proc/self/fd/N/name``).  No imports beyond os: ``start`` uses it."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing and collections.abc cost ms at every call's start
if TYPE_CHECKING:
    from collections.abc import Callable


def at_path(path: str, action: Callable[[str], object]):
    """Returns ``action(address)`` (e.g. ``sock.connect``) with an address of ``path`` that
    fits a sockaddr_un."""
    directory = os.open(os.path.dirname(path) or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return action(f"/proc/self/fd/{directory}/{os.path.basename(path)}")
    finally:
        os.close(directory)
