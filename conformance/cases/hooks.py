"""config.md (POSIX-platform Hooks) and runtime.md#lifecycle: when each hook
kind runs, in which namespace, what it gets on stdin, and what a failing or
hanging hook does to the operation.

Every hook runs the checker's hook mode, which appends one line to the
bundle's hook log; the user process appends `MAIN` to the same log (the log
directory is bind-mounted at /mnt/log), so the log is the order of events.
"""

import json
import time

from ..bundle import ns_link, pid_alive, wait_for
from ..registry import case
from .common import CHECKER

MAIN = [CHECKER, "append=/mnt/log/hooks.log:MAIN", "sleep=300"]
STAGES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
IN_CONTAINER = ("startContainer",)  # path resolves in the container namespace
CONTAINER_NS = ("createContainer", "startContainer")  # executed in the container namespace
RUNTIME_NS = ("prestart", "createRuntime", "poststart", "poststop")
SECTION = {"prestart": "config.md#prestart", "createRuntime": "config.md#createruntime-hooks",
           "createContainer": "config.md#createcontainer-hooks",
           "startContainer": "config.md#startcontainer-hooks",
           "poststart": "config.md#poststart", "poststop": "config.md#poststop"}

POSTSTART_IN_CREATE = ("runc 1.1.5 runs poststart hooks at the end of `create` (status `created`), "
                       "not after the user process was started by `start`")


def hooked(t, args=MAIN, **stages):
    """A bundle with the hook log mounted and the given hooks
    (stage=[entry, ...]); entries may be names (str) or dicts."""
    b = t.with_hook_log(t.bundle(args))
    hooks = {}
    for stage, entries in stages.items():
        hooks[stage] = [t.hook(b, e, in_container=stage in IN_CONTAINER) if isinstance(e, str) else e
                        for e in entries]
    b.config["hooks"] = hooks
    return b.write()


def full_cycle(t, b):
    """create, start, kill, delete; returns the container's host pid."""
    t.create(b)
    pid = t.container_pid(b)
    t.start(b.id)
    wait_for(lambda: "MAIN" in t.hook_names(b), 5)
    t.kill(b.id, "KILL")
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)
    t.delete(b.id)
    return pid


def entry_of(t, b, name):
    for e in t.hook_log(b):
        if e["name"] == name:
            return e
    t.fail(f"hook {name} did not run (log: {t.hook_names(b)})")


# -- when --------------------------------------------------------------------

@case("hooks.create-stages-during-create", "runtime.md#lifecycle")
def _(t):
    "prestart, createRuntime and createContainer hooks run during `create`, in that order."
    b = hooked(t, prestart=["prestart"], createRuntime=["createRuntime"],
               createContainer=["createContainer"], startContainer=["startContainer"],
               poststart=["poststart"], poststop=["poststop"])
    t.create(b)
    names = t.hook_names(b)
    t.expect(names[:3] == ["prestart", "createRuntime", "createContainer"],
             f"hooks run by create: {names}")


@case("hooks.listed-order", "config.md#posix-platform-hooks")
def _(t):
    "Hooks of one kind are called in the listed order."
    b = hooked(t, createRuntime=["one", "two", "three"])
    t.create(b)
    names = t.hook_names(b)
    t.expect(names == ["one", "two", "three"], f"order was {names}")


@case("hooks.startcontainer-during-start", "config.md#startcontainer-hooks")
def _(t):
    "startContainer hooks run during `start`, before the user-specified program."
    b = hooked(t)
    # the hook logs 300ms late: a runtime that does not wait for it loses the race
    b.config["hooks"] = {"startContainer": [t.hook(b, "startContainer", in_container=True,
                                                   delay_ms=300)]}
    b.write()
    t.create(b)
    time.sleep(0.1)
    t.expect(t.hook_names(b) == [], f"run by create: {t.hook_names(b)}")
    t.start(b.id)
    wait_for(lambda: "MAIN" in t.hook_names(b), 5)
    names = t.hook_names(b)
    t.expect(names == ["startContainer", "MAIN"], f"order was {names}")


@case("hooks.poststart-during-start", "config.md#poststart",
      deviations={"runc": POSTSTART_IN_CREATE})
def _(t):
    "poststart hooks run after the user process started, before `start` returns."
    b = hooked(t, poststart=["poststart"])
    t.create(b)
    time.sleep(0.1)
    t.expect("poststart" not in t.hook_names(b), "poststart ran during create")
    t.start(b.id)
    t.expect("poststart" in t.hook_names(b), "poststart had not run when start returned")


@case("hooks.poststop-during-delete", "config.md#poststop")
def _(t):
    "poststop hooks run during `delete` (not when the process stops), before it returns."
    b = hooked(t, poststop=["poststop"])
    t.create(b)
    pid = t.container_pid(b)
    t.start(b.id)
    t.kill(b.id, "KILL")
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)
    time.sleep(0.1)
    t.expect("poststop" not in t.hook_names(b), "poststop ran before delete")
    t.delete(b.id)
    t.expect("poststop" in t.hook_names(b), "poststop had not run when delete returned")


@case("hooks.full-order", "runtime.md#lifecycle", deviations={"runc": POSTSTART_IN_CREATE})
def _(t):
    "Over a whole lifecycle all six kinds run once, in the lifecycle's order."
    b = hooked(t, prestart=["prestart"], createRuntime=["createRuntime"],
               createContainer=["createContainer"], startContainer=["startContainer"],
               poststart=["poststart"], poststop=["poststop"])
    # the startContainer hook logs 300ms late: a runtime that does not wait
    # for it before poststart loses the race every time
    b.config["hooks"]["startContainer"] = [t.hook(b, "startContainer", in_container=True,
                                                  delay_ms=300)]
    b.write()
    full_cycle(t, b)
    names = [n for n in t.hook_names(b) if n != "MAIN"]
    t.expect(names == list(STAGES), f"order was {names}")


# -- state on stdin, namespaces, pid -----------------------------------------

EXPECTED_STATUS = {"prestart": ("creating", "created"), "createRuntime": ("creating", "created"),
                   "createContainer": ("creating", "created"), "startContainer": ("created",),
                   "poststart": ("running",), "poststop": ("stopped",)}

for stage in STAGES:
    def _state(t, stage=stage):
        b = hooked(t, **{stage: [stage]})
        full_cycle(t, b)
        e = entry_of(t, b, stage)
        try:
            st = json.loads(e.get("stdin", ""))
        except ValueError:
            t.fail(f"stdin is not a JSON state: {e.get('stdin', '')[:200]!r}")
        for key in ("ociVersion", "id", "status", "bundle"):
            t.expect(isinstance(st.get(key), str), f"state on stdin lacks `{key}`: {st}")
        t.expect(st["id"] == b.id, f"id is {st['id']!r}")
        t.expect(st["bundle"] == b.path, f"bundle is {st['bundle']!r}")
        if stage != "poststop":
            t.expect(isinstance(st.get("pid"), int) and st["pid"] > 0, f"pid is {st.get('pid')!r}")
    _state.__doc__ = f"{stage} hooks get the container's state (id, bundle, pid) on stdin."
    case(f"hooks.{stage.lower()}-state-on-stdin", "config.md#posix-platform-hooks")(_state)

    def _status(t, stage=stage):
        b = hooked(t, **{stage: [stage]})
        full_cycle(t, b)
        e = entry_of(t, b, stage)
        try:
            status = json.loads(e.get("stdin", "")).get("status")
        except ValueError:
            t.fail("stdin is not JSON")
        t.expect(status in EXPECTED_STATUS[stage],
                 f"status on stdin is {status!r}, expected {' or '.join(EXPECTED_STATUS[stage])}")
    _status.__doc__ = (f"The state a {stage} hook gets has the status of that lifecycle step "
                       f"({' or '.join(EXPECTED_STATUS[stage])}).")
    case(f"hooks.{stage.lower()}-state-status", "runtime.md#state",
         deviations={"runc": POSTSTART_IN_CREATE} if stage == "poststart" else None)(_status)

    def _ns(t, stage=stage):
        b = hooked(t, **{stage: [stage]})
        t.create(b)
        pid = t.container_pid(b)
        container = {n: ns_link(pid, n) for n in ("mount", "network", "uts", "ipc", "pid")}
        t.start(b.id)
        wait_for(lambda: "MAIN" in t.hook_names(b), 5)
        t.kill(b.id, "KILL")
        t.wait_exit(pid)
        t.wait_status(b.id, "stopped", timeout=5)
        t.delete(b.id)
        e = entry_of(t, b, stage)
        keys = {"mount": "mnt", "network": "net", "uts": "uts", "ipc": "ipc", "pid": "pid"}
        if stage in CONTAINER_NS:
            want, where = container, "the container's"
        else:
            want, where = {n: t.host.host_ns[n] for n in keys}, "the runtime's"
        wrong = [f"{n}: {e.get(k)} (expected {want[n]})" for n, k in keys.items()
                 if e.get(k) != want[n]]
        t.expect(not wrong, f"not executed in {where} namespaces: {'; '.join(wrong)}")
    where = "container" if stage in CONTAINER_NS else "runtime"
    _ns.__doc__ = f"{stage} hooks are executed in the {where} namespace."
    case(f"hooks.{stage.lower()}-namespace", SECTION[stage])(_ns)


@case("hooks.pid-in-runtime-namespace", "runtime.md#state")
def _(t):
    "Hooks run in the runtime namespace (prestart, createRuntime, poststart) get the host pid."
    b = hooked(t, prestart=["prestart"], createRuntime=["createRuntime"], poststart=["poststart"])
    t.create(b)
    pid = t.container_pid(b)
    t.start(b.id)
    wait_for(lambda: "poststart" in t.hook_names(b), 5)
    got = {s: json.loads(entry_of(t, b, s)["stdin"]).get("pid")
           for s in ("prestart", "createRuntime", "poststart")}
    t.expect(all(v == pid for v in got.values()), f"pids {got}, host pid {pid}")


@case("hooks.pid-in-container-namespace", "runtime.md#state")
def _(t):
    "Hooks run in the container namespace (createContainer, startContainer) get the pid as seen there (1)."
    b = hooked(t, createContainer=["createContainer"], startContainer=["startContainer"])
    t.create(b)
    t.start(b.id)
    wait_for(lambda: "MAIN" in t.hook_names(b), 5)
    got = {s: json.loads(entry_of(t, b, s)["stdin"]).get("pid")
           for s in ("createContainer", "startContainer")}
    t.expect(all(v == 1 for v in got.values()),
             f"pids {got}; the container process is pid 1 in its PID namespace")


@case("hooks.args-and-env", "config.md#posix-platform-hooks")
def _(t):
    "A hook gets `args` as its argv (args[0] included) and exactly `env` as its environment."
    b = t.with_hook_log(t.bundle(MAIN))
    log = str(b.host_dir / "hooks.log")
    env = ["OCIC_ONE=1", "OCIC_TWO=a b=c"]
    b.config["hooks"] = {"createRuntime": [{
        "path": str(t.run.hook_bin), "args": ["my-argv0", "hook", log, "args", "0", "0"],
        "env": env}]}
    b.write()
    t.create(b)
    e = entry_of(t, b, "args")
    t.expect(e["argv"] == ["my-argv0", "hook", log, "args", "0", "0"], f"argv was {e['argv']}")
    t.expect(sorted(e["env"]) == sorted(env), f"environment was {e['env']}")


@case("hooks.path-resolves-in-container", "config.md#startcontainer-hooks")
def _(t):
    "A startContainer hook path is resolved in the container (it does not exist on the host)."
    b = hooked(t, startContainer=["inside"])
    t.create(b)
    t.start(b.id)
    t.expect(wait_for(lambda: "inside" in t.hook_names(b), 5), "the hook did not run")


# -- failures and timeouts ----------------------------------------------------

for stage in ("prestart", "createRuntime", "createContainer"):
    def _fail(t, stage=stage):
        b = t.with_hook_log(t.bundle(MAIN))
        b.config["hooks"] = {stage: [t.hook(b, "bad", rc=3), t.hook(b, "after")]}
        b.write()
        res = t.create(b, check=False)
        t.expect_error(res, f"create with a failing {stage} hook")
        t.expect(t.status(b.id) is None, "the container exists after the failed create")
        names = t.hook_names(b)
        t.expect("after" not in names, f"hooks after the failing one ran: {names}")
        t.expect("MAIN" not in names, "the user program ran")
    _fail.__doc__ = f"A failing {stage} hook makes `create` fail and the container is destroyed."
    case(f"hooks.{stage.lower()}-failure", "runtime.md#lifecycle")(_fail)


@case("hooks.failure-runs-poststop", "runtime.md#lifecycle")
def _(t):
    "After a failing createRuntime hook the lifecycle continues at destroy: poststop hooks run."
    b = t.with_hook_log(t.bundle(MAIN))
    b.config["hooks"] = {"createRuntime": [t.hook(b, "bad", rc=3)],
                         "poststop": [t.hook(b, "poststop")]}
    b.write()
    t.expect_error(t.create(b, check=False), "create with a failing createRuntime hook")
    t.expect("poststop" in t.hook_names(b), f"poststop did not run: {t.hook_names(b)}")


@case("hooks.startcontainer-failure", "runtime.md#lifecycle", deviations={
    "runc": "runc 1.1.5 `start` exits 0 when a startContainer hook fails: the error is "
            "reported by the container's init after `start` returned"})
def _(t):
    "A failing startContainer hook makes `start` fail; the user program does not run."
    b = t.with_hook_log(t.bundle(MAIN))
    b.config["hooks"] = {"startContainer": [t.hook(b, "bad", rc=3, in_container=True)]}
    b.write()
    t.create(b)
    pid = t.container_pid(b)
    res = t.start(b.id, check=False)
    time.sleep(0.2)
    t.expect("MAIN" not in t.hook_names(b), "the user program ran")
    t.expect_error(res, "start with a failing startContainer hook")
    t.wait_exit(pid, 5)
    t.expect(t.status(b.id) in (None, "stopped"), f"status is {t.status(b.id)!r}")


@case("hooks.poststart-failure-is-warning", "runtime.md#lifecycle", deviations={
    "runc": POSTSTART_IN_CREATE + "; there a failing poststart hook makes create fail"})
def _(t):
    "A failing poststart hook is only a warning: `start` succeeds, later hooks run, the container runs."
    b = t.with_hook_log(t.bundle(MAIN))
    b.config["hooks"] = {"poststart": [t.hook(b, "bad", rc=3), t.hook(b, "good")]}
    b.write()
    t.create(b)
    pid = t.container_pid(b)
    t.start(b.id)
    t.expect(t.hook_names(b).count("good") == 1, f"later hooks: {t.hook_names(b)}")
    t.expect(pid_alive(pid) and t.status(b.id) == "running", "the container is not running")


@case("hooks.poststop-failure-is-warning", "runtime.md#lifecycle", deviations={
    "runc": "runc 1.1.5 stops at the first failing poststop hook (delete still exits 0) and "
            "does not run the remaining ones"})
def _(t):
    "A failing poststop hook is only a warning: `delete` succeeds and the later hooks run."
    b = t.with_hook_log(t.bundle(["true"]))
    b.config["hooks"] = {"poststop": [t.hook(b, "bad", rc=3), t.hook(b, "good")]}
    b.write()
    t.run_container(b)
    t.expect(t.hook_names(b) == ["bad", "good"], f"poststop hooks run: {t.hook_names(b)}")
    t.expect(t.status(b.id) is None, "the container still exists")


@case("hooks.timeout-createruntime", "config.md#posix-platform-hooks")
def _(t):
    "A createRuntime hook that outlives its `timeout` is aborted and `create` fails."
    b = t.with_hook_log(t.bundle(MAIN))
    b.config["hooks"] = {"createRuntime": [t.hook(b, "slow", sleep=30, timeout=1)]}
    b.write()
    t0 = time.monotonic()
    res = t.create(b, check=False, timeout=20)
    took = time.monotonic() - t0
    t.expect(took < 10, f"create took {took:.1f}s with a 1s hook timeout")
    t.expect_error(res, "create with a timed-out hook")


@case("hooks.timeout-poststop", "config.md#posix-platform-hooks")
def _(t):
    "A poststop hook that outlives its `timeout` is aborted; `delete` still completes."
    b = t.with_hook_log(t.bundle(["true"]))
    b.config["hooks"] = {"poststop": [t.hook(b, "slow", sleep=30, timeout=1)]}
    b.write()
    pid = t.created(b)
    t.start(b.id)
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)
    t0 = time.monotonic()
    t.call("delete", b.id, timeout=20)
    took = time.monotonic() - t0
    t.expect(took < 10, f"delete took {took:.1f}s with a 1s hook timeout")
    t.expect(t.status(b.id) is None, "the container still exists")


@case("hooks.timeout-not-hit", "config.md#posix-platform-hooks")
def _(t):
    "A hook that finishes within its `timeout` runs normally."
    b = t.with_hook_log(t.bundle(MAIN))
    b.config["hooks"] = {"createRuntime": [t.hook(b, "quick", timeout=10)]}
    b.write()
    t.create(b)
    t.expect(t.hook_names(b) == ["quick"], f"hooks: {t.hook_names(b)}")
