"""linux.netDevices (config-linux.md "Network Devices"): a host interface (one end of a veth
pair made for the test) moved into the container's network namespace, seen from inside the
container and from the host, and the errors ociruntime reports."""

import itertools
import os
import subprocess
from pathlib import Path

import pytest

from conftest import failed_create_message

pytestmark = pytest.mark.root

ADDRESS = "198.18.77.1/24"  # benchmarking range (RFC 2544): on a veth of the test's own
NETDEV_XFAIL = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores linux.netDevices (the field came with runtime-spec "
    "1.3): the device stays on the host")
_names = itertools.count(1)


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def _on_host(name):
    return Path("/sys/class/net", name).exists()


@pytest.fixture
def veth():
    """A veth pair (host name of the end to move, its peer) with an address on the first end;
    deleted afterwards if it still exists (a container's namespace destroys it with itself)."""
    stem = f"oc{os.getpid() % 100000}n{next(_names)}"
    first, peer = f"{stem}a", f"{stem}b"
    _ip("link", "add", first, "type", "veth", "peer", "name", peer)
    try:
        _ip("addr", "add", ADDRESS, "dev", first)
        yield first, peer
    finally:
        for name in (first, peer):
            if _on_host(name):
                _ip("link", "del", name, check=False)


@NETDEV_XFAIL
@pytest.mark.parametrize("rename", [False, True], ids=["same-name", "renamed"])
def test_device_in_container(runtime, make_bundle, veth, rename):
    host_name, _ = veth
    name = "eth7" if rename else host_name
    b = make_bundle(linux={"netDevices": {host_name: {"name": name} if rename else {}}})
    out = runtime.sh(b, f"ls /sys/class/net; cat /sys/class/net/{name}/flags; "
                        f"ip -o addr show dev {name}")
    listed, _, rest = out.partition("0x")
    assert sorted(listed.split()) == sorted(["lo", name])
    flags, _, addresses = rest.partition("\n")
    assert int(flags, 16) & 1, "the spec wants the device up"
    assert f"inet {ADDRESS} scope global {name}" in addresses  # permanent, global: kept


@NETDEV_XFAIL
def test_device_leaves_host_for_the_container(runtime, make_bundle, veth):
    host_name, peer = veth
    b = make_bundle(["true"], linux={"netDevices": {host_name: {"name": "eth7"}}})
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    assert not _on_host(host_name) and _on_host(peer)
    inside = subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "ip", "-o", "link", "show",
                             "eth7"], capture_output=True, text=True, timeout=10)
    assert inside.returncode == 0 and f"@{peer}" not in inside.stdout, inside.stderr
    runtime.delete(b.id, force=True)
    # not moved back out (the spec forbids it): a veth dies with the namespace
    assert not _on_host(host_name) and not _on_host("eth7")


@NETDEV_XFAIL
def test_name_template(runtime, make_bundle, veth):
    host_name, _ = veth
    b = make_bundle(linux={"netDevices": {host_name: {"name": "net%d"}}})
    assert sorted(runtime.sh(b, "ls /sys/class/net").split()) == ["lo", "net0"]


@pytest.mark.runtimes("ociruntime")
def test_failed_create_leaves_device_on_host(runtime, make_bundle, veth):
    """A create that fails after the move (here: a createRuntime hook) moves the device
    back, name, addresses and state as they were; the namespace going away would destroy it."""
    host_name, peer = veth
    _ip("link", "set", host_name, "up")
    b = make_bundle(["true"], linux={"netDevices": {host_name: {"name": "eth7"}}},
                    hooks={"createRuntime": [{"path": "/bin/false"}]})
    assert "createRuntime" in failed_create_message(runtime, b)
    assert _on_host(host_name) and _on_host(peer)
    assert int(Path(f"/sys/class/net/{host_name}/flags").read_text(), 16) & 1
    assert f"inet {ADDRESS} " in _ip("-o", "addr", "show", "dev", host_name).stdout


@pytest.mark.runtimes("ociruntime")
def test_name_taken_in_container(runtime, make_bundle, veth):
    host_name, _ = veth
    b = make_bundle(["true"], linux={"netDevices": {host_name: {"name": "lo"}}})
    msg = failed_create_message(runtime, b)
    assert msg.endswith(f"linux.netDevices.{host_name}.name: 'lo' is already a device of the "
                        "container's network namespace")
    assert _on_host(host_name)


@pytest.mark.runtimes("ociruntime")
def test_missing_device(runtime, make_bundle):
    b = make_bundle(["true"], linux={"netDevices": {"ocnosuchdev": {}}})
    assert ("linux.netDevices.ocnosuchdev: not a network device of the host"
            in failed_create_message(runtime, b))


@pytest.mark.runtimes("ociruntime")
@pytest.mark.parametrize("name", ["bad/name", "a-name-too-long-x", "bad name", ".."])
def test_invalid_name(runtime, make_bundle, veth, name):
    host_name, _ = veth
    b = make_bundle(["true"], linux={"netDevices": {host_name: {"name": name}}})
    assert (f"linux.netDevices.{host_name}.name: {name!r} is not a valid interface name"
            in failed_create_message(runtime, b))
    assert _on_host(host_name)


@pytest.mark.runtimes("ociruntime")
def test_same_name_twice(runtime, make_bundle, veth):
    host_name, peer = veth
    b = make_bundle(["true"], linux={"netDevices": {host_name: {"name": "eth7"},
                                                    peer: {"name": "eth7"}}})
    assert (f"linux.netDevices.{peer}: 'eth7' is also the container name of "
            f"linux.netDevices.{host_name}" in failed_create_message(runtime, b))


@pytest.mark.runtimes("ociruntime")
def test_needs_network_namespace(runtime, make_bundle, veth):
    host_name, _ = veth
    b = make_bundle(["true"], linux={"netDevices": {host_name: {}}})
    b.config["linux"]["namespaces"] = [ns for ns in b.config["linux"]["namespaces"]
                                       if ns["type"] != "network"]
    b.write()
    assert ("linux.netDevices: the container has no network namespace of its own"
            in failed_create_message(runtime, b))
    assert _on_host(host_name)
