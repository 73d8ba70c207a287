"""Drives a runtime binary through the cases.

Every runtime gets a private ``--root`` per case; every call has a timeout;
the runtime's stdout/stderr go to files, never pipes (a created container
inherits the runtime's stdio and would keep a pipe open).  After each case
the context force-deletes what is left, and reports as a failure anything
the case leaves behind: state entries, cgroups, processes, mounts, changes
to the shared rootfs.
"""

from __future__ import annotations

import array
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from . import bundle as B

DEFAULT_TIMEOUT = 10.0
RESULT_KINDS = ("pass", "fail", "xfail", "xpass", "skip")


class CaseFailure(Exception):
    pass


class CaseSkip(Exception):
    pass


@dataclass
class CallResult:
    argv: list
    rc: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self):
        return self.rc == 0

    def brief(self):
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return f"exit {self.rc}" + (f": {text[-1][:300]}" if text else "")


@dataclass
class Result:
    case: str
    runtime: str
    status: str
    reason: str = ""
    detail: str = ""
    duration: float = 0.0


class Runtime:
    """A runtime binary; name is the basename (the key for deviations)."""

    def __init__(self, path):
        resolved = shutil.which(path) if os.sep not in path else path
        if not resolved or not os.access(resolved, os.X_OK):
            raise ValueError(f"runtime {path!r} not found or not executable")
        self.path = os.path.abspath(resolved)
        self.name = os.path.basename(path.rstrip("/"))
        self.version = ""
        try:
            cp = subprocess.run([self.path, "--version"], capture_output=True, text=True, timeout=10)
            self.version = (cp.stdout.strip().splitlines() or [""])[0]
        except (OSError, subprocess.TimeoutExpired):
            pass

    def __repr__(self):
        return f"Runtime({self.name!r})"


class Run:
    """State shared by all cases of one invocation: host facts, the rootfs,
    the checker, the run directory, unique counters."""

    def __init__(self, workdir=None, jobs=1, timeout=DEFAULT_TIMEOUT, keep=False):
        self.jobs = jobs
        self.timeout = timeout
        self.keep = keep
        self._lock = threading.Lock()
        self._counter = 0
        self.dir = Path(tempfile.mkdtemp(prefix="ocic-", dir=workdir or "/tmp"))
        os.chmod(self.dir, 0o755)
        self.host = B.Host.detect()
        self.checker = B.build_checker()
        (self.dir / "bin").mkdir()
        self.hook_bin = self.dir / "bin" / "ocic-hook"
        shutil.copy2(self.checker, self.hook_bin)
        self.rootfs = B.build_rootfs(self.dir / "rootfs", self.checker)
        self.rootfs_snapshot = B.rootfs_snapshot(self.rootfs)
        self.host_mounts_before = B.mount_keys()
        (self.dir / "s").mkdir()

    def next(self):
        with self._lock:
            self._counter += 1
            return self._counter

    def finish(self):
        """Remove the cgroup parents and the run directory; returns run-wide
        problems (mounts left on the host)."""
        problems = []
        B.remove_cgroup_parent(self.host)
        new = {m for m in B.mount_keys() - self.host_mounts_before
               if B.leak_relevant(m, str(self.dir))}
        if new:
            problems.append("mounts left on the host after the run: "
                            + ", ".join(sorted(m[0] for m in new))[:2000])
        prefix = str(self.dir) + "/"
        for m in sorted((m for m in B.read_mountinfo() if m["mountpoint"].startswith(prefix)),
                        key=lambda m: -len(m["mountpoint"])):
            subprocess.run(["umount", "-l", m["mountpoint"]], capture_output=True, timeout=10)
        if not self.keep:
            if any(m["mountpoint"].startswith(prefix) for m in B.read_mountinfo()):
                problems.append(f"mounts remain under {self.dir}; not removing it")
            else:
                shutil.rmtree(self.dir, ignore_errors=True)
        return problems


class ConsoleSocket:
    """The receiving end of ``--console-socket``: accepts one connection,
    takes the pty master sent with SCM_RIGHTS and collects its output."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)
        self.sock.settimeout(timeout)
        self.master = None
        self.output = b""
        self.error = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        try:
            conn, _ = self.sock.accept()
            with conn:
                fds = array.array("i")
                msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(16 * fds.itemsize))
                for level, typ, data in anc:
                    if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                        fds.frombytes(data[:len(data) - (len(data) % fds.itemsize)])
                if not fds:
                    self.error = "no file descriptor received on the console socket"
                    return
                self.master = fds[0]
                for extra in fds[1:]:
                    os.close(extra)
            while True:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break  # EIO once the last slave fd closed
                if not chunk:
                    break
                self.output += chunk
        except (OSError, socket.timeout) as e:
            self.error = f"console socket: {e}"

    def wait(self, timeout=DEFAULT_TIMEOUT):
        self._thread.join(timeout)
        return self.output.decode(errors="replace")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        if self.master is not None:
            try:
                os.close(self.master)
            except OSError:
                pass
            self.master = None


class CaseContext:
    """What a case function gets: bundle factory, runtime calls, checks,
    and the bookkeeping that lets the cleanup find everything."""

    def __init__(self, run, case, runtime):
        self.run = run
        self.host = run.host
        self.case = case
        self.runtime = runtime
        self.n = run.next()
        self.dir = run.dir / runtime.name / f"{self.n:04d}-{case.id}"
        self.dir.mkdir(parents=True)
        self.root = self.dir / "root"
        self.bundles = []
        self.helpers = []
        self.known_pids = {}
        self.suite_cgroups = set()  # cgroups the case itself created
        self.sockets = []
        self.calls = []
        self._mounts_before = self._mounts()

    # -- verdicts -----------------------------------------------------------

    def fail(self, msg):
        raise CaseFailure(msg)

    def skip(self, msg):
        raise CaseSkip(msg)

    def expect(self, cond, msg):
        if not cond:
            raise CaseFailure(msg)

    def expect_error(self, res, what):
        """An operation that the spec says MUST generate an error."""
        if res.ok:
            raise CaseFailure(f"{what}: exited 0, expected an error")

    def expect_ok(self, res, what):
        if not res.ok:
            raise CaseFailure(f"{what} failed: {res.brief()}")

    # -- runtime calls ------------------------------------------------------

    def command(self, *args):
        return [self.runtime.path, "--root", str(self.root), *map(str, args)]

    def call(self, *args, timeout=None, cwd=None, stdout=None, stderr=None, input=None,
             wrap=None, pass_fds=(), umask=-1, preexec_fn=None, env=None):
        """Run the runtime with a private --root; stdout/stderr are files
        (given paths, or temporary ones)."""
        timeout = timeout or self.run.timeout
        argv = list(wrap or []) + self.command(*args)
        out_f = open(stdout, "w+") if stdout else tempfile.TemporaryFile("w+")
        err_f = open(stderr, "w+") if stderr else tempfile.TemporaryFile("w+")
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                stdout=out_f, stderr=err_f, text=True, cwd=cwd, pass_fds=pass_fds,
                umask=umask, preexec_fn=preexec_fn, env=env, start_new_session=False)
            try:
                proc.communicate(input=input, timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                out_f.seek(0)
                err_f.seek(0)
                raise CaseFailure(f"`{' '.join(map(str, args))}` did not return within "
                                  f"{timeout:g}s; stderr: {err_f.read()[-300:]!r}") from None
            out_f.seek(0)
            err_f.seek(0)
            res = CallResult(argv, proc.returncode, out_f.read(), err_f.read(),
                             time.monotonic() - t0)
        finally:
            out_f.close()
            err_f.close()
        self.calls.append((args, res.rc))
        return res

    def create(self, b, *extra, pid_file=True, cwd=None, wrap=None, console=None,
               check=True, bundle_arg=None, timeout=None, **kw):
        args = ["create", "--bundle", bundle_arg if bundle_arg is not None else b.path]
        if pid_file:
            args += ["--pid-file", b.pid_file if pid_file is True else pid_file]
        if console is not None:
            args += ["--console-socket", console.path]
        args += [*extra, b.id]
        res = self.call(*args, cwd=cwd, wrap=wrap, stdout=b.out, stderr=b.err,
                        timeout=timeout, **kw)
        if res.ok:
            pid = self.read_pid_file(b)
            if pid:
                self.remember_pid(pid)
        elif check:
            raise CaseFailure(f"create failed: {res.brief()}")
        return res

    def start(self, cid, check=True, timeout=None):
        res = self.call("start", cid, timeout=timeout)
        if check and not res.ok:
            raise CaseFailure(f"start failed: {res.brief()}")
        return res

    def kill(self, cid, sig="KILL", check=True):
        res = self.call("kill", cid, sig)
        if check and not res.ok:
            raise CaseFailure(f"kill {sig} failed: {res.brief()}")
        return res

    def delete(self, cid, force=False, check=True, timeout=None):
        res = self.call("delete", *(["--force"] if force else []), cid, timeout=timeout)
        if check and not res.ok:
            raise CaseFailure(f"delete{' --force' if force else ''} failed: {res.brief()}")
        return res

    def state(self, cid, check=True):
        """The parsed state document (None with check=False on an error)."""
        res = self.call("state", cid)
        if not res.ok:
            if check:
                raise CaseFailure(f"state failed: {res.brief()}")
            return None
        try:
            st = json.loads(res.stdout)
        except ValueError as e:
            raise CaseFailure(f"state output is not JSON ({e}): {res.stdout[:200]!r}") from None
        if not isinstance(st, dict):
            raise CaseFailure(f"state output is not a JSON object: {res.stdout[:200]!r}")
        if isinstance(st.get("pid"), int) and st["pid"] > 0:
            self.remember_pid(st["pid"])
        return st

    def status(self, cid):
        st = self.state(cid, check=False)
        return st.get("status") if st else None

    def wait_status(self, cid, status, timeout=DEFAULT_TIMEOUT):
        last = {}

        def probe():
            last["s"] = self.status(cid)
            return last["s"] == status
        if not B.wait_for(probe, timeout, interval=0.02):
            raise CaseFailure(f"container did not become {status!r} (last status {last.get('s')!r})")

    def read_pid_file(self, b):
        try:
            return int(Path(b.pid_file).read_text().strip())
        except (OSError, ValueError):
            return None

    def remember_pid(self, pid):
        if pid not in self.known_pids:
            start = B.pid_starttime(pid)
            if start is not None:
                self.known_pids[pid] = start

    def container_pid(self, b):
        pid = self.read_pid_file(b)
        if pid is None:
            st = self.state(b.id)
            pid = st.get("pid")
        if not isinstance(pid, int) or pid <= 0:
            raise CaseFailure("cannot find the container's pid (pid file and state)")
        self.remember_pid(pid)
        return pid

    def wait_exit(self, pid, timeout=DEFAULT_TIMEOUT):
        if not B.wait_for(lambda: not B.pid_alive(pid), timeout):
            raise CaseFailure(f"the container process {pid} did not exit within {timeout:g}s")

    # -- bundles ------------------------------------------------------------

    def bundle(self, args=None, *, copy_rootfs=False, **overrides):
        """A new bundle: the default config with a unique id and cgroupsPath,
        process.args, and overrides deep-merged (None removes a key).  The
        rootfs is a private tree of hard links into the run's rootfs; with
        copy_rootfs=True, or when root.readonly is false, its files are
        copies the container may change."""
        k = len(self.bundles) + 1
        bdir = self.dir / f"b{k}"
        bdir.mkdir()
        config = B.default_config()
        if args is not None:
            config["process"]["args"] = [str(a) for a in args]
        cgroups_path = f"/{B.CGROUP_PARENT}/{self.runtime.name}-{os.getpid()}-{self.n}-{k}"
        config["linux"]["cgroupsPath"] = cgroups_path
        B.deep_merge(config, overrides)
        if not config.get("root", {}).get("readonly", False):
            copy_rootfs = True
        B.link_tree(self.run.rootfs, bdir / "rootfs", copy_files=copy_rootfs)
        b = B.Bundle(bdir, f"ocic{os.getpid()}-{self.n}-{k}", config, cgroups_path)
        self.bundles.append(b)
        return b.write()

    def short_path(self, name):
        """A short path for unix sockets (sun_path is 108 bytes)."""
        return self.run.dir / "s" / f"{self.n}-{name}"

    def console_socket(self):
        cs = ConsoleSocket(self.short_path(f"c{len(self.sockets)}.sock"), self.run.timeout)
        self.sockets.append(cs)
        return cs

    # -- running containers ---------------------------------------------------

    def run_container(self, b, *, wrap=None, timeout=DEFAULT_TIMEOUT, console=None, delete=True):
        """create, start, wait for the process to exit, delete.  Returns the
        container's stdout."""
        self.create(b, wrap=wrap, console=console)
        pid = self.container_pid(b)
        self.start(b.id)
        self.wait_exit(pid, timeout)
        if delete and not self.delete(b.id, check=False).ok:
            # the runtime may not have noticed the exit yet
            self.wait_status(b.id, "stopped", timeout=5)
            self.delete(b.id)
        return b.output()

    def check(self, b, *checks, wrap=None, console=None, timeout=DEFAULT_TIMEOUT):
        """Run the in-container checker with the given checks; any FAIL line
        fails the case."""
        b.process["args"] = [B.IN_CONTAINER_CHECKER, *checks]
        b.write()
        out = self.run_container(b, wrap=wrap, console=console, timeout=timeout)
        if console is not None:
            out += console.wait(timeout)
        return self.verdict(out.replace("\r", ""), b)

    def verdict(self, out, b=None):
        lines = out.splitlines()
        fails = [ln[5:] for ln in lines if ln.startswith("FAIL ")]
        if fails:
            raise CaseFailure("; ".join(fails)[:1500])
        if not any(ln.startswith("DONE ") for ln in lines):
            err = b.errors().strip() if b else ""
            raise CaseFailure("the checker did not run to the end"
                              + (f"; stderr: {err[-300:]!r}" if err else "")
                              + (f"; stdout: {out[-300:]!r}" if out else ""))
        return lines

    def sh(self, b, script, timeout=DEFAULT_TIMEOUT):
        """Run `sh -c script` in the container; returns its stdout."""
        b.process["args"] = ["sh", "-c", script]
        b.write()
        return self.run_container(b, timeout=timeout)

    def created(self, b, args=None, **kw):
        """create a container whose process (default: a long sleep) waits."""
        if args is not None:
            b.set_args(*args)
        self.create(b, **kw)
        return self.container_pid(b)

    def running(self, b, args=("sleep", "300"), **kw):
        pid = self.created(b, args, **kw)
        self.start(b.id)
        return pid

    # -- helpers --------------------------------------------------------------

    def spawn(self, argv, **kw):
        """A host helper process; killed by PID after the case."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kw)
        self.helpers.append(proc)
        return proc

    def private_mounts(self, prepare="", hold=False):
        """A wrap prefix that runs the runtime in a new mount namespace with
        private propagation, after the shell commands in prepare (there they
        may mount things without touching the host).  With hold=True a
        `sleep` keeps that namespace alive after the runtime exits (a slave
        mount needs its master to stay); it is killed after the case."""
        script = prepare + "\n" if prepare else ""
        if hold:
            k = len(list(self.dir.glob("holder-*.pid")))
            pidfile = self.dir / f"holder-{k}.pid"
            pidfile.touch()
            script += f"sleep 3600 </dev/null >/dev/null 2>&1 & echo $! > {pidfile}\n"
        return ["unshare", "--mount", "--propagation", "private", "sh", "-ec",
                script + 'exec "$@"', "ocic-wrap"]

    def _mounts(self):
        """Host mounts a leak of this case would show up as: under the case
        directory, or (when cases run one at a time) at the places a runtime
        mounting in the wrong namespace would hit."""
        if self.run.jobs == 1:
            return {m for m in B.mount_keys() if B.leak_relevant(m, str(self.run.dir))}
        return B.mount_keys(str(self.dir))

    def _processes_naming_case(self):
        """Live processes whose command line names this case's directory
        (hooks the runtime did not reap, stuck runtime calls): ours by
        construction."""
        me = str(self.dir) + "/"
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmd = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            except OSError:
                continue
            if any(me in a or a == str(self.dir) for a in cmd) and B.pid_alive(int(entry.name)):
                found.append((int(entry.name), cmd))
        return found

    def _kill_holders(self):
        for pidfile in self.dir.glob("holder-*.pid"):
            try:
                pid = int(pidfile.read_text())
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except (OSError, ValueError):
                continue
            if cmd[:2] == [b"sleep", b"3600"] and B.ns_link(pid, "mount") != self.host.host_ns["mount"]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def hook(self, b, name, rc=0, sleep=0, in_container=False, timeout=None, env=None, args=None,
             delay_ms=0):
        """A hook entry running the checker's hook mode, which appends a line
        to the bundle's hook log (host_dir/hooks.log, mounted at /mnt/log)
        after delay_ms, then sleeps `sleep` seconds and exits rc."""
        if in_container:
            path, log = B.IN_CONTAINER_CHECKER, "/mnt/log/hooks.log"
        else:
            path, log = str(self.run.hook_bin), str(b.host_dir / "hooks.log")
        entry = {"path": path,
                 "args": args or ["ocic-hook", "hook", log, name, str(rc), str(sleep), str(delay_ms)],
                 "env": env if env is not None else ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]}
        if timeout is not None:
            entry["timeout"] = timeout
        return entry

    def with_hook_log(self, b):
        """Mount the bundle's host_dir at /mnt/log so that in-container hooks
        and the process can log next to the host-side hooks."""
        if not any(m["destination"] == "/mnt/log" for m in b.config.get("mounts", [])):
            b.add_mount("/mnt/log", b.host_dir, options=["rbind", "rw"])
        os.chmod(b.host_dir, 0o777)
        return b

    def hook_log(self, b):
        """[{name, self, mnt, pid, ..., argv: [...], env: [...], stdin: str}]
        for hook lines, {name: TEXT} for other lines (e.g. MAIN)."""
        path = b.host_dir / "hooks.log"
        if not path.exists():
            return []
        entries = []
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("HOOK\t"):
                parts = line.split("\t")
                e = {"name": parts[1]}
                for p in parts[2:]:
                    k, _, v = p.partition("=")
                    e[k] = v
                e["argv"] = e.get("argv", "").split("\x1f")
                e["env"] = [x for x in e.get("env", "").split("\x1f") if x]
                entries.append(e)
            elif line.strip():
                entries.append({"name": line.strip()})
        return entries

    def hook_names(self, b):
        return [e["name"] for e in self.hook_log(b)]

    # -- cleanup --------------------------------------------------------------

    def state_entries(self):
        try:
            return sorted(os.listdir(self.root))
        except FileNotFoundError:
            return []

    def cleanup(self):
        """Force-delete what is left and return the leftovers found."""
        problems = []
        for proc in self.helpers:
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                problems.append(f"helper {proc.pid} did not die")
        for cid in self.state_entries():
            try:
                res = self.call("delete", "--force", cid, timeout=15)
            except CaseFailure as e:
                problems.append(str(e))
                continue
            if cid in self.state_entries():
                problems.append(f"`delete --force {cid}` left its state ({res.brief()})")
        for cs in self.sockets:
            cs.close()
        self._kill_holders()
        cgs = [b.cgroups_path for b in self.bundles]
        B.wait_for(lambda: not any(B.pid_alive(p) and B.pid_starttime(p) == s
                                   for p, s in self.known_pids.items()), timeout=3)
        for pid, start in sorted(self.known_pids.items()):
            if B.pid_alive(pid) and B.pid_starttime(pid) == start:
                problems.append(f"container process {pid} still alive after delete --force")
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        stray = set()
        for cg in cgs:
            stray |= B.cgroup_pids(self.host, cg)
        if stray:
            problems.append(f"processes left in the case's cgroups: {sorted(stray)}")
            for pid in stray:
                B.kill_pid_if_in_cgroups(pid, cgs)
            B.wait_for(lambda: not any(B.cgroup_pids(self.host, cg) for cg in cgs), timeout=5)
        for cg in cgs:
            dirs = self.host.cgroup_dirs(cg)
            if dirs and cg not in self.suite_cgroups:
                problems.append(f"cgroups left: {', '.join(str(d) for d in dirs)}")
            left = B.remove_cgroup(self.host, cg)
            if left:
                problems.append(f"could not remove cgroups: {left}")
        left = self._processes_naming_case()
        if left:
            problems.append("processes left running: " + ", ".join(
                f"{pid} ({' '.join(cmd)[:80]})" for pid, cmd in left))
            for pid, _cmd in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.state_entries():
            problems.append(f"state left under --root: {self.state_entries()}")
        new = self._mounts() - self._mounts_before
        if new:
            problems.append("mounts left on the host: " + ", ".join(sorted(m[0] for m in new))[:500])
        if B.rootfs_snapshot(self.run.rootfs) != self.run.rootfs_snapshot:
            now = B.rootfs_snapshot(self.run.rootfs)
            changed = sorted(k for k in set(now) | set(self.run.rootfs_snapshot)
                             if now.get(k) != self.run.rootfs_snapshot.get(k))
            problems.append(f"the shared rootfs was modified: {changed[:10]}")
            self.run.rootfs_snapshot = now  # report it once
        return problems


def outcome(case, runtime_name, status, reason, problems):
    """Apply leftovers and deviations to a raw result: (status, reason, detail).
    Leftovers make any result a fail (a deviation does not excuse them); a
    deviating runtime's fail is an xfail, its pass an xpass, both with the
    deviation's reason (the observed failure stays in detail)."""
    detail = reason
    if problems:
        status = "fail"
        reason = (reason + "; " if reason else "") + "leftovers: " + "; ".join(problems)
        return status, reason, reason
    why = case.deviations.get(runtime_name)
    if why and status == "fail":
        return "xfail", why, detail
    if why and status == "pass":
        return "xpass", why, detail
    return status, reason, detail


def execute(run, case, runtime):
    """Run one case against one runtime; never raises."""
    t0 = time.monotonic()
    status, reason = "pass", ""
    t = None
    try:
        t = CaseContext(run, case, runtime)
        case.func(t)
    except CaseSkip as e:
        status, reason = "skip", str(e)
    except CaseFailure as e:
        status, reason = "fail", str(e)
    except Exception as e:  # a bug in the case or the suite: still a result
        tb = traceback.extract_tb(e.__traceback__)[-1]
        status, reason = "fail", f"suite error: {type(e).__name__}: {e} ({tb.filename}:{tb.lineno})"
    problems = []
    if t is not None:
        try:
            problems = t.cleanup()
        except Exception as e:
            problems = [f"cleanup error: {type(e).__name__}: {e}"]
    status, reason, detail = outcome(case, runtime.name, status, reason, problems)
    return Result(case.id, runtime.name, status, " ".join(reason.split()), detail,
                  round(time.monotonic() - t0, 3))


def run_all(run, cases, runtimes, progress=None):
    """Every case against every runtime (run.jobs at a time).  Returns
    {(case_id, runtime_name): Result} and the wall time per runtime."""
    tasks = [(c, rt) for c in cases for rt in runtimes]
    results = {}
    times = {rt.name: 0.0 for rt in runtimes}

    def work(task):
        c, rt = task
        r = execute(run, c, rt)
        if progress:
            progress(r)
        return r

    if run.jobs <= 1:
        for task in tasks:
            r = work(task)
            results[(r.case, r.runtime)] = r
            times[r.runtime] += r.duration
    else:
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(max_workers=run.jobs) as pool:
            for r in pool.map(work, tasks):
                results[(r.case, r.runtime)] = r
                times[r.runtime] += r.duration
    return results, times
