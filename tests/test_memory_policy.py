"""linux.memoryPolicy (config-linux.md, set_mempolicy(2)): the policy as the container's
processes see it in /proc/self/numa_maps, and the config errors ociruntime reports."""

from pathlib import Path

import pytest

from conftest import failed_create_message

pytestmark = pytest.mark.root

NUMA_ONLINE = Path("/sys/devices/system/node/online")
needs_numa = pytest.mark.skipif(not NUMA_ONLINE.exists(), reason="kernel without NUMA")

MEMPOLICY_XFAIL = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores linux.memoryPolicy (the field came with runtime-spec "
    "1.3): the process keeps the default policy")


def _every_mapping_has(numa_maps, policy):
    """True when every line of /proc/PID/numa_maps (one per mapping) shows ``policy`` after
    the address: without mbind(2) each mapping shows the task's own policy.  (Policies may
    contain spaces, "prefer (many):0", so the text is matched, not split.)"""
    rests = [line.split(" ", 1)[1] + " " for line in numa_maps.splitlines() if line.strip()]
    return bool(rests) and all(rest.startswith(policy + " ") for rest in rests)


@needs_numa
@MEMPOLICY_XFAIL
@pytest.mark.parametrize("policy, expected", [
    ({"mode": "MPOL_BIND", "nodes": "0"}, "bind:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0"}, "interleave:0"),
    ({"mode": "MPOL_WEIGHTED_INTERLEAVE", "nodes": "0"}, "weighted interleave:0"),
    ({"mode": "MPOL_PREFERRED", "nodes": "0"}, "prefer:0"),
    ({"mode": "MPOL_PREFERRED_MANY", "nodes": "0"}, "prefer (many):0"),
    ({"mode": "MPOL_LOCAL"}, "local"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}, "bind=static:0"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_RELATIVE_NODES"]},
     "interleave=relative:0"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
     "bind=balancing:0"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_memory_policy(runtime, make_bundle, policy, expected):
    b = make_bundle(linux={"memoryPolicy": policy})
    numa_maps = runtime.sh(b, "cat /proc/self/numa_maps")
    assert _every_mapping_has(numa_maps, expected), numa_maps


@needs_numa
@MEMPOLICY_XFAIL
def test_memory_policy_survives_user_change(runtime, make_bundle):
    b = make_bundle(linux={"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0"}},
                    process={"user": {"uid": 1000, "gid": 1000}})
    numa_maps = runtime.sh(b, "cat /proc/self/numa_maps")
    assert _every_mapping_has(numa_maps, "bind:0"), numa_maps


def test_default_memory_policy(runtime, make_bundle):
    b = make_bundle(linux={"memoryPolicy": {"mode": "MPOL_DEFAULT"}})
    numa_maps = runtime.sh(b, "cat /proc/self/numa_maps")
    assert _every_mapping_has(numa_maps, "default"), numa_maps


@needs_numa
@pytest.mark.runtimes("ociruntime")
@pytest.mark.parametrize("policy, message", [
    ({"mode": "MPOL_BIND", "nodes": "0-1"},
     "linux.memoryPolicy.nodes: node 1 does not exist on this host (nodes 0)"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "7"}, "linux.memoryPolicy.nodes: node 7 does not exist"),
    ({"mode": "MPOL_BIND"}, "linux.memoryPolicy.nodes: required for MPOL_BIND"),
    ({"mode": "MPOL_PREFERRED", "flags": ["MPOL_F_STATIC_NODES"]},
     "linux.memoryPolicy.nodes: required for MPOL_PREFERRED with MPOL_F_STATIC_NODES"),
    ({"mode": "MPOL_LOCAL", "nodes": "0"}, "linux.memoryPolicy.nodes: MPOL_LOCAL takes no nodes"),
    ({"mode": "MPOL_DEFAULT", "nodes": "0"}, "linux.memoryPolicy.nodes: MPOL_DEFAULT takes no nodes"),
    ({"mode": "MPOL_DEFAULT", "flags": ["MPOL_F_STATIC_NODES"]},
     "linux.memoryPolicy.flags: MPOL_DEFAULT takes no flags"),
    ({"mode": "MPOL_BIND", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"]},
     "linux.memoryPolicy.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"),
    ({"mode": "MPOL_INTERLEAVE", "nodes": "0", "flags": ["MPOL_F_NUMA_BALANCING"]},
     "linux.memoryPolicy.flags: MPOL_F_NUMA_BALANCING needs MPOL_BIND or MPOL_PREFERRED_MANY"),
    ({"mode": "MPOL_BIND", "nodes": "1-0"}, "linux.memoryPolicy.nodes: '1-0': range ends before"),
    ({"mode": "MPOL_NOPE", "nodes": "0"}, "linux.memoryPolicy.mode"),
])
def test_memory_policy_errors(runtime, make_bundle, policy, message):
    b = make_bundle(["true"], linux={"memoryPolicy": policy})
    assert message in failed_create_message(runtime, b)
