"""Validate ``config.json`` and state documents against the bundled JSON Schemas.

Both entry points raise :class:`~ociruntime.errors.ConfigError` with a one-line
message ``<json path>: <problem>``, e.g. ``process.args: [] is too short`` or
``linux.namespaces[0].type: 'foo' is not one of [...]``; a problem with the
document as a whole is reported against ``config.json`` (or ``state.json``).

This runs on every ``create``: a valid document is confirmed by the lean checker of
``quickcheck``; ``jsonschema`` (imported lazily, its validator built once per process) is
only needed to explain what is wrong, or where the lean checker cannot decide.
"""

import os

from ..errors import ConfigError, OCIError
from ..jsonenc import dumps, loads

CONFIG_SCHEMA = "config-schema.json"
STATE_SCHEMA = "state-schema.json"

# Longest rendering of an offending value inside a message.
_MAX_VALUE_REPR = 120


def _schema_dirs():
    """Installed package data first (``ociruntime/schemas``), then the source tree."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    yield os.path.join(package_dir, "schemas")
    yield os.path.join(os.path.dirname(package_dir), "schemas")


def _schema_path(name: str) -> str:
    for directory in _schema_dirs():
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise OCIError(f"{name}: schema file not found (is ociruntime installed correctly?)")


def _inline_local_refs(schema: dict) -> dict:
    """Replace each lone ``{"$ref": "#/$defs/X"}`` by (a resolved copy of) that ``$defs`` entry.

    Without ``$id``, anchors or dynamic refs this is exactly equivalent, and it halves
    validation time (jsonschema resolves every ``$ref`` on every use). Errors then carry
    the inlined entry as their schema, so ``x-messages`` keeps working. A ``$ref`` with
    sibling keywords, or one that would recurse, is left for jsonschema to resolve.
    """
    defs = schema.get("$defs", {})
    resolved = {}
    in_progress = set()

    def walk(node):
        if isinstance(node, list):
            return [walk(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref[len("#/$defs/"):]
            if name in defs and "/" not in name and "~" not in name and name not in in_progress:
                if name not in resolved:
                    in_progress.add(name)
                    resolved[name] = walk(defs[name])
                    in_progress.discard(name)
                return resolved[name]
            return node
        return {key: walk(value) for key, value in node.items()}

    return walk(schema)


def _once_per_name(build):
    """Memoizes ``build(name)`` for the process (functools.lru_cache would import
    collections on every create's path)."""
    built = {}

    def get(name: str):
        if name not in built:
            built[name] = build(name)
        return built[name]

    return get


@_once_per_name
def _validator(name: str):
    import jsonschema
    import referencing

    path = _schema_path(name)
    try:
        with open(path, encoding="utf-8") as f:
            schema = loads(f.read())
    except (OSError, ValueError) as e:
        raise OCIError(f"{path}: cannot load schema: {e}") from None
    cls = jsonschema.validators.validator_for(schema)
    schema = _inline_local_refs(schema)
    # An empty registry: every $ref is local, and nothing is ever fetched.
    return cls(schema, format_checker=None, registry=referencing.Registry())


def _format_path(path, root_label: str) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier():
            out += f".{part}" if out else part
        else:
            out += f"[{dumps(part)}]"
    return out or root_label


def _short(value) -> str:
    text = repr(value)
    if len(text) > _MAX_VALUE_REPR:
        text = text[: _MAX_VALUE_REPR - 3] + "..."
    return text


def _problem(error) -> str:
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    custom = schema.get("x-messages")
    if isinstance(custom, dict) and keyword in custom:
        return custom[keyword].replace("{instance}", _short(error.instance))
    value = _short(error.instance)
    if keyword in ("minItems", "minLength"):
        return f"{value} is too short"
    if keyword in ("maxItems", "maxLength"):
        return f"{value} is too long"
    if keyword == "type":
        types = error.validator_value
        types = [types] if isinstance(types, str) else list(types)
        return f"{value} is not of type {', '.join(repr(t) for t in types)}"
    if keyword == "enum":
        return f"{value} is not one of {error.validator_value!r}"
    if keyword == "const":
        return f"{value} is not {error.validator_value!r}"
    return error.message


@_once_per_name
def _quick_checker(name: str):
    from .quickcheck import Checker

    path = _schema_path(name)
    try:
        with open(path, encoding="utf-8") as f:
            return Checker(loads(f.read()))
    except (OSError, ValueError) as e:
        raise OCIError(f"{path}: cannot load schema: {e}") from None


def _quick_valid(name: str, document) -> bool:
    """True when the lean checker proves the document valid (jsonschema not needed)."""
    from .quickcheck import Unknown

    try:
        return _quick_checker(name).valid(document)
    except Unknown:
        return False


def _check(name: str, document, root_label: str) -> None:
    if _quick_valid(name, document):
        return
    from jsonschema.exceptions import best_match

    error = best_match(_validator(name).iter_errors(document))
    if error is None:
        return
    message = f"{_format_path(error.absolute_path, root_label)}: {_problem(error)}"
    raise ConfigError(message.replace("\r", "\\r").replace("\n", "\\n"))


def _check_unique(items, key: str, what: str, label: str) -> None:
    """The spec requires an error for repeated namespace types and rlimit types."""
    seen = set()
    for i, item in enumerate(items or ()):
        value = item.get(key)
        if value in seen:
            raise ConfigError(f"{label}[{i}].{key}: duplicate {what} {value!r}")
        seen.add(value)


def validate_config(config: object) -> None:
    """Raise ConfigError if ``config`` (parsed config.json) violates the runtime-spec."""
    _check(CONFIG_SCHEMA, config, "config.json")
    linux = config.get("linux") or {}
    process = config.get("process") or {}
    _check_unique(linux.get("namespaces"), "type", "namespace type", "linux.namespaces")
    _check_unique(process.get("rlimits"), "type", "rlimit type", "process.rlimits")


def validate_state(state: dict) -> None:
    """Raise ConfigError if ``state`` is not a valid runtime-spec state document."""
    _check(STATE_SCHEMA, state, "state.json")
