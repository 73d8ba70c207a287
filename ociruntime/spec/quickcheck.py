"""A lean JSON Schema checker for the success path of validation.

``jsonschema`` stays the authority (and the source of every error message), but importing
it and building its validator costs about 120 ms, on every ``create``.  This module answers
only "valid or not" for the keywords our schemas use, in a few milliseconds; ``validate``
calls jsonschema only when the answer is "not valid" (to explain why) or "unknown" (a
keyword this module does not implement, so it never guesses).  tests/test_schema.py checks
that both agree on every valid and invalid document there.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing and collections.abc cost ms at every call's start
if TYPE_CHECKING:
    from collections.abc import Callable

#: keywords that only annotate and never affect validity
_ANNOTATIONS = {"$schema", "$id", "title", "description", "x-messages", "$comment", "default",
                "examples", "$defs"}


class Unknown(Exception):
    """The schema uses something this checker does not implement."""


def _is_type(value, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "string":
        return isinstance(value, str)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float))
    raise Unknown(kind)


def _equal(a, b) -> bool:
    """JSON equality: true is not 1, 1.0 is 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


class Checker:
    def __init__(self, schema: dict):
        self.root = schema
        self.patterns: dict[str, Callable[[str], bool]] = {}

    def valid(self, instance) -> bool:
        """True/False; raises Unknown when the schema needs what is not implemented."""
        return self._valid(instance, self.root)

    def _resolve(self, ref: str) -> dict:
        if not ref.startswith("#/$defs/") or "/" in ref[8:] or "~" in ref:
            raise Unknown(ref)
        return self.root["$defs"][ref[8:]]

    def _pattern(self, pattern: str) -> Callable[[str], bool]:
        if pattern not in self.patterns:
            self.patterns[pattern] = pattern_test(pattern)
        return self.patterns[pattern]

    def _valid(self, value, schema) -> bool:
        if schema is True:
            return True
        if schema is False:
            return False
        for keyword, arg in schema.items():
            if keyword in _ANNOTATIONS or keyword in ("then", "else"):
                continue
            check = _KEYWORDS.get(keyword)
            if check is None:
                raise Unknown(keyword)
            if not check(self, value, arg, schema):
                return False
        return True


def _k_type(c, v, arg, _s):
    return any(_is_type(v, t) for t in ([arg] if isinstance(arg, str) else arg))


def _k_ref(c, v, arg, _s):
    return c._valid(v, c._resolve(arg))


def _k_properties(c, v, arg, _s):
    return not isinstance(v, dict) or all(c._valid(v[k], sub) for k, sub in arg.items() if k in v)


def _k_additional(c, v, arg, s):
    if not isinstance(v, dict):
        return True
    if "patternProperties" in s:
        raise Unknown("patternProperties")
    known = s.get("properties", {})
    return all(c._valid(item, arg) for k, item in v.items() if k not in known)


def _k_required(c, v, arg, _s):
    return not isinstance(v, dict) or all(k in v for k in arg)


def _k_dependent_required(c, v, arg, _s):
    return not isinstance(v, dict) or all(all(d in v for d in deps) for k, deps in arg.items() if k in v)


def _k_property_names(c, v, arg, _s):
    return not isinstance(v, dict) or all(c._valid(k, arg) for k in v)


def _k_items(c, v, arg, _s):
    if isinstance(arg, list):
        raise Unknown("items as a list")
    return not isinstance(v, list) or all(c._valid(item, arg) for item in v)


def _k_min_items(c, v, arg, _s):
    return not isinstance(v, list) or len(v) >= arg


def _k_min_length(c, v, arg, _s):
    return not isinstance(v, str) or len(v) >= arg


def _k_pattern(c, v, arg, _s):
    return not isinstance(v, str) or c._pattern(arg)(v)


def _k_enum(c, v, arg, _s):
    return any(_equal(v, option) for option in arg)


def _k_const(c, v, arg, _s):
    return _equal(v, arg)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _k_minimum(c, v, arg, _s):
    return not _is_number(v) or v >= arg


def _k_maximum(c, v, arg, _s):
    return not _is_number(v) or v <= arg


def _k_any_of(c, v, arg, _s):
    return any(c._valid(v, sub) for sub in arg)


def _k_all_of(c, v, arg, _s):
    return all(c._valid(v, sub) for sub in arg)


def _k_if(c, v, arg, s):
    branch = s.get("then", True) if c._valid(v, arg) else s.get("else", True)
    return c._valid(v, branch)


_KEYWORDS = {
    "type": _k_type, "$ref": _k_ref, "properties": _k_properties,
    "additionalProperties": _k_additional, "required": _k_required,
    "dependentRequired": _k_dependent_required, "propertyNames": _k_property_names,
    "items": _k_items, "minItems": _k_min_items, "minLength": _k_min_length,
    "pattern": _k_pattern, "enum": _k_enum, "const": _k_const, "minimum": _k_minimum,
    "maximum": _k_maximum, "anyOf": _k_any_of, "allOf": _k_all_of, "if": _k_if,
}


# -- "pattern" ----------------------------------------------------------------------------
# Compiling our schemas' regular expressions (and importing re) costs more than the rest of
# the check, so the patterns the schemas use are answered by plain string tests, exactly as
# re.search does (``$`` also matches before one final newline); any other pattern falls
# back to re.  tests/test_schema.py compares both on many strings.
_DIGITS = frozenset("0123456789")
_ALNUM_HYPHEN = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-")
_UPPER_UNDERSCORE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ_")


def _number(text: str) -> bool:
    """0 or [1-9][0-9]*"""
    return bool(text) and set(text) <= _DIGITS and (text == "0" or text[0] != "0")


def _semver(text: str) -> bool:
    """SemVer 2.0.0: X.Y.Z, then -prerelease (numbers or identifiers), then +build."""
    main, plus, build = text.partition("+")
    if plus and not all(part and set(part) <= _ALNUM_HYPHEN for part in build.split(".")):
        return False
    core, dash, pre = main.partition("-")
    if dash and not all(_number(part) or (part and set(part) <= _ALNUM_HYPHEN
                                          and not set(part) <= _DIGITS)
                        for part in pre.split(".")):
        return False
    numbers = core.split(".")
    return len(numbers) == 3 and all(_number(n) for n in numbers)


def _cpu_list(text: str) -> bool:
    """"" or ranges like 0-3,7"""
    return text == "" or all(
        all(bound and set(bound) <= _DIGITS for bound in part.split("-")) and part.count("-") <= 1
        for part in text.split(","))


def _page_size(text: str) -> bool:
    return (len(text) >= 3 and text[-1] == "B" and text[-2] in "KMGTPE"
            and _number(text[:-2]) and text[0] != "0")


_WHOLE = {  # ^...$ patterns: tests of the whole string
    "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
    "(\\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$": _semver,
    "^([0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*)?$": _cpu_list,
    "^CAP_[A-Z0-9_]+$": lambda t: t[:4] == "CAP_" and len(t) > 4
                                  and set(t[4:]) <= _UPPER_UNDERSCORE | _DIGITS,
    "^RLIMIT_[A-Z_]+$": lambda t: t[:7] == "RLIMIT_" and len(t) > 7 and set(t[7:]) <= _UPPER_UNDERSCORE,
    "^MB:[^\\n]*$": lambda t: t[:3] == "MB:" and "\n" not in t,
    "^[^\\n]*$": lambda t: "\n" not in t,
    "^[rwm]*$": lambda t: set(t) <= {"r", "w", "m"},
    "^[1-9][0-9]*[KMGTPE]B$": _page_size,
}
_PREFIX = {  # patterns without $: tests of the start of the string
    "^/": lambda t: t[:1] == "/",
    "^[^=]+=": lambda t: t.find("=") > 0,
}


def pattern_test(pattern: str) -> Callable[[str], bool]:
    """A function answering ``re.search(pattern, text) is not None``."""
    if pattern in _PREFIX:
        return _PREFIX[pattern]
    if pattern in _WHOLE:
        whole = _WHOLE[pattern]
        return lambda text: whole(text) or (text[-1:] == "\n" and whole(text[:-1]))
    import re

    return re.compile(pattern).search
