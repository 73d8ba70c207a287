"""``update``: runc's flags (or a ``--resources`` document) as a ``linux.resources`` delta.

Sizes are read as runc reads them (``64m``, ``1.5g``, ``512KiB``: binary multiples, ``-1``
for unlimited); with ``--resources`` every other flag is ignored, as with runc.
"""

from __future__ import annotations

import sys

from .errors import ConfigError, NotSupportedError

_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def ram_in_bytes(flag: str, text: str) -> int:
    """``-1``, or a size with an optional k/m/g/t/p (``i``, ``b``) suffix, in bytes."""
    import re

    if text == "-1":
        return -1
    match = re.fullmatch(r"(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?", text.lower())
    if not match:
        raise ConfigError(f"--{flag}: invalid size {text!r} (e.g. 64m, 1g, 1048576 or -1)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _integer(flag: str, text: str, signed: bool) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ConfigError(f"--{flag}: invalid number {text!r}") from None
    if value < 0 and not signed:
        raise ConfigError(f"--{flag}: {text} is negative")
    return value


def _unsigned(flag: str, text: str) -> int:
    return _integer(flag, text, signed=False)


def _signed(flag: str, text: str) -> int:
    return _integer(flag, text, signed=True)


def _text(_flag: str, text: str) -> str:
    return text


#: flag (also the parameter name with "_") -> (section, field, parser)
FLAGS = {
    "memory": ("memory", "limit", ram_in_bytes),
    "memory-reservation": ("memory", "reservation", ram_in_bytes),
    "memory-swap": ("memory", "swap", ram_in_bytes),
    "kernel-memory": ("memory", "kernel", ram_in_bytes),
    "kernel-memory-tcp": ("memory", "kernelTCP", ram_in_bytes),
    "cpu-share": ("cpu", "shares", _unsigned),
    "cpu-quota": ("cpu", "quota", _signed),
    "cpu-period": ("cpu", "period", _unsigned),
    "cpu-rt-runtime": ("cpu", "realtimeRuntime", _signed),
    "cpu-rt-period": ("cpu", "realtimePeriod", _unsigned),
    "cpuset-cpus": ("cpu", "cpus", _text),
    "cpuset-mems": ("cpu", "mems", _text),
    "pids-limit": ("pids", "limit", _signed),
    "blkio-weight": ("blockIO", "weight", _unsigned),
}
RDT_FLAGS = ("l3-cache-schema", "mem-bw-schema")


def requested(resources_file: str | None, flags: dict[str, str | None]) -> dict:
    """The resources to change: the ``--resources`` document, or the flags given."""
    if resources_file:
        return _read_document(resources_file)
    for flag in RDT_FLAGS:
        if flags.get(flag.replace("-", "_")) is not None:
            raise NotSupportedError(f"--{flag}: Intel RDT is not supported yet")
    delta: dict = {}
    for flag, (section, field, parse) in FLAGS.items():
        text = flags.get(flag.replace("-", "_"))
        if text is not None:
            delta.setdefault(section, {})[field] = parse(flag, text)
    if delta.get("pids", {}).get("limit") == 0:
        del delta["pids"]  # runc: 0 means "not given"
    return delta


def _read_document(resources_file: str) -> dict:
    import json

    try:
        if resources_file == "-":
            doc = json.load(sys.stdin)
        else:
            with open(resources_file) as f:
                doc = json.load(f)
    except OSError as err:
        raise ConfigError(f"--resources: {resources_file}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(f"--resources: {resources_file}: not JSON: {err}") from None
    if not isinstance(doc, dict):
        raise ConfigError("--resources: expected a JSON object (linux.resources)")
    return doc


def merged(current: dict, delta: dict) -> dict:
    """``current`` with each section of ``delta`` laid over it (lists replace)."""
    result = dict(current)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = {**result[key], **value}
        else:
            result[key] = value
    return result
