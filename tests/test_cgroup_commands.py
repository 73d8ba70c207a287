"""pause, resume, ps, events and kill --all, from the outside, against every runtime.

The tests run on the host (hybrid v1) and, with the ``cgroupv2`` marker, in the cgroup v2 VM
(see /work/shared/README.md); they read the cgroup files of whichever driver the host has.
Containers report through a host directory bind-mounted at /mnt/a.  ``events`` output is
compared with what runc prints on the same host in the same run: the keys runc always
prints must match exactly, and every other key must be one runc's events types define.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import (CGROUP_FS, DEFAULT_TIMEOUT, VM_TIMEOUT, Runtime, cgroup_pids, cgroup_v2_host,
                      pid_alive, wait_for)

pytestmark = pytest.mark.root

# The v2 VM runs code 15-20x slower.
TIMEOUT = VM_TIMEOUT if cgroup_v2_host() else DEFAULT_TIMEOUT

# Keys of runc's events "data" that Go's omitempty leaves out when zero or empty (runc's
# types/events.go); "*" stands for a hugetlb page size or a memory entry.
OPTIONAL_KEYS = {
    "cpu.usage.total", "cpu.usage.percpu", "cpu.usage.percpu_kernel", "cpu.usage.percpu_user",
    "cpu.throttling.periods", "cpu.throttling.throttledPeriods", "cpu.throttling.throttledTime",
    "cpuset.cpus", "cpuset.mems", "memory.cache", "memory.*.usage", "memory.*.max", "memory.raw",
    "pids.current", "pids.limit", "hugetlb.*.usage", "hugetlb.*.max",
    *(f"blkio.{name}{suffix}"
      for name in ("ioServiceBytesRecursive", "ioServicedRecursive", "ioQueueRecursive",
                   "ioServiceTimeRecursive", "ioWaitTimeRecursive", "ioMergedRecursive",
                   "ioTimeRecursive", "sectorsRecursive")
      for suffix in ("", "[].major", "[].minor", "[].op", "[].value")),
}


# -- helpers ---------------------------------------------------------------------------

def shared_dir(oci, bundle, name="shared") -> Path:
    """A host directory bind-mounted at /mnt/a in the bundle's container."""
    directory = oci.dir / f"{name}-{bundle.id}"
    directory.mkdir()
    bundle.config["mounts"].append({"destination": "/mnt/a", "type": "bind",
                                    "source": str(directory), "options": ["rbind", "rw"]})
    bundle.write()
    return directory


def create(runtime, bundle) -> None:
    """``runtime.create`` with time for the v2 VM."""
    runtime.run("create", "--bundle", bundle.path, "--pid-file", bundle.pid_file, bundle.id,
                check=True, timeout=TIMEOUT)
    runtime.remember_pid(int(Path(bundle.pid_file).read_text()))


def started(runtime, bundle) -> int:
    create(runtime, bundle)
    runtime.run("start", bundle.id, check=True, timeout=TIMEOUT)
    return runtime.state(bundle.id)["pid"]


def one_line_error(cp) -> str:
    assert cp.returncode != 0, f"expected a failure, got: {cp.stdout}"
    message = cp.stderr.strip()
    assert message and "\n" not in message, f"expected one line, got:\n{cp.stderr}"
    return message


def read_number(path: Path) -> int:
    """The counter file; empty (mid-write) reads as 0."""
    text = path.read_text().strip() if path.exists() else ""
    return int(text) if text else 0


def memory_limit(cgroups_path: str, limit: int) -> None:
    """Limits memory (and swap) of a cgroup the test's bundle made: the limit fields of
    linux.resources are another part of this issue, so the test writes the files itself."""
    rel = cgroups_path.lstrip("/")
    if cgroup_v2_host():
        (CGROUP_FS / rel / "memory.max").write_text(str(limit))
        swap = CGROUP_FS / rel / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
        return
    memory = CGROUP_FS / "memory" / rel
    (memory / "memory.limit_in_bytes").write_text(str(limit))
    if (memory / "memory.memsw.limit_in_bytes").exists():
        (memory / "memory.memsw.limit_in_bytes").write_text(str(limit))


def stats_event(runtime, cid) -> dict:
    cp = runtime.run("events", "--stats", cid, check=True, timeout=TIMEOUT)
    lines = cp.stdout.splitlines()
    assert len(lines) == 1, f"one JSON line expected: {cp.stdout!r}"
    event = json.loads(lines[0])
    assert event["type"] == "stats" and event["id"] == cid
    return event["data"]


def key_paths(value, prefix="") -> set[str]:
    """Dotted key paths of a stats document; list items share "[]", hugetlb sizes and
    memory entries "*" (their names are data, not shape), raw's keys are left out."""
    paths = set()
    if isinstance(value, dict):
        for key, item in value.items():
            name = "*" if prefix == "hugetlb" else key
            if prefix == "memory" and key in ("usage", "swap", "kernel", "kernelTCP"):
                paths.add(f"memory.{key}")
                name = "*"
            path = f"{prefix}.{name}" if prefix else name
            paths.add(path)
            if path != "memory.raw":
                paths |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                paths |= key_paths(item, prefix + "[]")
    return paths


@pytest.fixture
def reference(oci):
    """runc, for the output every runtime is compared with."""
    path = shutil.which("runc")
    if path is None:
        pytest.skip("runc is not installed")
    root = oci.dir / "root-reference"
    root.mkdir()
    rt = Runtime("runc", path, root, oci)
    oci.runtimes.append(rt)
    return rt


# -- pause and resume ------------------------------------------------------------------

@pytest.mark.cgroupv2
def test_pause_stops_a_counter_and_resume_continues_it(runtime, make_bundle, oci):
    b = make_bundle(["sh", "-c", "i=0; while true; do i=$((i+1)); echo $i > /mnt/a/n; usleep 20000; done"])
    counter = shared_dir(oci, b) / "n"
    started(runtime, b)
    wait_for(lambda: read_number(counter) > 0, timeout=TIMEOUT, what="the counter to run")

    runtime.run("pause", b.id, check=True, timeout=TIMEOUT)
    assert runtime.state(b.id)["status"] == "paused"
    listed = json.loads(runtime.run("list", "--format", "json", check=True).stdout)
    assert [c["status"] for c in listed] == ["paused"]
    frozen_at = counter.read_text()
    time.sleep(0.5)  # 25 steps of the counter while running
    assert counter.read_text() == frozen_at, "the counter advanced while paused"
    assert "not running" in one_line_error(runtime.run("pause", b.id, timeout=TIMEOUT))

    runtime.run("resume", b.id, check=True, timeout=TIMEOUT)
    assert runtime.state(b.id)["status"] == "running"
    wait_for(lambda: read_number(counter) > int(frozen_at or 0), timeout=TIMEOUT,
             what="the counter to advance after resume")
    assert "not paused" in one_line_error(runtime.run("resume", b.id, timeout=TIMEOUT))


def test_pause_refusals_and_a_paused_created_container(runtime, make_bundle):
    """As runc: a created container can be paused (and then not started); a stopped one
    can be neither paused nor resumed."""
    b = make_bundle(["sleep", "1000"])
    create(runtime, b)
    runtime.run("pause", b.id, check=True)
    assert runtime.state(b.id)["status"] == "paused"
    assert "paused" in one_line_error(runtime.run("start", b.id))
    runtime.run("resume", b.id, check=True)
    assert runtime.state(b.id)["status"] == "created"
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    assert "not running" in one_line_error(runtime.run("pause", b.id))
    assert "not paused" in one_line_error(runtime.run("resume", b.id))
    assert "does not exist" in one_line_error(runtime.run("pause", b.id + "-none"))


def test_paused_container_is_killed_and_deleted(runtime, make_bundle):
    """SIGKILL reaches a paused container's init (v1 freezes it until thawed: runc and we
    thaw after a SIGKILL), and delete --force removes a paused container."""
    killed, deleted = make_bundle(["sleep", "1000"]), make_bundle(["sleep", "1000"])
    for b in (killed, deleted):
        started(runtime, b)
        runtime.run("pause", b.id, check=True)
    runtime.kill(killed.id, "KILL")
    runtime.wait_status(killed.id, "stopped")
    assert "paused" in one_line_error(runtime.run("delete", deleted.id))
    pid = runtime.state(deleted.id)["pid"]
    runtime.delete(deleted.id, force=True)
    assert deleted.id not in runtime.state_entries()
    assert not pid_alive(pid)


# -- kill --all ------------------------------------------------------------------------

@pytest.mark.cgroupv2
def test_kill_all_reaches_a_background_child_also_when_paused(runtime, make_bundle):
    """The init (a PID namespace's init ignores SIGTERM without a handler) survives, its
    background child does not: only kill --all signals it.  A paused container is thawed
    afterwards, as runc does."""
    b = make_bundle(["sh", "-c", "sleep 1000 & sleep 1001 & wait; exec sleep 1002"])
    init = started(runtime, b)
    wait_for(lambda: len(cgroup_pids(b.cgroups_path)) == 3, timeout=TIMEOUT, what="two children")
    first, second = sorted(cgroup_pids(b.cgroups_path) - {init})

    runtime.run("kill", b.id, "TERM", check=True, timeout=TIMEOUT)
    time.sleep(0.2)
    assert pid_alive(first) and pid_alive(second), "plain kill signals only the init"
    runtime.run("kill", "--all", b.id, "USR1", check=True, timeout=TIMEOUT)
    wait_for(lambda: not pid_alive(first) and not pid_alive(second), timeout=TIMEOUT,
             what="kill --all to reach the children")
    assert pid_alive(init), "the init ignores SIGUSR1"
    assert runtime.state(b.id)["status"] == "running"


def test_kill_all_of_a_paused_container_thaws_it(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "sleep 1000 & wait; exec sleep 1002"])
    init = started(runtime, b)
    wait_for(lambda: len(cgroup_pids(b.cgroups_path)) == 2, what="the child")
    child = (cgroup_pids(b.cgroups_path) - {init}).pop()
    runtime.run("pause", b.id, check=True)
    runtime.run("kill", "--all", b.id, "TERM", check=True)
    wait_for(lambda: not pid_alive(child), what="the paused child to get SIGTERM")
    assert runtime.state(b.id)["status"] == "running"


# -- ps --------------------------------------------------------------------------------

@pytest.mark.cgroupv2
def test_ps_lists_the_cgroup_processes(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "sleep 1000 & sleep 1001 & wait; exec sleep 1002"])
    init = started(runtime, b)
    wait_for(lambda: len(cgroup_pids(b.cgroups_path)) == 3, timeout=TIMEOUT, what="two children")
    members = cgroup_pids(b.cgroups_path)
    assert init in members

    cp = runtime.run("ps", "--format", "json", b.id, check=True, timeout=TIMEOUT)
    assert sorted(json.loads(cp.stdout)) == sorted(members)

    table = runtime.run("ps", b.id, check=True, timeout=TIMEOUT).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"], "default ps options are -ef"
    assert {int(line.split()[1]) for line in table[1:]} == members

    table = runtime.run("ps", b.id, "-o", "pid,args", check=True, timeout=TIMEOUT).stdout.splitlines()
    assert table[0].split() == ["PID", "COMMAND"]
    rows = {int(line.split()[0]): line.split(None, 1)[1] for line in table[1:]}
    assert rows.keys() == members
    assert {"sleep 1000", "sleep 1001"} <= set(rows.values())


def test_ps_without_a_pid_column_fails(runtime, make_bundle):
    b = make_bundle(["sleep", "1000"])
    started(runtime, b)
    assert "PID" in one_line_error(runtime.run("ps", b.id, "-o", "comm"))


# -- events ----------------------------------------------------------------------------

@pytest.mark.cgroupv2
def test_events_stats_has_runcs_shape(runtime, reference, make_bundle):
    ours, theirs = make_bundle(["sleep", "1000"]), make_bundle(["sleep", "1000"])
    started(runtime, ours)
    started(reference, theirs)
    data, expected = stats_event(runtime, ours.id), stats_event(reference, theirs.id)

    assert data["pids"]["current"] == 1
    assert data["memory"]["usage"]["usage"] > 0
    assert data["cpu"]["usage"]["total"] > 0
    mine, runcs = key_paths(data), key_paths(expected)
    assert mine - OPTIONAL_KEYS == runcs - OPTIONAL_KEYS, "keys runc always prints"
    assert mine <= runcs | OPTIONAL_KEYS, "keys runc's events types do not define"
    assert data["memory"]["raw"].keys() == expected["memory"]["raw"].keys()
    assert data["hugetlb"].keys() == expected["hugetlb"].keys()


def test_events_interval_until_the_container_stops(runtime, make_bundle):
    b = make_bundle(["sleep", "1000"])
    started(runtime, b)
    assert "greater than 0" in one_line_error(runtime.run("events", "--interval", "0s", b.id))
    events = runtime.popen("events", "--interval", "100ms", b.id)
    wait_for(lambda: events.stdout.count("\n") >= 2, what="two stats events")
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id)  # runc's events ends when the cgroup goes
    assert events.wait() == 0, events.stderr
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert {e["type"] for e in lines} == {"stats"} and {e["id"] for e in lines} == {b.id}


@pytest.mark.cgroupv2
def test_events_reports_an_oom_kill(runtime, make_bundle, oci):
    """A child allocating past the memory limit is OOM-killed: one "oom" event, and the
    shell sees it die of SIGKILL."""
    b = make_bundle(["sh", "-c", "tail /dev/zero; echo $? > /mnt/a/status"])
    status = shared_dir(oci, b) / "status"
    create(runtime, b)
    memory_limit(b.cgroups_path, 16 << 20)
    events = runtime.popen("events", "--interval", "100ms", b.id)
    wait_for(lambda: events.stdout.strip(), timeout=TIMEOUT, what="events to run")
    runtime.run("start", b.id, check=True, timeout=TIMEOUT)
    runtime.wait_status(b.id, "stopped", timeout=TIMEOUT)
    # deleting removes the cgroup: first let events report what it holds
    wait_for(lambda: '"type":"oom"' in events.stdout.replace(" ", ""), timeout=TIMEOUT,
             what="the oom event")
    runtime.delete(b.id)
    assert events.wait(timeout=TIMEOUT) == 0, events.stderr
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert {"type": "oom", "id": b.id} in lines, events.stdout[-500:]
    assert status.read_text().strip() == "137"
