"""runtime.md: the lifecycle, create and start."""

import os
import time
from pathlib import Path

from ..bundle import NS_TYPES, ns_link, pid_alive, wait_for
from ..registry import case
from .common import CHECKER, stopped

MARK = [CHECKER, "append=/mnt/log/ran:started", "sleep=300"]


def ran(b):
    return (b.host_dir / "ran").exists()


@case("lifecycle.create-status-created", "runtime.md#create")
def _(t):
    "After `create` returns, the container's status is `created`."
    b = t.with_hook_log(t.bundle())
    t.created(b, MARK)
    st = t.state(b.id)
    t.expect(st.get("status") == "created", f"status is {st.get('status')!r}")


@case("lifecycle.create-does-not-run-process", "runtime.md#lifecycle")
def _(t):
    "`create` MUST NOT run the user-specified program."
    b = t.with_hook_log(t.bundle())
    t.created(b, MARK)
    time.sleep(0.3)
    t.expect(not ran(b), "the user-specified program ran before `start`")


@case("lifecycle.create-makes-environment", "runtime.md#lifecycle")
def _(t):
    "After `create` the container process exists in new namespaces and in its cgroup."
    b = t.with_hook_log(t.bundle())
    pid = t.created(b, MARK)
    t.expect(pid_alive(pid), f"container process {pid} is not alive after create")
    same = [n for n in ("pid", "network", "ipc", "uts", "mount")
            if ns_link(pid, n) == t.host.host_ns[n]]
    t.expect(not same, f"namespaces not created by create: {same}")
    cg = Path(f"/proc/{pid}/cgroup").read_text()
    t.expect(b.cgroups_path in cg, f"process not in {b.cgroups_path}: {cg.split()}")


@case("lifecycle.start-runs-process", "runtime.md#start")
def _(t):
    "`start` runs the user-specified program."
    b = t.with_hook_log(t.bundle())
    t.created(b, MARK)
    t.start(b.id)
    t.expect(wait_for(lambda: ran(b), 5), "the user-specified program did not run after start")


@case("lifecycle.start-status-running", "runtime.md#state")
def _(t):
    "After `start` the status of a container whose program runs is `running`."
    b = t.bundle()
    pid = t.running(b)
    st = t.state(b.id)
    t.expect(st.get("status") == "running", f"status is {st.get('status')!r}")
    t.expect(st.get("pid") == pid, f"pid changed from {pid} to {st.get('pid')}")


@case("lifecycle.exit-status-stopped", "runtime.md#state")
def _(t):
    "When the container process exits, the status is `stopped`."
    b = t.bundle()
    stopped(t, b)


@case("lifecycle.config-change-after-create", "runtime.md#lifecycle")
def _(t):
    "Changes to config.json after `create` MUST NOT affect the container."
    b = t.with_hook_log(t.bundle())
    t.created(b, [CHECKER, "append=/mnt/log/ran:original", "sleep=300"])
    b.set_args(CHECKER, "append=/mnt/log/ran:changed", "sleep=300")
    t.start(b.id)
    t.expect(wait_for(lambda: ran(b), 5), "the program did not run")
    time.sleep(0.1)
    text = (b.host_dir / "ran").read_text().split()
    t.expect(text == ["original"], f"the container ran {text} (config.json changed after create)")


@case("lifecycle.start-twice-error", "runtime.md#start")
def _(t):
    "`start` of a running container MUST fail and MUST NOT affect it."
    b = t.with_hook_log(t.bundle())
    pid = t.running(b, MARK)
    t.expect(wait_for(lambda: ran(b), 5), "the program did not run")
    res = t.start(b.id, check=False)
    t.expect_error(res, "second start")
    time.sleep(0.2)
    t.expect(pid_alive(pid), "the container process died")
    lines = (b.host_dir / "ran").read_text().split()
    t.expect(lines == ["started"], f"the program ran {len(lines)} times")
    st = t.state(b.id)
    t.expect(st.get("status") == "running" and st.get("pid") == pid, f"state changed: {st}")


@case("lifecycle.start-stopped-error", "runtime.md#start")
def _(t):
    "`start` of a stopped container MUST fail; it stays stopped."
    b = t.bundle()
    stopped(t, b)
    t.expect_error(t.start(b.id, check=False), "start of a stopped container")
    t.expect(t.status(b.id) == "stopped", f"status is {t.status(b.id)!r}")


@case("lifecycle.create-duplicate-id-error", "runtime.md#create")
def _(t):
    "`create` with the ID of an existing container MUST fail and leave that container alone."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    b2 = t.bundle(["true"])
    b2.id = b.id
    res = t.create(b2, check=False, pid_file=False)
    t.expect_error(res, "create with a duplicate id")
    st = t.state(b.id)
    t.expect(st.get("status") == "created" and st.get("pid") == pid and pid_alive(pid),
             f"the first container changed: {st}")
    t.expect(st.get("bundle") == b.path, f"bundle is now {st.get('bundle')!r}")


@case("lifecycle.create-invalid-id-error", "runtime.md#create")
def _(t):
    "`create` with an ID that cannot name a container (`../x`) MUST fail and create nothing."
    b = t.bundle(["true"])
    target = t.dir / "escaped"
    b.id = "../escaped"
    res = t.create(b, check=False, pid_file=False)
    t.expect_error(res, "create with id '../escaped'")
    t.expect(not target.exists(), f"{target} was created outside --root")


@case("lifecycle.create-without-id-error", "runtime.md#create")
def _(t):
    "`create` without a container ID MUST fail."
    b = t.bundle(["true"])
    res = t.call("create", "--bundle", b.path)
    t.expect_error(res, "create without an id")
    t.expect(t.state_entries() == [], f"state created: {t.state_entries()}")


@case("lifecycle.create-bad-bundle-error", "runtime.md#create")
def _(t):
    "`create` with a bundle path that does not exist MUST fail."
    b = t.bundle(["true"])
    res = t.create(b, check=False, bundle_arg=str(t.dir / "no-such-bundle"))
    t.expect_error(res, "create with a missing bundle")
    t.expect(t.status(b.id) is None, "a container exists after the failed create")


@case("lifecycle.create-error-leaves-nothing", "runtime.md#errors")
def _(t):
    "A failed `create` (unmountable source) leaves the environment as if it never ran."
    b = t.bundle(["true"])
    b.add_mount("/mnt/a", t.dir / "does-not-exist", options=["rbind", "ro"])
    res = t.create(b, check=False)
    t.expect_error(res, "create with a bind mount of a missing source")
    t.expect(t.status(b.id) is None, "the container exists after the failed create")
    t.expect(not t.host.cgroup_dirs(b.cgroups_path),
             f"cgroups left: {t.host.cgroup_dirs(b.cgroups_path)}")
    t.expect(not os.path.exists(b.pid_file), "pid file written by a failed create")


@case("lifecycle.missing-executable-error", "runtime.md#lifecycle")
def _(t):
    "A process.args[0] that does not exist makes `create` or `start` fail."
    b = t.bundle(["/no/such/binary"])
    res = t.create(b, check=False)
    if res.ok:
        res = t.start(b.id, check=False)
        t.expect_error(res, "create and start of a missing executable")
        t.expect(t.status(b.id) != "running", "the container is running")


@case("lifecycle.process-required-for-start", "runtime.md#start")
def _(t):
    "Without `process`, `start` (or already `create`) MUST fail."
    b = t.bundle()
    b.config.pop("process")
    b.write()
    res = t.create(b, check=False)
    if res.ok:
        t.expect_error(t.start(b.id, check=False), "start without process")


@case("lifecycle.delete-destroys", "runtime.md#lifecycle")
def _(t):
    "`delete` undoes `create`: process, cgroups and state are gone."
    b = t.bundle()
    stopped(t, b)
    t.delete(b.id)
    t.expect(t.status(b.id) is None, "state still answers after delete")
    t.expect(not t.host.cgroup_dirs(b.cgroups_path),
             f"cgroups left: {[str(d) for d in t.host.cgroup_dirs(b.cgroups_path)]}")


@case("lifecycle.namespaces-live-with-container", "runtime.md#lifecycle")
def _(t):
    "The namespaces made at `create` are the ones the program runs in after `start`."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    before = {n: ns_link(pid, n) for n in NS_TYPES if n not in ("time",)}
    t.start(b.id)
    after = {n: ns_link(pid, n) for n in before}
    t.expect(before == after, f"namespaces changed on start: {before} -> {after}")
