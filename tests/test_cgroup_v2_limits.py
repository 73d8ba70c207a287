"""linux.resources on a cgroup v2 host: limits read back from the container's cgroup files,
converted from the spec's v1 units as runc does, and proven by behaviour where it is cheap
(a fork loop stops at pids.max, an allocator is OOM-killed at memory.max, cpuset pins the
process).  Fields v2 has no file for are refused with their JSON path (runc ignores them).

Like tests/test_cgroup_v2.py these only run on a pure cgroup v2 host, i.e. in the v2 VM:

    ../shared/cgroup-v2-vm/in-v2-vm.sh 'VENV/bin/pytest -m cgroupv2 tests/ -q -p no:cacheprovider'

The VM runs code 15-20x slower: one container reads back many fields at once.
"""

from pathlib import Path

import pytest

from conftest import CGROUP_FS, V2_HOST_ONLY, VM_TIMEOUT, cgroup_dirs

pytestmark = V2_HOST_ONLY

MiB = 1024 * 1024


def cgroup_file(bundle, name: str) -> str:
    return (CGROUP_FS / bundle.cgroups_path.lstrip("/") / name).read_text().strip()


def with_resources(make_bundle, args, resources: dict):
    b = make_bundle(args)
    b.config["linux"]["resources"].update(resources)
    b.write()
    return b


def create_error(runtime, bundle) -> str:
    """The one-line message of a `create` that must fail and leave nothing behind."""
    cp = runtime.run("create", "--bundle", bundle.path, bundle.id, timeout=VM_TIMEOUT)
    assert cp.returncode != 0, "create succeeded"
    message = cp.stderr.strip()
    assert message and "\n" not in message, f"expected one line, got:\n{cp.stderr}"
    assert bundle.id not in runtime.state_entries() and cgroup_dirs(bundle.cgroups_path) == []
    return message


def test_limits_read_back(runtime, make_bundle, oci):
    """Each field lands in its v2 file with runc's conversion: shares 1024 -> weight 39,
    blkio weight 500 -> io.weight 4950, v1's memory+swap 96M over a 64M limit -> 32M of
    swap, quota/period -> cpu.max; cpus pins the process; unified is written last."""
    b = with_resources(make_bundle, ["sleep", "100"], {
        "memory": {"limit": 64 * MiB, "reservation": 16 * MiB, "swap": 96 * MiB},
        "cpu": {"shares": 1024, "quota": 50000, "period": 200000, "cpus": "1", "mems": "0"},
        "pids": {"limit": 40},
        "blockIO": {"weight": 500},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}],
        "unified": {"memory.high": str(48 * MiB)},
    })
    runtime.run("create", "--bundle", b.path, b.id, check=True, timeout=VM_TIMEOUT)
    pid = runtime.state(b.id)["pid"]
    got = {name: cgroup_file(b, name) for name in (
        "memory.max", "memory.low", "memory.swap.max", "memory.high", "cpu.weight", "cpu.max",
        "cpuset.cpus", "cpuset.mems", "pids.max", "io.weight", "hugetlb.2MB.max")}
    assert got == {
        "memory.max": str(64 * MiB), "memory.low": str(16 * MiB),
        "memory.swap.max": str(32 * MiB), "memory.high": str(48 * MiB),
        "cpu.weight": "39", "cpu.max": "50000 200000", "cpuset.cpus": "1", "cpuset.mems": "0",
        "pids.max": "40", "io.weight": "default 4950",
        "hugetlb.2MB.max": str(4 * MiB),
    }
    status = Path(f"/proc/{pid}/status").read_text()
    assert "Cpus_allowed_list:\t1\n" in status, "cpuset.cpus does not pin the init"
    runtime.run("delete", "--force", b.id, check=True, timeout=VM_TIMEOUT)
    assert cgroup_dirs(b.cgroups_path) == [] and oci.leftovers() == []


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 writes neither cpu.max.burst (cpu.burst came with runc 1.2) "
    "nor hugetlb.<size>.rsvd.max: both stay at their defaults")
def test_burst_idle_and_hugetlb_reservation(runtime, make_bundle):
    """cpu.burst goes to cpu.max.burst (with a quota it must not exceed), idle to cpu.idle;
    a huge page limit also limits reservations (the spec prefers them) where the kernel has
    hugetlb.<size>.rsvd.max."""
    b = with_resources(make_bundle, ["sleep", "100"], {
        "cpu": {"quota": 20000, "burst": 10000, "idle": 1},
        "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    runtime.run("create", "--bundle", b.path, b.id, check=True, timeout=VM_TIMEOUT)
    got = [cgroup_file(b, name) for name in ("cpu.max", "cpu.max.burst", "cpu.idle",
                                             "hugetlb.2MB.max", "hugetlb.2MB.rsvd.max")]
    runtime.run("delete", "--force", b.id, check=True, timeout=VM_TIMEOUT)
    assert got == ["20000 100000", "10000", "1", str(4 * MiB), str(4 * MiB)]


def test_pids_limit_stops_fork_loop(runtime, make_bundle):
    """With pids.max 6 a shell starting 20 background sleeps fails to fork: no more than 6
    tasks run and pids.events counts the refusals (read with builtins: no fork left)."""
    script = ("(for i in $(seq 20); do sleep 100 & done) 2>/dev/null; "
              "read c < /sys/fs/cgroup/pids.current; read e < /sys/fs/cgroup/pids.events; "
              "echo $c; echo $e")
    b = with_resources(make_bundle, ["true"], {"pids": {"limit": 6}})
    b.set_namespaces("pid", "network", "ipc", "uts", "mount", "cgroup")
    out = runtime.sh(b, script, timeout=VM_TIMEOUT).splitlines()
    current, events = int(out[0]), out[1].split()
    assert current <= 6, out
    assert events[0] == "max" and int(events[1]) > 0, out


def test_memory_max_oom_kills_allocator(runtime, make_bundle):
    """An awk doubling a string past memory.max (32M, no swap: swap == limit) is killed by
    the OOM killer (SIGKILL, 137); memory.events counts it; the shell survives."""
    script = ("awk 'BEGIN { s = \"x\"; while (1) s = s s }'; echo awk=$?; "
              "grep oom_kill /sys/fs/cgroup/memory.events")
    b = with_resources(make_bundle, ["true"], {"memory": {"limit": 32 * MiB, "swap": 32 * MiB}})
    b.set_namespaces("pid", "network", "ipc", "uts", "mount", "cgroup")
    out = runtime.sh(b, script, timeout=VM_TIMEOUT).splitlines()
    assert out[0] == "awk=137", out
    assert out[1].split()[0] == "oom_kill" and int(out[1].split()[1]) >= 1, out


RUNC_IGNORES = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 silently ignores this field on cgroup v2 (no v2 file)")


@pytest.mark.parametrize("resources, path", [
    pytest.param({"memory": {"swappiness": 10}}, "linux.resources.memory.swappiness",
                 marks=RUNC_IGNORES, id="swappiness"),
    pytest.param({"memory": {"kernel": 64 * MiB}}, "linux.resources.memory.kernel",
                 marks=RUNC_IGNORES, id="kernel"),
    pytest.param({"memory": {"disableOOMKiller": True}}, "linux.resources.memory.disableOOMKiller",
                 marks=RUNC_IGNORES, id="disableOOMKiller"),
    pytest.param({"cpu": {"realtimeRuntime": 1000}}, "linux.resources.cpu.realtimeRuntime",
                 marks=RUNC_IGNORES, id="realtimeRuntime"),
    pytest.param({"network": {"classID": 1048577}}, "linux.resources.network.classID",
                 marks=RUNC_IGNORES, id="classID"),
    pytest.param({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "leafWeight": 300}]}},
                 "linux.resources.blockIO.weightDevice[0].leafWeight",
                 marks=RUNC_IGNORES, id="leafWeight"),
    pytest.param({"memory": {"limit": 64 * MiB, "swap": 32 * MiB}},
                 "linux.resources.memory.swap", id="swap-below-limit"),
    pytest.param({"unified": {"../cgroup.procs": "1"}}, "linux.resources.unified.../cgroup.procs",
                 id="unified-escape"),
    pytest.param({"unified": {"nosuch.file": "1"}}, "linux.resources.unified.nosuch.file",
                 id="unified-missing-file"),
    pytest.param({"hugepageLimits": [{"pageSize": "3MB", "limit": MiB}]},
                 "linux.resources.hugepageLimits[0].pageSize", id="hugepage-size"),
    # the VM has no block or RDMA device: the kernel's refusal must name the entry
    pytest.param({"blockIO": {"throttleReadBpsDevice": [{"major": 259, "minor": 999,
                                                         "rate": MiB}]}},
                 "linux.resources.blockIO.throttleReadBpsDevice[0]", id="io-max-no-device"),
    pytest.param({"rdma": {"nosuch0": {"hcaHandles": 3}}}, "linux.resources.rdma.nosuch0",
                 id="rdma-no-device"),
])
def test_refused(runtime, make_bundle, resources, path):
    """A field v2 cannot apply fails create with its JSON path, leaving nothing behind."""
    message = create_error(runtime, with_resources(make_bundle, ["true"], resources))
    if runtime.name == "runc":
        return  # runc refuses these too, in its own words
    assert path in message, message
