"""linux.resources on the cgroup v1 (hybrid) driver and the `update` command: limits read
back from the container's cgroup files and proven by what the processes can do."""

import json
import os
from pathlib import Path

import pytest

from conftest import CGROUP_FS, cgroup_v2_host, failed_create_message, wait_for

pytestmark = [pytest.mark.root,
              pytest.mark.skipif(cgroup_v2_host(), reason="cgroup v1 (hybrid) host only")]

MiB = 1024 * 1024


def cg_file(bundle, controller, name):
    return CGROUP_FS / controller / bundle.cgroups_path.lstrip("/") / name


def cg_read(bundle, controller, name):
    return cg_file(bundle, controller, name).read_text().strip()


def resources(**sections):
    return {"linux": {"resources": sections}}


def started(runtime, bundle):
    """A created and started container running `sleep`-like args."""
    runtime.create(bundle)
    runtime.start(bundle.id)
    return runtime.state(bundle.id)["pid"]


# --- read back from the files ----------------------------------------------------------

def test_memory_limits_written(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], **resources(memory={
        "limit": 64 * MiB, "reservation": 32 * MiB, "swap": 96 * MiB, "swappiness": 10,
        "disableOOMKiller": True, "kernel": -1}))
    runtime.create(b)
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    assert cg_read(b, "memory", "memory.soft_limit_in_bytes") == str(32 * MiB)
    assert cg_read(b, "memory", "memory.memsw.limit_in_bytes") == str(96 * MiB)
    assert cg_read(b, "memory", "memory.swappiness") == "10"
    assert "oom_kill_disable 1" in cg_read(b, "memory", "memory.oom_control")


@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 ignores memory.kernelTCP although "
                           "this kernel still has memory.kmem.tcp.limit_in_bytes")
def test_memory_kernel_tcp_written(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], **resources(memory={"kernelTCP": 16 * MiB}))
    runtime.create(b)
    assert cg_read(b, "memory", "memory.kmem.tcp.limit_in_bytes") == str(16 * MiB)


def test_cpu_limits_written(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], **resources(cpu={
        "shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}))
    runtime.create(b)
    assert cg_read(b, "cpu", "cpu.shares") == "512"
    assert cg_read(b, "cpu", "cpu.cfs_quota_us") == "50000"
    assert cg_read(b, "cpu", "cpu.cfs_period_us") == "100000"
    assert cg_read(b, "cpuset", "cpuset.cpus") == "0"
    assert cg_read(b, "cpuset", "cpuset.mems") == "0"


@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 ignores cpu.burst and cpu.idle "
                           "(support came with runc 1.2): the files keep 0")
def test_cpu_burst_and_idle_written(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], **resources(cpu={
        "quota": 50000, "period": 100000, "burst": 20000, "idle": 1}))
    runtime.create(b)
    assert cg_read(b, "cpu", "cpu.cfs_burst_us") == "20000"
    assert cg_read(b, "cpu", "cpu.idle") == "1"


def test_cpu_shares_out_of_range_is_an_error(runtime, make_bundle):
    b = make_bundle(["true"], **resources(cpu={"shares": 1_000_000}))
    msg = failed_create_message(runtime, b)
    assert "shares" in msg


@pytest.mark.parametrize("limit, expected", [(10, "10"), (-1, "max")])
def test_pids_limit_written(runtime, make_bundle, limit, expected):
    b = make_bundle(["sleep", "100"], **resources(pids={"limit": limit}))
    runtime.create(b)
    assert cg_read(b, "pids", "pids.max") == expected


def _block_device():
    """(major, minor) of a real disk of this host (throttles need an existing device)."""
    for name in ("vda", "sda", "nvme0n1", "xvda"):
        dev = Path("/sys/block", name, "dev")
        if dev.exists():
            return tuple(int(x) for x in dev.read_text().split(":"))
    pytest.skip("no vda/sda/nvme0n1/xvda disk")


def test_blkio_throttles_written(runtime, make_bundle):
    major, minor = _block_device()
    b = make_bundle(["sleep", "100"], **resources(blockIO={
        "throttleReadBpsDevice": [{"major": major, "minor": minor, "rate": 1048576}],
        "throttleWriteIOPSDevice": [{"major": major, "minor": minor, "rate": 300}]}))
    runtime.create(b)
    assert cg_read(b, "blkio", "blkio.throttle.read_bps_device") == f"{major}:{minor} 1048576"
    assert cg_read(b, "blkio", "blkio.throttle.write_iops_device") == f"{major}:{minor} 300"


def test_blkio_weights_written(runtime, make_bundle):
    """Without CFQ the kernel's weights are BFQ's (blkio.bfq.weight), as runc writes them."""
    if not (CGROUP_FS / "blkio" / "blkio.bfq.io_serviced").exists():
        pytest.skip("no BFQ blkio files on this host")
    b = make_bundle(["sleep", "100"], **resources(blockIO={"weight": 300}))
    runtime.create(b)
    assert cg_read(b, "blkio", "blkio.bfq.weight") == "300"


RT_CPU = CGROUP_FS / "cpu" / "cpu.rt_runtime_us"
needs_rt_group = pytest.mark.skipif(not RT_CPU.exists(), reason="no RT group scheduling here")


def _rt_budget_for_parent():
    """The runtime writes only the container's own budget: the test's parent gets enough
    for several (a removed cgroup's budget is released asynchronously)."""
    parent = CGROUP_FS / "cpu" / "ociruntime-test" / "cpu.rt_runtime_us"
    if int(parent.read_text()) < 50000:
        parent.write_text("50000")


RT_CPU_LIMITS = {"realtimeRuntime": 10000, "realtimePeriod": 2000000}


@needs_rt_group
def test_realtime_budget_written(runtime, make_bundle):
    _rt_budget_for_parent()
    b = make_bundle(["sleep", "100"], **resources(cpu=RT_CPU_LIMITS))
    runtime.create(b)
    assert cg_read(b, "cpu", "cpu.rt_runtime_us") == "10000"
    assert cg_read(b, "cpu", "cpu.rt_period_us") == "2000000"


@needs_rt_group
@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 ignores process.scheduler (support "
                           "came with runc 1.2): the process keeps SCHED_OTHER")
def test_realtime_budget_lets_sched_fifo_run(runtime, make_bundle):
    """SCHED_FIFO fails in a new v1 cgroup without a budget (see test_process_sched);
    with cpu.realtimeRuntime the process gets it (policy 1 in /proc/self/stat)."""
    _rt_budget_for_parent()
    b = make_bundle(process={"scheduler": {"policy": "SCHED_FIFO", "priority": 10}},
                    **resources(cpu=RT_CPU_LIMITS))
    assert runtime.sh(b, "cut -d' ' -f41 /proc/$$/stat").strip() == "1"


def _hugetlb_dir():
    d = CGROUP_FS / "hugetlb"
    return d if (d / "cgroup.procs").exists() else None


def test_hugepage_limits_written(runtime, make_bundle):
    if _hugetlb_dir() is None:
        pytest.skip("hugetlb is not mounted as a v1 hierarchy on this host")
    sizes = sorted(p.name.split(".")[1] for p in _hugetlb_dir().glob("hugetlb.*.limit_in_bytes")
                   if ".rsvd." not in p.name)
    size = "2MB" if "2MB" in sizes else sizes[0]
    b = make_bundle(["sleep", "100"], **resources(hugepageLimits=[
        {"pageSize": size, "limit": 4 * 2 * MiB}]))
    runtime.create(b)
    assert cg_read(b, "hugetlb", f"hugetlb.{size}.limit_in_bytes") == str(8 * MiB)
    if cg_file(b, "hugetlb", f"hugetlb.{size}.rsvd.limit_in_bytes").exists() and runtime.name != "runc":
        assert cg_read(b, "hugetlb", f"hugetlb.{size}.rsvd.limit_in_bytes") == str(8 * MiB)


# --- behaviour --------------------------------------------------------------------------

def test_memory_limit_oom_kills(runtime, make_bundle):
    """Filling /dev/shm (tmpfs, charged to the writer's cgroup) past the limit: the OOM
    killer ends the container's process."""
    b = make_bundle(["sh", "-c", "head -c 100m /dev/zero > /dev/shm/fill; echo survived"],
                    **resources(memory={"limit": 32 * MiB, "swap": 32 * MiB}))
    b.config["mounts"][3]["options"] = ["nosuid", "nodev", "mode=1777", "size=200m"]
    b.write()
    cp = runtime.run_bundle(b, timeout=30)
    assert "survived" not in cp.stdout
    assert cp.returncode == 137, (cp.returncode, cp.stdout, cp.stderr)


def test_within_memory_limit_survives(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "head -c 8m /dev/zero > /dev/shm/fill; echo survived"],
                    **resources(memory={"limit": 32 * MiB, "swap": 32 * MiB}))
    cp = runtime.run_bundle(b, timeout=30)
    assert cp.returncode == 0 and cp.stdout == "survived\n"


# an inner shell starts sleeps until a fork fails (which ends it), printing each one
FORK_LOOP = "sh -c 'for i in $(seq 30); do sleep 30 & echo $i; done'; echo exit=$?"


def test_pids_limit_stops_forks(runtime, make_bundle):
    """Under pids.max 10 the container's shell, the inner shell and 8 sleeps fill the
    cgroup: the 9th fork fails."""
    b = make_bundle(["sh", "-c", FORK_LOOP], **resources(pids={"limit": 10}))
    lines = runtime.sh(b, FORK_LOOP, timeout=30).split()
    assert lines[-1] != "exit=0"
    assert lines[:-1] == [str(i) for i in range(1, 9)]


def test_fork_loop_without_pids_limit_completes(runtime, make_bundle):
    b = make_bundle(["sh", "-c", FORK_LOOP])
    lines = runtime.sh(b, FORK_LOOP, timeout=30).split()
    assert lines == [*map(str, range(1, 31)), "exit=0"]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_cpuset_pins_the_process(runtime, make_bundle):
    b = make_bundle(**resources(cpu={"cpus": "1"}))
    out = runtime.sh(b, "grep Cpus_allowed_list /proc/self/status")
    assert out.split(":")[1].strip() == "1"


# --- errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("section, path", [
    ({"network": {"classID": 1048577}}, "linux.resources.network.classID"),
    ({"network": {"priorities": [{"name": "lo", "priority": 5}]}},
     "linux.resources.network.priorities[0]"),
    ({"rdma": {"mlx5_1": {"hcaHandles": 3}}}, "linux.resources.rdma.mlx5_1"),
    ({"memory": {"kernel": 64 * MiB}}, "linux.resources.memory.kernel"),
    ({"memory": {"useHierarchy": False}}, "linux.resources.memory.useHierarchy"),
    ({"blockIO": {"leafWeight": 300}}, "linux.resources.blockIO.leafWeight"),
    ({"blockIO": {"weightDevice": [{"major": 1, "minor": 3, "weight": 700}]}},
     "linux.resources.blockIO.weightDevice[0].weight"),
    ({"hugepageLimits": [{"pageSize": "3MB", "limit": 4194304}]},
     "linux.resources.hugepageLimits[0]"),
])
@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 refuses most of these too but names no "
                           "JSON path (only the controller or file); it accepts memory.kernel "
                           "with a warning and useHierarchy false silently")
def test_unappliable_field_is_an_error_naming_it(runtime, make_bundle, section, path):
    b = make_bundle(["true"], **resources(**section))
    msg = failed_create_message(runtime, b)
    assert path in msg


def test_swap_below_limit_is_an_error(runtime, make_bundle):
    b = make_bundle(["true"], **resources(memory={"limit": 64 * MiB, "swap": 32 * MiB}))
    msg = failed_create_message(runtime, b)
    assert "swap" in msg or "memsw" in msg


# --- update -----------------------------------------------------------------------------

def test_update_flags_change_files(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], **resources(memory={"limit": 64 * MiB}, pids={"limit": 20}))
    started(runtime, b)
    runtime.run("update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "50",
                "--cpu-share", "256", "--cpu-quota", "30000", "--cpu-period", "60000",
                b.id, check=True)
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(128 * MiB)
    assert cg_read(b, "memory", "memory.memsw.limit_in_bytes") == str(256 * MiB)
    assert cg_read(b, "pids", "pids.max") == "50"
    assert cg_read(b, "cpu", "cpu.shares") == "256"
    assert cg_read(b, "cpu", "cpu.cfs_quota_us") == "30000"
    assert cg_read(b, "cpu", "cpu.cfs_period_us") == "60000"
    # and back down: memory below memory+swap first, then memory+swap
    runtime.run("update", "--memory", "32m", "--memory-swap", "48m", b.id, check=True)
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(32 * MiB)
    assert cg_read(b, "memory", "memory.memsw.limit_in_bytes") == str(48 * MiB)


def test_update_resources_file(runtime, make_bundle):
    """Also on a created (not yet started) container."""
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    doc = {"memory": {"limit": 48 * MiB}, "pids": {"limit": 7}, "cpu": {"shares": 300}}
    runtime.run("update", "--resources", "-", b.id, input=json.dumps(doc), check=True)
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(48 * MiB)
    assert cg_read(b, "pids", "pids.max") == "7"
    assert cg_read(b, "cpu", "cpu.shares") == "300"


def test_update_changes_behaviour(runtime, make_bundle):
    """A running container under pids.max 4 cannot start more processes; after
    `update --pids-limit 40` it can."""
    b = make_bundle(["sh", "-c", "while :; do sleep 1; done"], **resources(pids={"limit": 4}))
    pid = started(runtime, b)
    assert cg_read(b, "pids", "pids.max") == "4"
    procs = cg_file(b, "pids", "cgroup.procs")
    runtime.run("update", "--pids-limit", "40", b.id, check=True)
    assert cg_read(b, "pids", "pids.max") == "40"
    assert pid in [int(p) for p in procs.read_text().split()]


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs")
def test_update_cpuset_moves_running_process(runtime, make_bundle):
    b = make_bundle(["sleep", "100"], **resources(cpu={"cpus": "0"}))
    pid = started(runtime, b)
    runtime.run("update", "--cpuset-cpus", "1", b.id, check=True)

    def allowed():
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                return line.split(":")[1].strip() == "1"
    wait_for(allowed, what="the process to be moved to CPU 1")


def test_update_memory_oom_kills_running_container(runtime, make_bundle):
    """A container filling /dev/shm step by step survives 16 MiB until `update` lowers its
    limit below what it then adds."""
    b = make_bundle(["sh", "-c", "head -c 16m /dev/zero > /dev/shm/a; touch /dev/shm/ready; "
                     "while [ ! -e /dev/shm/go ]; do sleep 0.1; done; "
                     "head -c 64m /dev/zero > /dev/shm/b; sleep 100"],
                    **resources(memory={"limit": 256 * MiB, "swap": 256 * MiB}))
    b.config["mounts"][3]["options"] = ["nosuid", "nodev", "mode=1777", "size=200m"]
    b.write()
    pid = started(runtime, b)
    root = Path(f"/proc/{pid}/root/dev/shm")
    wait_for(lambda: (root / "ready").exists(), timeout=20, what="16 MiB written")
    runtime.run("update", "--memory", "48m", "--memory-swap", "48m", b.id, check=True)
    (root / "go").write_text("")
    wait_for(lambda: runtime.state(b.id)["status"] == "stopped", timeout=20,
             what="the OOM killer to end the container")
    assert "oom_kill 1" in cg_read(b, "memory", "memory.oom_control")


def test_update_stopped_container_is_an_error(runtime, make_bundle):
    b = make_bundle(["true"])
    started(runtime, b)
    runtime.wait_status(b.id, "stopped")
    cp = runtime.run("update", "--pids-limit", "5", b.id)
    assert cp.returncode != 0 and cp.stderr.strip()


def test_update_records_resources_in_state(runtime, make_bundle):
    """A later update that changes only the swap still knows the memory limit set by the
    previous one (ordering memory vs memory+swap depends on it)."""
    b = make_bundle(["sleep", "100"], **resources(memory={"limit": 64 * MiB, "swap": 64 * MiB}))
    started(runtime, b)
    runtime.run("update", "--memory", "128m", "--memory-swap", "128m", b.id, check=True)
    runtime.run("update", "--memory-swap", "-1", b.id, check=True)
    assert int(cg_read(b, "memory", "memory.memsw.limit_in_bytes")) > 2 ** 60
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(128 * MiB)


@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 prints a warning line before the "
                           "error ('the maximum allowed cpu-shares is 262144'), no JSON path")
def test_update_error_names_field_and_changes_nothing(runtime, make_bundle):
    """memory is written before cpu: the refused cpu.shares puts the memory limit back."""
    b = make_bundle(["sleep", "100"], **resources(memory={"limit": 64 * MiB},
                                                  cpu={"shares": 512}))
    started(runtime, b)
    cp = runtime.run("update", "--memory", "128m", "--cpu-share", "1000000", b.id)
    assert cp.returncode != 0 and "\n" not in cp.stderr.strip()
    assert "cpu.shares" in cp.stderr
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    assert cg_read(b, "cpu", "cpu.shares") == "512"


@pytest.mark.parametrize("check", [False, True], ids=["kernel-refuses", "checkBeforeUpdate"])
@pytest.mark.xfail_runtime("runc", reason="runc 1.1.5 refuses too, but prints a second "
                           "line: a warning that setting the old values back failed")
def test_update_below_usage_is_refused(runtime, make_bundle, check):
    """Lowering the limit below what the container holds in tmpfs (no swap to reclaim to)
    fails, on v1 by the kernel itself or first by checkBeforeUpdate; the limit and the
    container stay as they were."""
    b = make_bundle(["sh", "-c", "head -c 24m /dev/zero > /dev/shm/a; touch /dev/shm/ready; "
                     "sleep 100"],
                    **resources(memory={"limit": 64 * MiB, "swap": 64 * MiB,
                                        "checkBeforeUpdate": check}))
    pid = started(runtime, b)
    wait_for(lambda: Path(f"/proc/{pid}/root/dev/shm/ready").exists(), what="24 MiB written")
    cp = runtime.run("update", "--memory", "8m", "--memory-swap", "8m", b.id, timeout=30)
    assert cp.returncode != 0 and cp.stderr.strip() and "\n" not in cp.stderr.strip()
    assert "linux.resources.memory.limit" in cp.stderr
    assert ("checkBeforeUpdate" in cp.stderr) == check
    assert cg_read(b, "memory", "memory.limit_in_bytes") == str(64 * MiB)
    assert runtime.state(b.id)["status"] == "running"


@pytest.mark.parametrize("text, expected", [
    ("100", 100), ("64m", 64 * MiB), ("64M", 64 * MiB), ("1.5g", 3 * 512 * MiB),
    ("512KiB", 512 * 1024), ("2mb", 2 * MiB), ("-1", -1)])
def test_update_size_syntax(text, expected):
    from ociruntime.update import ram_in_bytes

    assert ram_in_bytes("memory", text) == expected


def test_update_bad_size_is_an_error(runtime, make_bundle):
    b = make_bundle(["sleep", "100"])
    runtime.create(b)
    cp = runtime.run("update", "--memory", "64x", b.id)
    assert cp.returncode != 0 and "memory" in cp.stderr and "\n" not in cp.stderr.strip()
