"""runtime.md: the state document and the `state` operation; the pid file
(runc's command line reports the state's `pid` through --pid-file)."""

import os
import re
from pathlib import Path

from ..bundle import ns_link, pid_alive
from ..registry import case
from .common import stopped

SEMVER = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
STATUSES = ("creating", "created", "running", "stopped")


def check_types(t, st, where):
    for key in ("ociVersion", "id", "status", "bundle"):
        t.expect(isinstance(st.get(key), str) and st.get(key),
                 f"{where}: `{key}` missing or not a non-empty string: {st.get(key)!r}")
    if "pid" in st:
        t.expect(isinstance(st["pid"], int) and not isinstance(st["pid"], bool),
                 f"{where}: `pid` is not an int: {st['pid']!r}")
    if "annotations" in st:
        t.expect(isinstance(st["annotations"], dict), f"{where}: `annotations` is not a map")


@case("state.created-fields", "runtime.md#state")
def _(t):
    "The state of a created container has ociVersion, id, status, pid and bundle."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    st = t.state(b.id)
    check_types(t, st, "created")
    t.expect(st["id"] == b.id, f"id is {st['id']!r}")
    t.expect(st["status"] == "created", f"status is {st['status']!r}")
    t.expect(st.get("pid") == pid, f"pid is {st.get('pid')!r}, the container process is {pid}")
    t.expect(st["bundle"] == b.path, f"bundle is {st['bundle']!r}, expected {b.path!r}")


@case("state.running-fields", "runtime.md#state")
def _(t):
    "The state of a running container has status `running` and the same pid."
    b = t.bundle()
    pid = t.running(b)
    st = t.state(b.id)
    check_types(t, st, "running")
    t.expect(st["status"] == "running" and st.get("pid") == pid, f"state is {st}")


@case("state.stopped-fields", "runtime.md#state")
def _(t):
    "The state of a stopped container has ociVersion, id, status `stopped` and bundle."
    b = t.bundle()
    stopped(t, b)
    st = t.state(b.id)
    check_types(t, st, "stopped")
    t.expect(st["id"] == b.id and st["bundle"] == b.path, f"state is {st}")


@case("state.pid-is-host-pid", "runtime.md#state")
def _(t):
    "`pid` is the container process as seen by the host (pid 1 in its PID namespace)."
    b = t.bundle()
    t.created(b, ["sleep", "300"])
    pid = t.state(b.id)["pid"]
    t.expect(pid_alive(pid), f"no live host process {pid}")
    t.expect(ns_link(pid, "pid") != t.host.host_ns["pid"],
             f"process {pid} is not in the container's PID namespace")
    nspid = [ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
             if ln.startswith("NSpid:")]
    t.expect(nspid and nspid[0].split()[-1] == "1", f"process {pid}: {nspid}")


@case("state.bundle-absolute", "runtime.md#state")
def _(t):
    "`bundle` is the absolute path even when create got a relative one."
    b = t.bundle()
    parent, name = os.path.split(b.path)
    t.created(b, ["sleep", "300"], bundle_arg=name, cwd=parent)
    st = t.state(b.id)
    t.expect(st.get("bundle") == b.path, f"bundle is {st.get('bundle')!r}, expected {b.path!r}")


@case("state.ociversion-semver", "runtime.md#state")
def _(t):
    "`ociVersion` is a SemVer version string."
    b = t.bundle()
    t.created(b, ["sleep", "300"])
    v = t.state(b.id).get("ociVersion")
    t.expect(isinstance(v, str) and SEMVER.match(v), f"ociVersion is {v!r}")


@case("state.status-values", "runtime.md#state")
def _(t):
    "`status` takes the values the spec defines at each step (created, running, stopped)."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    seen = [t.status(b.id)]
    t.start(b.id)
    seen.append(t.status(b.id))
    t.kill(b.id, "KILL")
    t.wait_exit(pid)
    t.wait_status(b.id, "stopped", timeout=5)
    seen.append(t.status(b.id))
    t.expect(seen == ["created", "running", "stopped"], f"statuses were {seen}")


@case("state.nonexistent-error", "runtime.md#query-state")
def _(t):
    "`state` of a container that does not exist MUST fail."
    t.expect_error(t.call("state", "ocic-no-such-container"), "state of a missing container")


@case("state.without-id-error", "runtime.md#query-state")
def _(t):
    "`state` without a container ID MUST fail."
    t.expect_error(t.call("state"), "state without an id")


@case("state.unique-per-container", "runtime.md#state")
def _(t):
    "Two containers have distinct ids and pids in their states."
    b1, b2 = t.bundle(), t.bundle()
    p1 = t.created(b1, ["sleep", "300"])
    p2 = t.created(b2, ["sleep", "300"])
    s1, s2 = t.state(b1.id), t.state(b2.id)
    t.expect(s1["id"] == b1.id and s2["id"] == b2.id, f"ids {s1['id']!r} {s2['id']!r}")
    t.expect(p1 != p2 and s1.get("pid") == p1 and s2.get("pid") == p2,
             f"pids {s1.get('pid')} {s2.get('pid')}")


# -- pid file -----------------------------------------------------------------

@case("pidfile.created", "runtime.md#state")
def _(t):
    "`create --pid-file` writes the state's pid (the host pid of the container process)."
    b = t.bundle(["sleep", "300"])
    t.create(b)
    t.expect(os.path.exists(b.pid_file), "no pid file")
    text = Path(b.pid_file).read_text()
    t.expect(text.strip().isdigit(), f"pid file holds {text!r}")
    st = t.state(b.id)
    t.expect(int(text) == st.get("pid"), f"pid file {text!r}, state pid {st.get('pid')}")


@case("pidfile.is-the-user-process", "runtime.md#state")
def _(t):
    "The pid written at create is the process that runs process.args after start."
    b = t.bundle(["sleep", "300"])
    t.create(b)
    pid = int(Path(b.pid_file).read_text())
    t.start(b.id)
    cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    t.expect(cmd[:2] == [b"sleep", b"300"], f"process {pid} runs {cmd}")


@case("pidfile.not-written-on-error", "runtime.md#errors")
def _(t):
    "A failed create writes no pid file."
    b = t.bundle(["true"])
    b.add_mount("/mnt/a", t.dir / "missing", options=["rbind"])
    t.expect_error(t.create(b, check=False), "create with a missing mount source")
    t.expect(not os.path.exists(b.pid_file), "pid file written")
