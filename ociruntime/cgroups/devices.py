"""Device access rules (linux.resources.devices) and the defaults every container gets.

The config's rules come first, then the devices the spec says a container always has
(null, zero, full, random, urandom, tty, console, ptmx, pts) and mknod of any device, as
runc does; the last matching rule wins.
"""

from __future__ import annotations


def _allow(kind: str, major: int | None, minor: int | None, access: str = "rwm") -> dict:
    return {"allow": True, "type": kind, "major": major, "minor": minor, "access": access}


DEFAULT_RULES = [
    _allow("c", None, None, "m"),
    _allow("b", None, None, "m"),
    _allow("c", 1, 3),    # /dev/null
    _allow("c", 1, 5),    # /dev/zero
    _allow("c", 1, 7),    # /dev/full
    _allow("c", 1, 8),    # /dev/random
    _allow("c", 1, 9),    # /dev/urandom
    _allow("c", 5, 0),    # /dev/tty
    _allow("c", 5, 1),    # /dev/console
    _allow("c", 5, 2),    # /dev/ptmx
    _allow("c", 136, None),  # /dev/pts/*
]


def effective_rules(config: dict) -> list[dict]:
    """The rules to enforce, in order: the config's, then the defaults."""
    rules = config.get("linux", {}).get("resources", {}).get("devices") or []
    return [*rules, *DEFAULT_RULES]


def v1_rule(rule: dict) -> str:
    """A rule in the devices.allow/devices.deny syntax: ``c 1:3 rwm``."""
    kind = rule.get("type") or "a"
    major = "*" if rule.get("major") in (None, -1) else rule["major"]
    minor = "*" if rule.get("minor") in (None, -1) else rule["minor"]
    return f"{kind} {major}:{minor} {rule.get('access') or 'rwm'}"
