"""Where errors and warnings go: always stderr (one line), and ``--log`` in text or JSON.

containerd reads the last ``error`` line of a JSON log; podman parses the whole file as one
object, so a failure writes exactly one line.
"""

import os
import sys
import time


class Logger:
    def __init__(self, path: str | None = None, fmt: str = "text", debug: bool = False):
        self.path = path
        self.fmt = fmt
        self.debug_enabled = debug

    def error(self, message: str) -> None:
        print(f"ociruntime: {message}", file=sys.stderr)
        self.write("error", message)

    def warning(self, message: str) -> None:
        print(f"ociruntime: warning: {message}", file=sys.stderr)
        self.write("warning", message)

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self.write("debug", message)

    def write(self, level: str, message: str) -> None:
        """Only to ``--log`` (for a message already shown on stderr another way)."""
        if not self.path:
            return
        stamp = rfc3339_now()
        import json

        if self.fmt == "json":
            line = json.dumps({"level": level, "msg": message, "time": stamp})
        else:
            line = f"time={json.dumps(stamp)} level={level} msg={json.dumps(message)}"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)


def rfc3339_now() -> str:
    """The current UTC time as RFC 3339 with nanoseconds (runc's ``created``, logrus' ``time``)."""
    now = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 10**9)) + f".{now % 10**9:09d}Z"
