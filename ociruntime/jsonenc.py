"""JSON without the ``json`` module, for the commands engines call most (``state``, ``create``).

``import json`` also imports ``re`` (its decoder and encoder compile patterns at import),
a third of what ``state`` costs.  The state document holds only strings, integers, booleans,
None, lists and dicts, which ``dumps`` encodes exactly as ``json.dumps(value, indent=...)``
does; ``loads`` parses a valid document with the C scanner ``json`` itself uses, and hands
anything else to ``json.loads`` to explain (tests/test_jsonenc.py compares them).
"""

_JSON_SPACE = " \t\n\r"


class _ScannerContext:
    """The attributes _json's scanner reads from a json.JSONDecoder: json.loads's defaults."""

    def __init__(self):
        self.strict = True
        self.object_hook = self.object_pairs_hook = None
        self.parse_float, self.parse_int = float, int
        self.parse_constant = {"NaN": float("nan"), "Infinity": float("inf"),
                               "-Infinity": float("-inf")}.__getitem__
        self.memo = {}


def loads(data: bytes | str):
    """``json.loads(data)``; json itself is imported only to report an invalid document."""
    import _json

    try:
        text = (data.decode() if isinstance(data, bytes) else data).strip(_JSON_SPACE)
        if not text.startswith("\ufeff"):
            value, end = _json.make_scanner(_ScannerContext())(text, 0)
            if end == len(text):
                return value
    except Exception:  # noqa: BLE001 - json.loads below says what is wrong
        pass
    import json

    return json.loads(data)

_ESCAPES = {0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r",
            0x09: "\\t"}
_ESCAPES.update({c: f"\\u{c:04x}" for c in [*range(0x20), 0x7F] if c not in _ESCAPES})


def _string(text: str) -> str:
    escaped = text.translate(_ESCAPES)
    if escaped.isascii():
        return f'"{escaped}"'
    return '"' + "".join(c if ord(c) < 0x80 else _non_ascii(ord(c)) for c in escaped) + '"'


def _non_ascii(code: int) -> str:
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | (code >> 10):04x}\\u{0xDC00 | (code & 0x3FF):04x}"


def dumps(value, indent: int | None = None, _level: int = 0) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, dict):
        items = [f"{_string(str(k))}: {dumps(v, indent, _level + 1)}" for k, v in value.items()]
        return _container("{", "}", items, indent, _level)
    if isinstance(value, (list, tuple)):
        return _container("[", "]", [dumps(v, indent, _level + 1) for v in value], indent, _level)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _container(open_: str, close: str, items: list[str], indent: int | None, level: int) -> str:
    if not items:
        return open_ + close
    if indent is None:
        return open_ + ", ".join(items) + close
    inner = "\n" + " " * (indent * (level + 1))
    return open_ + inner + ("," + inner).join(items) + "\n" + " " * (indent * level) + close
