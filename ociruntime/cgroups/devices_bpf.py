"""cgroup v2 device rules: a BPF_PROG_TYPE_CGROUP_DEVICE program built from the OCI rules.

cgroup v2 has no devices.allow/devices.deny files; the kernel instead runs every
BPF_CGROUP_DEVICE program attached to a task's cgroup (and its ancestors) on each mknod or
open of a device node, and refuses the access with EPERM when one returns 0.  We translate
``linux.resources.devices`` into such a program, load it with bpf(BPF_PROG_LOAD) and attach
it to the container's cgroup with bpf(BPF_PROG_ATTACH).  Facts come from the kernel's uapi
``linux/bpf.h`` and ``linux/bpf_common.h``.

Semantics: the last rule that matches the device (type, major, minor) decides, per access
bit: a request (say read+write on open(O_RDWR)) is allowed only if, for each requested bit,
the last matching rule naming that bit allows it.  Nothing matching means deny.
"""

from __future__ import annotations

import os
import struct

from ..errors import CgroupError

# bpf(2) commands, program type, attach type and flag (enum bpf_cmd etc. in linux/bpf.h).
BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2

# struct bpf_cgroup_dev_ctx: access_type = (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*.
_DEV_TYPES = {"b": 1, "c": 2}
_ACCESS_BITS = {"m": 1, "r": 2, "w": 4}
# A pseudo access bit no real request carries: an access-less request is given it, and
# every rule names it, so such a request is decided by the last rule matching the device.
_NO_ACCESS = 8

# Opcodes (class | size/op | mode/source) from linux/bpf_common.h.
_LDX_W = 0x01 | 0x00 | 0x60    # dst = *(u32 *)(src + off)
_AND32_K = 0x04 | 0x50         # dst &= imm (32-bit)
_RSH32_K = 0x04 | 0x70         # dst >>= imm (32-bit)
_AND64_K = 0x07 | 0x50
_MOV64_K = 0x07 | 0xB0         # dst = imm
_JA = 0x05 | 0x00              # goto +off
_JNE_K = 0x05 | 0x50           # if dst != imm goto +off
_JSET_K = 0x05 | 0x40          # if dst & imm goto +off
_EXIT = 0x05 | 0x90

# Registers: r1 = ctx, r2 = device type, r4 = major, r5 = minor, r6 = undecided access bits.
_R0, _R1, _R2, _R4, _R5, _R6 = 0, 1, 2, 4, 5, 6
_ANY = (None, -1)
_LOG_SIZE = 1 << 16


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One 8-byte struct bpf_insn; little-endian only (there dst_reg is the low nibble)."""
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _number(rule: dict, key: str) -> int | None:
    value = rule.get(key)
    if value in _ANY:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0x7FFFFFFF:
        raise CgroupError(f"device rule {key} {value!r} is not a device number")
    return value


def _rule_block(rule: dict) -> list[bytes]:
    """Instructions for one rule: skip it unless the device matches, then decide bits."""
    kind = rule.get("type") or "a"
    if kind != "a" and kind not in _DEV_TYPES:
        raise CgroupError(f"device rule type {kind!r} is not one of a, b, c")
    access = rule.get("access") or "rwm"
    if set(access) - set(_ACCESS_BITS):
        raise CgroupError(f"device rule access {access!r} is not a subset of rwm")
    mask = _NO_ACCESS
    for letter in access:
        mask |= _ACCESS_BITS[letter]

    tests = []  # (register, value) pairs that must all be equal for the rule to match
    if kind != "a":
        tests.append((_R2, _DEV_TYPES[kind]))
    for reg, key in ((_R4, "major"), (_R5, "minor")):
        number = _number(rule, key)
        if number is not None:
            tests.append((reg, number))

    if rule.get("allow"):
        # The rule allows the bits it names; allow once no requested bit is left undecided.
        action = [_insn(_AND64_K, _R6, imm=~mask), _insn(_JNE_K, _R6, off=2),
                  _insn(_MOV64_K, _R0, imm=1), _insn(_EXIT)]
    else:
        # An undecided requested bit that this rule names is denied.
        action = [_insn(_JSET_K, _R6, off=1, imm=mask), _insn(_JA, off=2),
                  _insn(_MOV64_K, _R0, imm=0), _insn(_EXIT)]
    size = len(tests) + len(action)   # a failed test jumps past the rest of the block
    return [_insn(_JNE_K, reg, off=size - index - 1, imm=value)
            for index, (reg, value) in enumerate(tests)] + action


def build_program(rules: list[dict]) -> bytes:
    """The program's instructions; rules are visited last to first, so the last one wins."""
    insns = [
        _insn(_LDX_W, _R2, _R1, 0), _insn(_AND32_K, _R2, imm=0xFFFF),   # device type
        _insn(_LDX_W, _R6, _R1, 0), _insn(_RSH32_K, _R6, imm=16),       # access bits
        _insn(_LDX_W, _R4, _R1, 4), _insn(_LDX_W, _R5, _R1, 8),         # major, minor
        _insn(_JNE_K, _R6, off=1, imm=0), _insn(_MOV64_K, _R6, imm=_NO_ACCESS),
    ]
    for rule in reversed(rules):
        insns += _rule_block(rule)
    insns += [_insn(_MOV64_K, _R0, imm=0), _insn(_EXIT)]   # nothing matched: deny
    return b"".join(insns)


def _load(program: bytes, with_log: bool) -> tuple[int, str]:
    """bpf(BPF_PROG_LOAD); returns (fd, "") or (-errno, the verifier's complaint)."""
    import ctypes

    insns = ctypes.create_string_buffer(program, len(program))
    license = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(_LOG_SIZE if with_log else 1)
    attr = bytearray(72)   # union bpf_attr up to expected_attach_type
    struct.pack_into("<IIQQIIQ", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
                     ctypes.addressof(insns), ctypes.addressof(license),
                     1 if with_log else 0, _LOG_SIZE if with_log else 0,
                     ctypes.addressof(log) if with_log else 0)
    attr[48:55] = b"oci_dev"   # prog_name (NUL-terminated), shown by bpftool
    struct.pack_into("<I", attr, 68, BPF_CGROUP_DEVICE)   # expected_attach_type
    from .. import _shim

    try:
        return _shim.bpf(BPF_PROG_LOAD, attr), ""
    except OSError as err:
        # The log traces the instructions walked, then the complaint, then "processed N
        # insns ..."; the complaint is the last line before that summary.
        lines = [line for line in log.value.decode(errors="replace").splitlines()
                 if line.strip() and not line.startswith("processed ")]
        return -(err.errno or 1), lines[-1].strip() if lines else os.strerror(err.errno or 1)


def apply_device_rules(cgroup_dir: str, rules: list[dict]) -> None:
    """Loads the program for ``rules`` and attaches it to ``cgroup_dir`` (a v2 cgroup).

    Attached with BPF_F_ALLOW_MULTI so later programs (``update``) and sub-cgroups can add
    their own; every attached program must allow an access.  The attachment holds the
    program, so our fds are closed before returning.
    """
    program = build_program(rules)
    fd, reason = _load(program, with_log=False)
    if fd < 0:
        # Reload with a verifier log only on failure: logging slows the common path.
        fd, reason = _load(program, with_log=True)
        if fd < 0:
            raise CgroupError(f"loading the device filter for {cgroup_dir} failed: {reason}")
    try:
        try:
            cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise CgroupError(f"opening cgroup {cgroup_dir}: {err.strerror}") from None
        try:
            attr = bytearray(20)
            struct.pack_into("<IIIII", attr, 0, cgroup_fd, fd, BPF_CGROUP_DEVICE,
                             BPF_F_ALLOW_MULTI, 0)
            from .. import _shim

            _shim.bpf(BPF_PROG_ATTACH, attr)
        except OSError as err:
            raise CgroupError(f"attaching the device filter to {cgroup_dir} failed: "
                              f"{os.strerror(err.errno or 1)}") from None
        finally:
            os.close(cgroup_fd)
    finally:
        os.close(fd)
