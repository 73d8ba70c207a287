"""A lean JSON Schema checker for the success path of validation.

``jsonschema`` stays the authority (and the source of every error message), but importing
it and building its validator costs about 120 ms, on every ``create``.  This module answers
only "valid or not" for the keywords our schemas use, in a few milliseconds; ``validate``
calls jsonschema only when the answer is "not valid" (to explain why) or "unknown" (a
keyword this module does not implement, so it never guesses).  tests/test_schema.py checks
that both agree on every valid and invalid document there.
"""

import re

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
        self.patterns: dict[str, re.Pattern] = {}

    def valid(self, instance) -> bool:
        """True/False; raises Unknown when the schema needs what is not implemented."""
        return self._valid(instance, self.root)

    def _resolve(self, ref: str) -> dict:
        if not ref.startswith("#/$defs/") or "/" in ref[8:] or "~" in ref:
            raise Unknown(ref)
        return self.root["$defs"][ref[8:]]

    def _pattern(self, pattern: str) -> re.Pattern:
        if pattern not in self.patterns:
            self.patterns[pattern] = re.compile(pattern)
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
    return not isinstance(v, str) or c._pattern(arg).search(v) is not None


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
