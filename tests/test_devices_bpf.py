"""cgroup v2 device filter (ociruntime.cgroups.devices_bpf) against the real kernel.

Each case makes a cgroup ``ociruntime-test/bpf-<random>`` in the cgroup v2 hierarchy
(``/sys/fs/cgroup/unified`` on this hybrid host, ``/sys/fs/cgroup`` on a pure v2 host such as
the v2 VM), attaches the program built from the rules, forks a child into it and lets the
child open /dev/null, /dev/zero, /dev/full and mknod device nodes; the outcomes (``ok`` or
the errno name) are compared with what the rules say.  Every cgroup made is removed.

Needs root; the kernel tests carry the ``cgroupv2`` marker (they need a v2 hierarchy), so
``in-v2-vm.sh 'python3 -m pytest -m cgroupv2 tests/'`` runs them too.
"""

from __future__ import annotations

import errno
import json
import os
import random
import time
import uuid

import pytest

from ociruntime.cgroups import devices, devices_bpf
from ociruntime.errors import CgroupError

DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7)}
OPEN_MODES = {"r": os.O_RDONLY, "w": os.O_WRONLY, "rw": os.O_RDWR}
MKNODS = {"c1:3": ("c", 1, 3), "c1:5": ("c", 1, 5), "b7:0": ("b", 7, 0), "b1:3": ("b", 1, 3)}



def kernel(test):
    """Marks a test that loads programs into the kernel: root and a v2 hierarchy."""
    return pytest.mark.cgroupv2(pytest.mark.root(test))


def _v2_root() -> str | None:
    """Mount point of the cgroup2 hierarchy: /sys/fs/cgroup (pure v2) or .../unified."""
    with open("/proc/self/mounts") as f:
        mounts = {fields[1]: fields[2] for fields in (line.split() for line in f)}
    for path in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if mounts.get(path) == "cgroup2":
            return path
    return None


def _rmdir(path: str) -> None:
    for _ in range(100):  # a reaped child can keep the cgroup busy for a moment
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError as err:
            if err.errno != errno.EBUSY:
                raise
            time.sleep(0.02)
    os.rmdir(path)


@pytest.fixture
def cgroup():
    """A fresh v2 cgroup ``<v2 root>/ociruntime-test/bpf-<random>``, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = _v2_root()
    if root is None:
        pytest.skip("no cgroup v2 hierarchy mounted")
    parent = os.path.join(root, "ociruntime-test")
    path = os.path.join(parent, f"bpf-{uuid.uuid4().hex[:12]}")
    assert "process_api" not in path
    made_parent = False
    for _ in range(10):  # a concurrent test run may remove an empty parent under us
        try:
            os.mkdir(parent)
            made_parent = True
        except FileExistsError:
            pass
        try:
            os.mkdir(path)
            break
        except FileNotFoundError:
            continue
    else:
        pytest.fail(f"could not create {path}")
    try:
        yield path
    finally:
        _rmdir(path)
        if made_parent:
            try:
                os.rmdir(parent)
            except OSError:
                pass  # another test is using it


def probe(cgroup_dir: str, scratch: str) -> dict[str, str]:
    """Outcomes of device accesses made by a child moved into ``cgroup_dir``."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: only os-level calls, always _exit
        status = 1
        try:
            os.close(read_fd)
            with open(os.path.join(cgroup_dir, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            results = {}
            for name in DEVICES:
                for mode, flags in OPEN_MODES.items():
                    try:
                        os.close(os.open(f"/dev/{name}", flags))
                        results[f"{name}:{mode}"] = "ok"
                    except OSError as err:
                        results[f"{name}:{mode}"] = errno.errorcode[err.errno]
            for key, (kind, major, minor) in MKNODS.items():
                node = os.path.join(scratch, key.replace(":", "_"))
                mode = 0o600 | (0o020000 if kind == "c" else 0o060000)
                try:
                    os.mknod(node, mode, os.makedev(major, minor))
                    os.unlink(node)
                    results[f"mknod:{key}"] = "ok"
                except OSError as err:
                    results[f"mknod:{key}"] = errno.errorcode[err.errno]
            os.write(write_fd, json.dumps(results).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as f:
        data = f.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "probe child failed"
    return json.loads(data)


def expected(rules: list[dict]) -> dict[str, str]:
    """What the rules should give, by a direct reading of the documented semantics."""
    def allowed(kind: str, major: int, minor: int, bits: str) -> bool:
        for bit in bits:  # each requested bit: the last matching rule naming it decides
            verdict = False
            for rule in rules:
                if (rule.get("type") or "a") not in ("a", kind):
                    continue
                if rule.get("major") not in (None, -1, major):
                    continue
                if rule.get("minor") not in (None, -1, minor):
                    continue
                if bit in (rule.get("access") or "rwm"):
                    verdict = bool(rule.get("allow"))
            if not verdict:
                return False
        return True

    result = {}
    for name, (major, minor) in DEVICES.items():
        for mode in OPEN_MODES:
            result[f"{name}:{mode}"] = "ok" if allowed("c", major, minor, mode) else "EPERM"
    for key, (kind, major, minor) in MKNODS.items():
        result[f"mknod:{key}"] = "ok" if allowed(kind, major, minor, "m") else "EPERM"
    return result


def allow(kind=None, major=None, minor=None, access="rwm") -> dict:
    return {"allow": True, "type": kind, "major": major, "minor": minor, "access": access}


def deny(kind=None, major=None, minor=None, access="rwm") -> dict:
    return {"allow": False, "type": kind, "major": major, "minor": minor, "access": access}


CASES = {
    "deny-all-then-allow-null": [deny(), allow("c", 1, 3)],
    "allow-all-then-deny-zero": [allow(), deny("c", 1, 5)],
    "no-rules-denies-all": [],
    "wildcard-minor": [deny(), allow("c", 1, None)],
    "wildcard-major-minus-one": [allow("c", -1, 5, "r")],
    "wildcard-both": [allow("c", -1, -1)],
    "type-a-any-kind": [allow("a", 1, 3)],
    "type-missing-is-all": [{"allow": True, "major": 1, "minor": 3}],
    "read-only": [deny(), allow("c", 1, 3, "r")],
    "write-only": [allow("c", 1, None, "w")],
    "access-missing-is-rwm": [{"allow": True, "type": "c", "major": 1, "minor": 7}],
    "mknod-only": [allow("c", None, None, "m")],
    "deny-mknod": [allow(), deny("c", None, None, "m")],
    "deny-write-blocks-rdwr": [allow(), deny("c", 1, 3, "w")],
    "bits-from-two-rules": [allow("c", 1, 3, "r"), allow("c", 1, 3, "w")],
    "later-deny-wins": [allow("c", 1, 3), deny("c", 1, 3, "r")],
    "later-allow-wins": [deny("c", 1, 3), allow("c", 1, 3, "r")],
    "block-only": [allow("b")],
}


@kernel
@pytest.mark.parametrize("rules", CASES.values(), ids=CASES.keys())
def test_rules_enforced(cgroup, tmp_path, rules):
    devices_bpf.apply_device_rules(cgroup, rules)
    assert probe(cgroup, str(tmp_path)) == expected(rules)


def test_expected_model_sanity():
    """Spot-check the reference model against the brief's cases."""
    got = expected([deny(), allow("c", 1, 3)])
    assert got["null:rw"] == "ok" and got["zero:r"] == "EPERM" and got["mknod:c1:5"] == "EPERM"
    got = expected([allow("c", 1, 3, "r")])
    assert got["null:r"] == "ok" and got["null:w"] == "EPERM" and got["null:rw"] == "EPERM"


@kernel
def test_default_rules(cgroup, tmp_path):
    """The runtime's defaults after a deny-all config rule: the usual devices and mknod."""
    rules = devices.effective_rules({"linux": {"resources": {"devices": [deny()]}}})
    devices_bpf.apply_device_rules(cgroup, rules)
    got = probe(cgroup, str(tmp_path))
    assert set(got.values()) == {"ok"}, got


@kernel
def test_random_rule_lists(cgroup, tmp_path):
    """Random rule lists, each in its own sub-cgroup, agree with the reference model."""
    rng = random.Random(1234)
    for n in range(12):
        rules = []
        for _ in range(rng.randint(0, 6)):
            rules.append({
                "allow": rng.random() < 0.5,
                "type": rng.choice([None, "a", "c", "b"]),
                "major": rng.choice([None, -1, 1, 7]),
                "minor": rng.choice([None, -1, 3, 5, 7, 0]),
                "access": "".join(b for b in "rwm" if rng.random() < 0.6) or None,
            })
        sub = os.path.join(cgroup, f"r{n}")
        os.mkdir(sub)
        try:
            devices_bpf.apply_device_rules(sub, rules)
            assert probe(sub, str(tmp_path)) == expected(rules), rules
        finally:
            _rmdir(sub)


@kernel
def test_programs_stack_and_parent_applies(cgroup, tmp_path):
    """BPF_F_ALLOW_MULTI: a second program and the parent's program must also allow."""
    devices_bpf.apply_device_rules(cgroup, [allow()])
    devices_bpf.apply_device_rules(cgroup, [allow(), deny("c", 1, 5)])
    sub = os.path.join(cgroup, "child")
    os.mkdir(sub)
    try:
        devices_bpf.apply_device_rules(sub, [allow(), deny("c", 1, 7)])
        got = probe(sub, str(tmp_path))
    finally:
        _rmdir(sub)
    assert got["null:rw"] == "ok"
    assert got["zero:r"] == "EPERM" and got["full:r"] == "EPERM"


@kernel
def test_no_fd_left_open(cgroup):
    before = set(os.listdir("/proc/self/fd"))
    devices_bpf.apply_device_rules(cgroup, [allow()])
    assert set(os.listdir("/proc/self/fd")) == before


@kernel
def test_caller_unaffected(cgroup):
    """Only processes in the cgroup are filtered."""
    devices_bpf.apply_device_rules(cgroup, [])
    os.close(os.open("/dev/zero", os.O_RDWR))


@kernel
def test_verifier_failure_reported(cgroup, monkeypatch):
    bad = devices_bpf._insn(devices_bpf._EXIT)  # exits without setting r0
    monkeypatch.setattr(devices_bpf, "build_program", lambda rules: bad)
    with pytest.raises(CgroupError) as info:
        devices_bpf.apply_device_rules(cgroup, [])
    message = str(info.value)
    assert "\n" not in message and "R0 !read_ok" in message, message


@kernel
def test_missing_cgroup_reported(cgroup):
    with pytest.raises(CgroupError, match="opening cgroup"):
        devices_bpf.apply_device_rules(os.path.join(cgroup, "absent"), [allow()])


@kernel
def test_not_a_cgroup_reported(cgroup, tmp_path):
    with pytest.raises(CgroupError, match="attaching the device filter"):
        devices_bpf.apply_device_rules(str(tmp_path), [allow()])


@pytest.mark.parametrize("rule, text", [
    ({"allow": True, "type": "x"}, "type"),
    ({"allow": True, "access": "rx"}, "access"),
    ({"allow": True, "major": -2}, "major"),
    ({"allow": True, "minor": "3"}, "minor"),
    ({"allow": True, "major": True}, "major"),
    ({"allow": True, "major": 1 << 40}, "major"),
])
def test_bad_rules_rejected(rule, text):
    with pytest.raises(CgroupError, match=text):
        devices_bpf.build_program([rule])


def test_program_shape():
    """8 prologue insns, 2 epilogue insns, and at most 7 per rule."""
    assert len(devices_bpf.build_program([])) == 10 * 8
    program = devices_bpf.build_program([allow("c", 1, 3), deny()])
    assert len(program) % 8 == 0 and len(program) // 8 == 10 + 7 + 4
