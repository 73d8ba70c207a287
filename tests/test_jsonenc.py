"""ociruntime.jsonenc writes exactly what json.dumps writes, for the types it accepts."""

import json
import random

import pytest

from ociruntime.jsonenc import dumps, loads

SAMPLES = [
    None, True, False, 0, -1, 2**63, "", "plain", 'quo"te', "back\\slash", "tab\tnew\nline\r",
    "\x00\x01\x1f\x7f", "é ü 中文", "emoji \U0001F600", [], {}, [1, "a", None],
    {"id": "c1", "pid": 42, "annotations": {"k": "v", "e": ""}, "list": [[], {}]},
]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
@pytest.mark.parametrize("indent", [None, 2])
def test_same_as_json_dumps(value, indent):
    assert dumps(value, indent) == json.dumps(value, indent=indent)


def test_random_documents():
    rng = random.Random(7)

    def text():
        return "".join(chr(rng.choice([rng.randrange(0, 0x80), rng.randrange(0x80, 0x3000),
                                       rng.randrange(0x10000, 0x10FFFF)])) for _ in range(rng.randrange(8)))

    def value(depth=0):
        kind = rng.randrange(6 if depth < 3 else 4)
        if kind == 0:
            return None
        if kind == 1:
            return rng.randrange(-10**12, 10**12)
        if kind == 2:
            return text()
        if kind == 3:
            return rng.random() < 0.5
        if kind == 4:
            return [value(depth + 1) for _ in range(rng.randrange(4))]
        return {text(): value(depth + 1) for _ in range(rng.randrange(4))}

    for _ in range(500):
        v = value()
        for indent in (None, 2):
            assert dumps(v, indent) == json.dumps(v, indent=indent)


def test_refuses_what_json_would_encode_differently():
    with pytest.raises(TypeError):
        dumps(1.5)


# --- loads ---------------------------------------------------------------------------

PARSE_SAMPLES = [
    '{"a": [1, -2.5e3, true, false, null, "x\\u00e9\\ud83d\\ude00"]}', " 3 ", "\n[]\t",
    "[NaN, Infinity, -Infinity]", '{"dup": 1, "dup": 2}', '"\\"\\\\\\/\\b\\f\\n\\r\\t"',
    b'{"bytes": {"nested": [[], {}]}}', '"é"'.encode("utf-16"),
]
BAD_SAMPLES = ["{", '{"a": {', '{"a": [1, {"b"', "", "[1,]", "\ufeff{}", b"\xff", '{"a":1} x', '"a\tb"', "[1] [2]", "nul"]


@pytest.mark.parametrize("text", PARSE_SAMPLES, ids=repr)
def test_loads_same_as_json_loads(text):
    expected = json.loads(text)
    got = loads(text)
    assert repr(got) == repr(expected) and type(got) is type(expected)


@pytest.mark.parametrize("text", BAD_SAMPLES, ids=repr)
def test_loads_errors_are_json_loads_errors(text):
    with pytest.raises(ValueError) as expected:
        json.loads(text)
    with pytest.raises(ValueError) as got:
        loads(text)
    assert (type(got.value), str(got.value)) == (type(expected.value), str(expected.value))
