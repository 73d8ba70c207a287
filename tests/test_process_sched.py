"""process.ioPriority and process.execCPUAffinity (config.md): checked from inside
the container with busybox, and the config errors ociruntime reports for them."""

import os
from pathlib import Path

import pytest

from conftest import failed_create_message

pytestmark = pytest.mark.root

CPUS = os.cpu_count() or 1
needs_two_cpus = pytest.mark.skipif(CPUS < 2, reason="needs at least two CPUs")


def _cpus_allowed(text):
    for line in text.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no Cpus_allowed_list in {text!r}")


# --- process.ioPriority ------------------------------------------------------

@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores process.ioPriority (support came with runc 1.2): "
    "the process keeps the default I/O priority ('none: prio 0')")
@pytest.mark.parametrize("ioclass, prio, expected", [
    ("IOPRIO_CLASS_BE", 5, "best-effort: prio 5"),
    ("IOPRIO_CLASS_RT", 2, "realtime: prio 2"),
    ("IOPRIO_CLASS_IDLE", 0, "idle"),
])
def test_io_priority(runtime, make_bundle, ioclass, prio, expected):
    b = make_bundle(process={"ioPriority": {"class": ioclass, "priority": prio}})
    out = runtime.sh(b, "ionice -p $$").strip()
    assert out.split(": prio")[0] == expected.split(": prio")[0]
    if ioclass != "IOPRIO_CLASS_IDLE":
        assert out == expected


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores process.ioPriority (support came with runc 1.2): "
    "the process keeps the default I/O priority ('none: prio 0')")
def test_io_priority_survives_user_change(runtime, make_bundle):
    b = make_bundle(process={"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 7},
                             "user": {"uid": 1000, "gid": 1000}})
    assert runtime.sh(b, "ionice -p $$").strip() == "best-effort: prio 7"


# --- process.execCPUAffinity -------------------------------------------------

AFFINITY_XFAIL = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores process.execCPUAffinity (support came with "
    "runc 1.2): the process keeps the caller's CPU affinity")


@needs_two_cpus
@AFFINITY_XFAIL
@pytest.mark.parametrize("affinity, expected", [
    ({"final": "1"}, "1"),
    ({"initial": "1"}, "1"),   # without final, the process keeps the initial set
    ({"initial": "0", "final": "1"}, "1"),
])
def test_exec_cpu_affinity(runtime, make_bundle, affinity, expected):
    b = make_bundle(process={"execCPUAffinity": affinity})
    assert _cpus_allowed(runtime.sh(b, "cat /proc/self/status")) == expected


@needs_two_cpus
@AFFINITY_XFAIL
def test_exec_cpu_affinity_initial_applies_before_final(runtime, make_bundle):
    """``initial`` is in place while the container is set up (a createContainer hook,
    forked by the container's init, inherits it); ``final`` only for process.args."""
    b = make_bundle(process={"execCPUAffinity": {"initial": "0", "final": "1"}})
    seen = b.host_dir / "hook-affinity"
    b.config["hooks"] = {"createContainer": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", f"grep Cpus_allowed_list /proc/self/status > {seen}"],
    }]}
    assert _cpus_allowed(runtime.sh(b, "cat /proc/self/status")) == "1"
    assert _cpus_allowed(seen.read_text()) == "0"


# --- config errors (ociruntime's wording) ------------------------------------

@pytest.mark.runtimes("ociruntime")
@pytest.mark.parametrize("field, value, message", [
    ("final", "4096", "process.execCPUAffinity.final: CPU 4096 does not exist on this host"),
    ("initial", "0,3-1", "process.execCPUAffinity.initial: '3-1': range ends before it starts"),
    ("final", "0-3;7", "process.execCPUAffinity.final: '0-3;7' is not a list like '0-3,7'"),
])
def test_exec_cpu_affinity_errors(runtime, make_bundle, field, value, message):
    b = make_bundle(["true"], process={"execCPUAffinity": {field: value}})
    assert message in failed_create_message(runtime, b)


@pytest.mark.runtimes("ociruntime")
def test_io_priority_error_names_the_json_path(runtime, make_bundle):
    b = make_bundle(["true"], process={"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 8}})
    assert "process.ioPriority.priority: 8 is greater than the maximum of 7" in failed_create_message(runtime, b)


# --- process.scheduler -------------------------------------------------------

SCHED_XFAIL = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores process.scheduler (support came with runc 1.2): "
    "the process keeps SCHED_OTHER with nice 0")
STAT = "cut -d' ' -f18,19,41 /proc/$$/stat"   # priority, nice, policy of the shell


@SCHED_XFAIL
@pytest.mark.parametrize("scheduler, expected", [
    ({"policy": "SCHED_OTHER", "nice": 5}, "25 5 0"),
    ({"policy": "SCHED_BATCH", "nice": -3}, "17 -3 3"),
    ({"policy": "SCHED_IDLE"}, "20 0 5"),
], ids=lambda v: v["policy"] if isinstance(v, dict) else None)
def test_scheduler_policy(runtime, make_bundle, scheduler, expected):
    b = make_bundle(process={"scheduler": scheduler})
    assert runtime.sh(b, STAT).strip() == expected


@SCHED_XFAIL
def test_scheduler_deadline(runtime, make_bundle):
    # RESET_ON_FORK: a SCHED_DEADLINE task may not fork otherwise, and sh forks
    b = make_bundle(process={"scheduler": {
        "policy": "SCHED_DEADLINE", "runtime": 2000000, "deadline": 10000000,
        "period": 20000000, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}})
    assert runtime.sh(b, STAT).strip() == "-101 0 6"   # prio -101: a deadline task


RT_GROUP_SCHED = Path("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists()


def _allow_realtime(cgroups_path, runtime_us=10000):
    """With RT group scheduling (cgroup v1 cpu) a new cgroup gets cpu.rt_runtime_us 0 and
    sched_setattr(SCHED_FIFO/RR) fails with EPERM there: give the test's cgroup (and its
    parent, ours too) some real-time budget, as linux.resources.cpu.realtimeRuntime would."""
    if not RT_GROUP_SCHED:
        return
    rel = cgroups_path.strip("/").split("/")
    for depth in range(1, len(rel) + 1):
        budget = runtime_us * (len(rel) - depth + 1)   # a parent's covers its children's
        Path("/sys/fs/cgroup/cpu", *rel[:depth], "cpu.rt_runtime_us").write_text(str(budget))


@SCHED_XFAIL
@pytest.mark.parametrize("scheduler, expected", [
    ({"policy": "SCHED_FIFO", "priority": 10}, "-11 0 1"),
    ({"policy": "SCHED_RR", "priority": 5}, "-6 0 2"),
], ids=["SCHED_FIFO", "SCHED_RR"])
def test_scheduler_realtime(runtime, make_bundle, scheduler, expected):
    """The process is set up at create (or, with a startContainer hook, at start): the hook
    delays it until the test has given the container's cgroup a real-time budget."""
    b = make_bundle(["sh", "-c", STAT + " > /mnt/a/out"],
                    process={"scheduler": scheduler},
                    hooks={"startContainer": [{"path": "/bin/true"}]})
    b.add_mount("/mnt/a", b.host_dir)
    runtime.create(b)
    _allow_realtime(b.cgroups_path)
    runtime.start(b.id)
    runtime.wait_status(b.id, "stopped")
    assert (b.host_dir / "out").read_text().strip() == expected


@pytest.mark.runtimes("ociruntime")
@pytest.mark.skipif(not RT_GROUP_SCHED, reason="no RT group scheduling on this host")
def test_scheduler_realtime_without_budget_says_why(runtime, make_bundle):
    b = make_bundle(["true"], process={"scheduler": {"policy": "SCHED_FIFO", "priority": 1}})
    msg = failed_create_message(runtime, b)
    assert msg.startswith("ociruntime: process.scheduler: SCHED_FIFO: sched_setattr: "
                          "Operation not permitted"), msg
    assert "cpu.rt_runtime_us" in msg


@SCHED_XFAIL
def test_scheduler_reset_on_fork(runtime, make_bundle):
    b = make_bundle(process={"scheduler": {"policy": "SCHED_OTHER", "nice": -5,
                                           "flags": ["SCHED_FLAG_RESET_ON_FORK"]}})
    out = runtime.sh(b, STAT + "; cat /proc/self/stat | cut -d' ' -f19").split()
    assert out == ["15", "-5", "0", "0"]   # the child of the shell is back at nice 0


@SCHED_XFAIL
def test_scheduler_survives_user_change(runtime, make_bundle):
    b = make_bundle(process={"scheduler": {"policy": "SCHED_BATCH", "nice": -10},
                             "user": {"uid": 1000, "gid": 1000}})
    assert runtime.sh(b, STAT).strip() == "10 -10 3"


@pytest.mark.runtimes("ociruntime")
@pytest.mark.parametrize("scheduler, message", [
    ({"policy": "SCHED_ISO"}, "process.scheduler.policy: SCHED_ISO is not implemented by Linux"),
    ({"policy": "SCHED_OTHER", "nice": 20}, "process.scheduler.nice: 20 is outside -20..19"),
    ({"policy": "SCHED_FIFO"}, "process.scheduler.priority: 0 is outside 1..99 (required for SCHED_FIFO)"),
    ({"policy": "SCHED_RR", "priority": 100}, "process.scheduler.priority: 100 is outside 1..99"),
    ({"policy": "SCHED_BATCH", "priority": 3}, "process.scheduler.priority: 3: must be 0 for SCHED_BATCH"),
    ({"policy": "SCHED_DEADLINE", "runtime": 2000},
     "process.scheduler.deadline: required for SCHED_DEADLINE"),
    ({"policy": "SCHED_DEADLINE", "runtime": 100, "deadline": 1000},
     "process.scheduler.runtime: 100: SCHED_DEADLINE needs at least 1024 (ns)"),
    ({"policy": "SCHED_DEADLINE", "runtime": 5000, "deadline": 4000},
     "process.scheduler.runtime: 5000 is greater than the deadline (4000)"),
    ({"policy": "SCHED_DEADLINE", "runtime": 2000, "deadline": 4000, "period": 3000},
     "process.scheduler.period: 3000 is less than the deadline (4000)"),
    ({"policy": "SCHED_FAST"}, "process.scheduler.policy: 'SCHED_FAST' is not one of"),
])
def test_scheduler_errors(runtime, make_bundle, scheduler, message):
    b = make_bundle(["true"], process={"scheduler": scheduler})
    assert message in failed_create_message(runtime, b)


# --- linux.personality -------------------------------------------------------

@pytest.mark.skipif(os.uname().machine != "x86_64", reason="LINUX32 shows i686 on x86_64 only")
@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 ignores linux.personality (support came with runc 1.2): "
    "uname -m stays x86_64 and the persona 00000000")
def test_personality_linux32(runtime, make_bundle):
    b = make_bundle(linux={"personality": {"domain": "LINUX32"}})
    assert runtime.sh(b, "uname -m; cat /proc/$$/personality").split() == ["i686", "00000008"]


def test_personality_linux(runtime, make_bundle):
    b = make_bundle(linux={"personality": {"domain": "LINUX"}})
    assert runtime.sh(b, "uname -m; cat /proc/$$/personality").split() == [
        os.uname().machine, "00000000"]


@pytest.mark.runtimes("ociruntime")
def test_personality_flags_are_refused(runtime, make_bundle):
    b = make_bundle(["true"], linux={"personality": {"domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE"]}})
    assert ("linux.personality.flags: no flags are supported (the runtime-spec defines none)"
            in failed_create_message(runtime, b))
