"""runtime.md: errors of each operation, `kill` and `delete`."""

import time

from ..bundle import pid_alive, wait_for
from ..registry import case
from .common import stopped

MISSING = "ocic-no-such-container"

# -- errors for operations on missing containers / without an ID -------------

for op, extra, section in (("start", (), "runtime.md#start"), ("kill", ("KILL",), "runtime.md#kill"),
                           ("delete", (), "runtime.md#delete")):
    def _missing(t, op=op, extra=extra):
        t.expect_error(t.call(op, MISSING, *extra), f"{op} of a container that does not exist")
    _missing.__doc__ = f"`{op}` of a container that does not exist MUST fail."
    case(f"errors.{op}-nonexistent", section)(_missing)

    def _noid(t, op=op):
        t.expect_error(t.call(op), f"{op} without a container id")
    _noid.__doc__ = f"`{op}` without a container ID MUST fail."
    case(f"errors.{op}-without-id", section)(_noid)


@case("errors.failed-op-no-effect", "runtime.md#errors")
def _(t):
    "Failing operations (duplicate create, start of a running container) leave the container as it was."
    b = t.bundle()
    pid = t.running(b)
    before = t.state(b.id)
    t.expect_error(t.create(b, check=False, pid_file=False), "duplicate create")
    t.expect_error(t.start(b.id, check=False), "start of a running container")
    after = t.state(b.id)
    t.expect(pid_alive(pid), "the container process died")
    t.expect({k: after.get(k) for k in ("status", "pid", "bundle")}
             == {k: before.get(k) for k in ("status", "pid", "bundle")},
             f"state changed: {before} -> {after}")


# -- kill ---------------------------------------------------------------------

TRAP = ("for s in HUP INT USR1 USR2 TERM; do trap \"echo $s > /mnt/log/sig; exit 0\" $s; done; "
        "echo ready > /mnt/log/ready; while :; do sleep 1 & wait $!; done")

for sig in ("TERM", "HUP", "INT", "USR1", "USR2"):
    def _sig(t, sig=sig):
        b = t.with_hook_log(t.bundle())
        pid = t.running(b, ["sh", "-c", TRAP])
        t.expect(wait_for(lambda: (b.host_dir / "ready").exists(), 5), "the program did not start")
        t.kill(b.id, sig)
        got = wait_for(lambda: (b.host_dir / "sig").exists() and (b.host_dir / "sig").read_text().strip(), 5)
        t.expect(got == sig, f"the process got {got!r}" if got else "no signal arrived")
        t.wait_exit(pid)
    _sig.__doc__ = f"`kill` sends SIG{sig} to the container process."
    case(f"kill.signal-{sig.lower()}", "runtime.md#kill")(_sig)


@case("kill.created-container", "runtime.md#kill")
def _(t):
    "`kill` of a created container sends the signal: SIGKILL stops it."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    t.kill(b.id, "KILL")
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)


@case("kill.running-stops", "runtime.md#kill")
def _(t):
    "After `kill` with SIGKILL the running container's status becomes `stopped`."
    b = t.bundle()
    pid = t.running(b)
    t.kill(b.id, "KILL")
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)


@case("kill.stopped-error", "runtime.md#kill")
def _(t):
    "`kill` of a stopped container MUST fail and leave it stopped."
    b = t.bundle()
    stopped(t, b)
    t.expect_error(t.kill(b.id, "KILL", check=False), "kill of a stopped container")
    t.expect(t.status(b.id) == "stopped", f"status is {t.status(b.id)!r}")


@case("kill.ignored-signal-keeps-running", "runtime.md#kill")
def _(t):
    "A signal the process ignores leaves the container running."
    b = t.with_hook_log(t.bundle())
    pid = t.running(b, ["sh", "-c", "trap '' USR1; echo ready > /mnt/log/ready; "
                        "while :; do sleep 1 & wait $!; done"])
    t.expect(wait_for(lambda: (b.host_dir / "ready").exists(), 5), "the program did not start")
    t.kill(b.id, "USR1")
    time.sleep(0.3)
    t.expect(pid_alive(pid) and t.status(b.id) == "running", "the container stopped")


# -- delete -------------------------------------------------------------------

@case("delete.stopped", "runtime.md#delete")
def _(t):
    "`delete` of a stopped container removes it: `state` fails afterwards."
    b = t.bundle()
    stopped(t, b)
    t.delete(b.id)
    t.expect(t.call("state", b.id).rc != 0, "state still answers")


@case("delete.running-error", "runtime.md#delete")
def _(t):
    "`delete` of a running container MUST fail and leave it running."
    b = t.bundle()
    pid = t.running(b)
    t.expect_error(t.delete(b.id, check=False), "delete of a running container")
    t.expect(pid_alive(pid), "the container process died")
    t.expect(t.status(b.id) == "running", f"status is {t.status(b.id)!r}")


@case("delete.created-error", "runtime.md#delete", deviations={
    "runc": "runc (and engines relying on it) deletes a created container: it kills the "
            "process and removes the container (delete without --force)",
    "crun": "crun deletes a created container, as runc does",
    "ociruntime": "deliberate (README): `delete` removes a created container, as runc does, "
                  "because containerd relies on it"})
def _(t):
    "`delete` of a created (not stopped) container MUST fail and leave it created."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    t.expect_error(t.delete(b.id, check=False), "delete of a created container")
    t.expect(pid_alive(pid), "the container process was killed")
    t.expect(t.status(b.id) == "created", f"status is {t.status(b.id)!r}")


@case("delete.removes-cgroups", "runtime.md#delete")
def _(t):
    "`delete` removes the cgroups `create` made."
    b = t.bundle()
    pid = t.created(b, ["true"])
    t.expect(t.host.cgroup_dirs(b.cgroups_path), "create made no cgroup at cgroupsPath")
    t.start(b.id)
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)
    t.delete(b.id)
    left = t.host.cgroup_dirs(b.cgroups_path)
    t.expect(not left, f"cgroups left: {[str(d) for d in left]}")


@case("delete.keeps-bind-sources", "runtime.md#delete")
def _(t):
    "`delete` MUST NOT delete what the container did not create (a bind-mount source and its files)."
    b = t.bundle(["true"])
    src = t.dir / "volume"
    src.mkdir()
    (src / "keep").write_text("data")
    b.add_mount("/mnt/a", src, options=["rbind", "rw"])
    t.run_container(b)
    t.expect((src / "keep").read_text() == "data", "the bind-mount source lost its content")


@case("delete.keeps-preexisting-cgroup", "runtime.md#delete", deviations={
    "runc": "runc 1.1.5 removes the cgroup at cgroupsPath on delete even when it existed "
            "before create",
    "crun": "crun 1.8.1 removes the cgroup at cgroupsPath on delete even when it existed "
            "before create"})
def _(t):
    "`delete` MUST NOT remove a cgroup that existed before the container was created."
    b = t.bundle(["true"])
    made = []
    for hier, ctrls in t.host.hierarchies:
        d = hier / b.cgroups_path.lstrip("/")
        if ctrls is not None and "cpuset" in ctrls:
            continue  # an empty cpuset cgroup cannot take tasks; let the runtime set it up
        d.mkdir(parents=True, exist_ok=True)
        made.append(d)
    t.suite_cgroups.add(b.cgroups_path)
    t.run_container(b)
    gone = [str(d) for d in made if not d.is_dir()]
    t.expect(not gone, f"pre-existing cgroups removed: {gone}")


@case("delete.id-reusable", "runtime.md#delete", "MAY")
def _(t):
    "Once a container is deleted its ID can be used by a new container."
    b = t.bundle(["true"])
    t.run_container(b)
    b2 = t.bundle(["true"])
    b2.id = b.id
    t.run_container(b2)


@case("delete.poststop-not-before-delete", "runtime.md#lifecycle")
def _(t):
    "A container whose process exited stays `stopped` (and listed) until `delete`."
    b = t.bundle()
    pid = t.created(b, ["true"])
    t.start(b.id)
    t.wait_exit(pid)
    time.sleep(0.3)
    t.expect(t.status(b.id) == "stopped", f"status is {t.status(b.id)!r}")
    t.expect(b.id in t.state_entries() or t.status(b.id) == "stopped", "container vanished")
