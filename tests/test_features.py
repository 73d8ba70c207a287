"""`features` tells the truth: what it lists works, what we refuse it does not list."""

import json

import pytest

pytestmark = [pytest.mark.root, pytest.mark.runtimes("ociruntime")]

NS_LINK = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
           "cgroup": "cgroup", "user": "user", "time": "time"}


def _features(runtime):
    cp = runtime.run("features", check=True)
    return json.loads(cp.stdout)


def test_features_document_shape(runtime):
    doc = _features(runtime)
    assert doc["ociVersionMin"] == "1.0.0"
    assert doc["ociVersionMax"] == "1.3.0"
    assert set(doc["hooks"]) == {"prestart", "createRuntime", "createContainer",
                                 "startContainer", "poststart", "poststop"}
    assert doc["linux"]["seccomp"]["enabled"] is True


def test_memory_policy_and_net_devices_are_listed(runtime):
    linux = _features(runtime)["linux"]
    assert set(linux["memoryPolicy"]["modes"]) == {
        "MPOL_DEFAULT", "MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_WEIGHTED_INTERLEAVE",
        "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_LOCAL"}
    assert set(linux["memoryPolicy"]["flags"]) == {
        "MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"}
    assert linux["netDevices"] == {"enabled": True}


def test_every_listed_namespace_is_created(runtime, make_bundle, host_ns):
    namespaces = _features(runtime)["linux"]["namespaces"]
    b = make_bundle()
    if "user" in namespaces:
        ids = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.merge(linux={"uidMappings": ids, "gidMappings": ids})
    b.set_namespaces(*namespaces)
    script = "; ".join(f"echo {n} $(readlink /proc/self/ns/{NS_LINK[n]})" for n in namespaces)
    out = runtime.sh(b, script)
    seen = dict(line.split(" ", 1) for line in out.splitlines())
    for ns in namespaces:
        assert seen[ns] != host_ns[NS_LINK[ns]], f"{ns} namespace is the host's"


def test_unlisted_namespaces_are_refused(runtime, make_bundle):
    listed = set(_features(runtime)["linux"]["namespaces"])
    for ns in sorted(set(NS_LINK) - listed):
        b = make_bundle(["true"])
        b.config["linux"]["namespaces"].append({"type": ns})
        b.write()
        cp = runtime.run_bundle(b)
        assert cp.returncode != 0
        assert f"{ns} namespaces are not supported yet" in cp.stderr


def _host_bounding():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))


def test_every_listed_capability_can_be_granted(runtime, make_bundle):
    """All that features lists and the host's bounding set holds (this host lacks
    CAP_SYS_RESOURCE) is granted; the rest is refused naming the capability."""
    listed = _features(runtime)["linux"]["capabilities"]
    host = _host_bounding()
    caps = [name for bit, name in enumerate(listed) if host & (1 << bit)]
    b = make_bundle()
    b.config["process"]["capabilities"] = {"bounding": caps, "effective": caps, "permitted": caps}
    b.write()
    out = runtime.sh(b, "grep CapEff /proc/self/status")
    assert int(out.split()[1], 16) == host & ((1 << len(listed)) - 1)
    refused = [name for bit, name in enumerate(listed) if not host & (1 << bit)]
    if refused:
        b.config["process"]["capabilities"]["permitted"] = listed
        b.write()
        cp = runtime.run_bundle(b)
        assert cp.returncode != 0
        assert f"process.capabilities.permitted: {refused[0]}" in cp.stderr
