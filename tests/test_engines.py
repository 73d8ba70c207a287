"""End to end: podman and a private containerd run their containers through each runtime
under test, configured as README.md's "Using ociruntime with engines" says (its snippets
are read from the README), the way ../shared/clients.sh drives them offline.

Every runtime call goes through a guard (``engine_wrapper``) that logs it and refuses a
bundle whose ``linux.cgroupsPath`` is not under this session's own cgroup parent, so no
engine can put a container under the caller's cgroup (``process_api``).  The module's
fixtures stop containerd by PID and remove every container, cgroup and mount they made.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import build_busybox_rootfs, cgroup_hierarchies, read_mountinfo, wait_for

ENGINE_TOOLS = ("podman", "containerd", "ctr")
pytestmark = [
    pytest.mark.root,
    pytest.mark.engines,
    pytest.mark.skipif(any(shutil.which(t) is None for t in ENGINE_TOOLS),
                       reason="needs podman and containerd (apt-get install -y podman containerd)"),
]

README = Path(__file__).resolve().parent.parent / "README.md"
README_BINARY = "/usr/local/bin/ociruntime"
IMAGE = "localhost/busybox:latest"
NAMESPACE = "ocitest"
CGROUP_TOP = "ociruntime-engines"
#: parent cgroups the engines create by default; removed at the end if the session made them
ENGINE_DEFAULT_PARENTS = ("libpod_parent", "default")
ENGINE_TIMEOUT = 60
#: this host cannot raise hard rlimits; podman's defaults for root are higher (../shared)
HOST_CONTAINERS_CONF = """[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"

"""


def readme_snippet(name: str) -> str:
    """The fenced block after ``<!-- engines:NAME -->`` in README.md."""
    match = re.search(rf"<!-- engines:{re.escape(name)} -->\n```\w*\n(.*?)```", README.read_text(), re.S)
    assert match, f"README.md has no snippet {name}"
    return match.group(1)


def run(argv: list, timeout: float = ENGINE_TIMEOUT, env: dict | None = None, check: bool = False,
        input_text: str | None = None) -> subprocess.CompletedProcess:
    """argv with stdout/stderr in files: a daemon (conmon, a shim) that inherits them must
    not keep the call from returning."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
                                stdout=out, stderr=err, text=True, env=env)
        try:
            proc.communicate(input_text, timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"{shlex.join(argv)} did not finish within {timeout}s") from None
        out.seek(0)
        err.seek(0)
        cp = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
    if check and cp.returncode != 0:
        raise AssertionError(f"{shlex.join(argv)} exited {cp.returncode}\n{cp.stdout}\n{cp.stderr}")
    return cp


def run_in_pty(argv: list, timeout: float = ENGINE_TIMEOUT) -> tuple[int, str]:
    """argv with a terminal as stdin/stdout/stderr (``ctr -t`` wants one); its output."""
    master, slave = os.openpty()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while select.select([master], [], [], max(0.0, deadline - time.monotonic()))[0]:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every writer closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        else:
            proc.kill()
        return proc.wait(timeout=timeout), b"".join(chunks).decode(errors="replace")
    finally:
        os.close(master)


def engine_wrapper(directory: Path, name: str, binary: str, cgroup_parent: str) -> Path:
    """``directory/name/name``: runs ``binary`` and logs each call (clients.sh's logwrap);
    ``create``/``run`` of a bundle whose cgroupsPath is not under ``cgroup_parent`` is
    refused before the runtime sees it.  The file name stays the runtime's: podman keys
    ``runtime_supports_json`` on it."""
    path = directory / name / name
    path.parent.mkdir(parents=True, exist_ok=True)
    log = directory / f"{name}.log"
    path.write_text(f"""#!/bin/bash
bundle=. cmd= prev=
for a in "$@"; do
  case $prev in --bundle|-b) bundle=$a ;; esac
  case $a in --bundle=*) bundle=${{a#--bundle=}} ;; esac
  if [ -z "$cmd" ]; then case $a in create|run) cmd=$a ;; esac; fi
  prev=$a
done
if [ -n "$cmd" ]; then
  cg=$(grep -oE '"cgroupsPath": ?"[^"]*"' "$bundle/config.json" | sed -E 's/.*"([^"]*)"$/\\1/')
  case $cg in {cgroup_parent}/*) ;; *)
    echo "engine guard: cgroupsPath '$cg' is not under {cgroup_parent}" >&2
    echo "REFUSED cgroupsPath=$cg ARGV: $*" >> {shlex.quote(str(log))}; exit 1 ;;
  esac
fi
{shlex.quote(binary)} "$@"; rc=$?
echo "rc=$rc ARGV: $*" >> {shlex.quote(str(log))}
exit $rc
""")
    path.chmod(0o755)
    return path


class Engines:
    """This session's directory, cgroup parent, runtime wrappers and busybox image."""

    def __init__(self, base: Path):
        self.base = base
        self.cgroup_parent = f"/{CGROUP_TOP}/{os.getpid()}"
        self.wrappers: dict[str, Path] = {}
        self.image_tar = base / "busybox-oci.tar"

    def wrapper(self, runtime) -> Path:
        if runtime.name not in self.wrappers:
            self.wrappers[runtime.name] = engine_wrapper(self.base / "wrap", runtime.name, runtime.path,
                                                         self.cgroup_parent)
        return self.wrappers[runtime.name]

    def calls(self, runtime) -> str:
        """Every runtime call the engines made so far (the wrapper's log)."""
        log = self.base / "wrap" / f"{runtime.name}.log"
        return log.read_text() if log.exists() else ""


def _cgroup_dirs_under(relative: str) -> list[Path]:
    return [hier / relative for hier, _ in cgroup_hierarchies() if (hier / relative).is_dir()]


def _remove_cgroup_tree(directory: Path) -> None:
    assert "process_api" not in str(directory)
    for sub, _dirs, _files in os.walk(directory, topdown=False):
        for _ in range(50):
            try:
                os.rmdir(sub)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.05)


def _set_child_subreaper(on: bool) -> None:
    """Daemons the engines start (conmon, containerd's shims) and their orphans are
    reparented to the nearest subreaper; this host's PID 1 never reaps them, so this module
    does, at its end."""
    import ctypes

    pr_set_child_subreaper = 36
    assert ctypes.CDLL(None, use_errno=True).prctl(pr_set_child_subreaper, int(on), 0, 0, 0) == 0


def _children() -> dict[int, tuple[str, str]]:
    """Our child processes: pid -> (state, command line)."""
    me, found = os.getpid(), {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == me:
            found[int(entry)] = (stat[0], cmdline)
    return found


def _reap_adopted(base: Path) -> list[str]:
    """Reaps the zombies this module adopted; describes any adopted process still alive
    (killed by PID when it belongs to this session: its command line names the session
    directory)."""
    left = []
    for pid, (state, cmdline) in _children().items():
        if state != "Z":
            left.append(f"{pid} {cmdline}")
            if str(base) in cmdline:
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(pid, os.WNOHANG if state != "Z" else 0)
        except ChildProcessError:
            pass
    return left


@pytest.fixture(scope="module")
def engines():
    base = Path(tempfile.mkdtemp(prefix="ocie-", dir="/tmp"))
    existing = {p for name in ENGINE_DEFAULT_PARENTS for p in _cgroup_dirs_under(name)}
    e = Engines(base)
    _set_child_subreaper(True)
    left = []
    try:
        yield e
    finally:
        try:
            wait_for(lambda: all(state == "Z" for state, _ in _children().values()), timeout=10,
                     what="the engines' daemons to exit")
        except AssertionError:
            pass  # those still alive are reported (and killed) below
        left = _reap_adopted(base)
        _set_child_subreaper(False)
        for d in _cgroup_dirs_under(e.cgroup_parent.lstrip("/")):
            _remove_cgroup_tree(d)
        for d in _cgroup_dirs_under(CGROUP_TOP):
            try:
                os.rmdir(d)
            except OSError:
                pass  # another session's parent is in it
        for name in ENGINE_DEFAULT_PARENTS:
            for d in set(_cgroup_dirs_under(name)) - existing:
                try:
                    os.rmdir(d)
                except OSError:
                    pass  # not empty: not only ours
        prefix = str(base) + "/"
        for m in sorted(read_mountinfo(), key=lambda m: -len(m["mountpoint"])):
            if m["mountpoint"].startswith(prefix):
                subprocess.run(["umount", "-l", m["mountpoint"]], capture_output=True, timeout=30)
        if os.environ.get("OCIRUNTIME_TEST_KEEP"):  # the runtime calls, for debugging
            shutil.copytree(base / "wrap", f"{base}-calls",
                            ignore=lambda _d, names: [n for n in names if not n.endswith(".log")])
        shutil.rmtree(base, ignore_errors=True)
    assert not left, f"processes left by the engines: {left}"


class Podman:
    """podman with a private storage root and the README's containers.conf."""

    def __init__(self, engines: Engines):
        self.engines = engines
        self.dir = engines.base / "podman"
        self.conf = self.dir / "containers.conf"
        self.runtime_args: list[str] = []

    def write_conf(self, binary: Path) -> None:
        snippet = readme_snippet("podman-containers.conf")
        assert README_BINARY in snippet
        self.dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(HOST_CONTAINERS_CONF + snippet.replace(README_BINARY, str(binary)))

    def command(self, *args) -> list[str]:
        return ["podman", "--root", str(self.dir / "root"), "--runroot", str(self.dir / "runroot"),
                "--tmpdir", str(self.dir / "tmp"), "--storage-driver", "overlay",
                "--cgroup-manager", "cgroupfs", "--events-backend", "file", *self.runtime_args,
                *map(str, args)]

    def __call__(self, *args, check: bool = False, timeout: float = ENGINE_TIMEOUT):
        env = dict(os.environ, CONTAINERS_CONF=str(self.conf))
        return run(self.command(*args), timeout=timeout, env=env, check=check)

    def using(self, runtime) -> "Podman":
        """ociruntime as the README configures it (the default runtime); any other runtime
        by its path, as ../shared/clients.sh does."""
        wrapper = self.engines.wrapper(runtime)
        self.runtime_args = [] if runtime.name == "ociruntime" else ["--runtime", str(wrapper)]
        return self

    def clean(self) -> None:
        self("pod", "rm", "--all", "--force", "--time", "0")
        self("rm", "--all", "--force", "--time", "0", check=True)


@pytest.fixture(scope="module")
def podman_session(engines):
    p = Podman(engines)
    p.write_conf(engines.base / "wrap" / "ociruntime" / "ociruntime")
    rootfs = build_busybox_rootfs(engines.base / "rootfs")
    tar = engines.base / "busybox-rootfs.tar"
    run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
    p("import", "--change", 'CMD ["/bin/sh"]', "--change",
      "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", tar, IMAGE, check=True)
    p("save", "--format", "oci-archive", "-o", engines.image_tar, IMAGE, check=True)
    try:
        yield p
    finally:
        p.runtime_args = []
        p.clean()


@pytest.fixture
def podman(podman_session, runtime, engines):
    p = podman_session.using(runtime)
    try:
        yield p
    finally:
        p.clean()
        _assert_no_processes_under(engines.cgroup_parent)


def _assert_no_processes_under(cgroup_parent: str) -> None:
    def empty() -> bool:
        return not any(Path(sub, "cgroup.procs").read_text().split()
                       for d in _cgroup_dirs_under(cgroup_parent.lstrip("/"))
                       for sub, _dirs, files in os.walk(d) if "cgroup.procs" in files)
    wait_for(empty, timeout=10, what=f"no process left under {cgroup_parent}")


class Containerd:
    """A private containerd (own config, root, state, socket) and ctr commands as the README
    gives them."""

    def __init__(self, engines: Engines):
        self.engines = engines
        self.dir = engines.base / "containerd"
        self.socket = self.dir / "containerd.sock"
        self.proc: subprocess.Popen | None = None
        self.binary = ""

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        config = self.dir / "config.toml"
        config.write_text(f"""version = 2
root = "{self.dir}/root"
state = "{self.dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[debug]
  address = "{self.dir}/debug.sock"
[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = "{self.dir}/opt"
""")
        with open(self.dir / "containerd.log", "w") as log:
            self.proc = subprocess.Popen(["containerd", "--config", str(config)], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        wait_for(lambda: self.socket.is_socket() and self("version").returncode == 0, timeout=30,
                 what="containerd to listen")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __call__(self, *args, check: bool = False, timeout: float = ENGINE_TIMEOUT):
        return run(["ctr", "-a", str(self.socket), "-n", NAMESPACE, *map(str, args)], timeout=timeout,
                   check=check)

    def using(self, runtime) -> "Containerd":
        self.binary = str(self.engines.wrapper(runtime))
        return self

    def run_command(self, container_id: str, *args, detach: bool = False) -> list[str]:
        """README's ``ctr run --rm --runc-binary BIN``, with this containerd's socket and
        namespace, a runtime root of its own (not /run/containerd/runc) and a cgroup under
        the session's parent; ``detach`` runs with -d instead of --rm."""
        words = shlex.split(readme_snippet("ctr-run"))
        words = words[:words.index(README_BINARY) + 1]
        assert words[:2] == ["ctr", "run"]
        words[words.index(README_BINARY)] = self.binary
        if detach:
            words[words.index("--rm")] = "-d"
        return [words[0], "-a", str(self.socket), "-n", NAMESPACE, *words[1:],
                "--runc-root", str(self.dir / "runc-root"),
                "--cgroup", f"{self.engines.cgroup_parent}/ctr-{container_id}",
                IMAGE, container_id, *args]

    def run(self, container_id: str, *args, detach: bool = False, check: bool = False):
        return run(self.run_command(container_id, *args, detach=detach), check=check)

    def task_pid(self, container_id: str) -> int:
        for line in self("task", "ls", check=True).stdout.splitlines()[1:]:
            task, pid, _status = line.split()
            if task == container_id:
                return int(pid)
        raise AssertionError(f"no task {container_id}")

    def task_status(self, container_id: str) -> str:
        for line in self("task", "ls", check=True).stdout.splitlines()[1:]:
            task, _pid, status = line.split()
            if task == container_id:
                return status
        return "GONE"

    def task_ps(self, container_id: str) -> list[int]:
        """``ctr task ps``: the runtime's ``ps --format json``, as a table."""
        header, *lines = self("task", "ps", container_id, check=True).stdout.splitlines()
        assert header.split() == ["PID", "INFO"]
        return [int(line.split()[0]) for line in lines]

    def clean(self) -> None:
        for line in self("task", "ls", "-q").stdout.split():
            self("task", "rm", "-f", line)
        for line in self("container", "ls", "-q").stdout.split():
            self("container", "rm", line)


@pytest.fixture(scope="module")
def containerd_session(engines, podman_session):
    c = Containerd(engines)
    try:
        c.start()
        c("image", "import", engines.image_tar, check=True)
        yield c
    finally:
        if c.proc is not None and c.proc.poll() is None:
            c.clean()
        c.stop()


@pytest.fixture
def ctr(containerd_session, runtime, engines):
    c = containerd_session.using(runtime)
    try:
        yield c
    finally:
        c.clean()
        _assert_no_processes_under(engines.cgroup_parent)


def cgroup_file(pid: int, controller: str, name: str) -> str:
    """A cgroup v1 file of the cgroup ``pid`` is in, checked to be under this session's."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _n, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            assert path.startswith(f"/{CGROUP_TOP}/"), path
            return Path("/sys/fs/cgroup", controller, path.lstrip("/"), name).read_text().strip()
    raise AssertionError(f"{pid} has no {controller} cgroup")


def namespaces(pid: int) -> dict[str, str]:
    return {n: os.readlink(f"/proc/{pid}/ns/{n}") for n in ("net", "ipc", "uts", "pid", "mnt")}


# ------------------------------------------------------------------------------------------
# the README's instructions
# ------------------------------------------------------------------------------------------

def test_readme_containerd_cri_config_is_accepted(engines, tmp_path):
    """containerd merges the README's CRI runtime (no CRI server needed to check that)."""
    snippet = readme_snippet("containerd-config.toml")
    config = tmp_path / "config.toml"
    config.write_text(snippet.replace("version = 2\n", f'version = 2\nroot = "{tmp_path}/root"\n'
                                                      f'state = "{tmp_path}/state"\n', 1))
    dump = run(["containerd", "--config", str(config), "config", "dump"], check=True).stdout
    block = dump.split('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.ociruntime.options]', 1)
    assert len(block) == 2, dump
    assert f'BinaryName = "{README_BINARY}"' in block[1].split("[", 1)[0]
    assert 'runtime_type = "io.containerd.runc.v2"' in block[0].rsplit("runtimes.ociruntime]", 1)[1]


# ------------------------------------------------------------------------------------------
# podman
# ------------------------------------------------------------------------------------------

def detached(podman, name: str, *args, options=()) -> int:
    podman("run", "-d", "--name", name, "--cgroup-parent", f"{podman.engines.cgroup_parent}/podman",
           *options, IMAGE, *args, check=True)
    return int(podman("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout)


def podman_run(podman, *args, options=()):
    return podman("run", "--rm", "--cgroup-parent", f"{podman.engines.cgroup_parent}/podman",
                  *options, IMAGE, *args)


def test_podman_run_rm_echo(podman, runtime, engines):
    cp = podman_run(podman, "echo", "hi")
    assert (cp.returncode, cp.stdout) == (0, "hi\n"), cp.stderr
    assert re.search(r"rc=0 ARGV: .*create --bundle", engines.calls(runtime))


def test_podman_exit_code(podman):
    cp = podman_run(podman, "sh", "-c", "exit 3")
    assert cp.returncode == 3, cp.stderr


def test_podman_missing_command(podman):
    cp = podman_run(podman, "nosuchcommand")
    assert cp.returncode == 127, cp.stderr
    assert "executable file not found in $PATH" in cp.stderr
    assert "OCI runtime attempted to invoke a command that was not found" in cp.stderr


def test_podman_exec_in_detached_container(podman):
    detached(podman, "ex", "sleep", "1000")
    cp = podman("exec", "ex", "sh", "-c", "echo $((1 + 2)); exit 5")
    assert (cp.returncode, cp.stdout) == (5, "3\n"), cp.stderr
    cp = podman("exec", "-t", "ex", "sh", "-c", "tty; test -t 0 && echo terminal")
    assert (cp.returncode, cp.stdout.replace("\r\n", "\n")) == (0, "/dev/pts/0\nterminal\n"), cp.stderr


def test_podman_stop_sends_term(podman):
    detached(podman, "st", "sh", "-c", "trap 'exit 7' TERM; while :; do sleep 0.1; done")
    podman("stop", "--time", "20", "st", check=True)
    state = podman("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "st", check=True)
    assert state.stdout.split() == ["exited", "7"]


def test_podman_kill(podman):
    detached(podman, "kl", "sleep", "1000")
    podman("kill", "--signal", "KILL", "kl", check=True)
    assert podman("wait", "kl", check=True).stdout.strip() == "137"


def test_podman_pause_unpause(podman):
    pid = detached(podman, "pz", "sleep", "1000")
    podman("pause", "pz", check=True)
    assert podman("inspect", "--format", "{{.State.Status}}", "pz").stdout.strip() == "paused"
    assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN"
    podman("unpause", "pz", check=True)
    assert podman("inspect", "--format", "{{.State.Status}}", "pz").stdout.strip() == "running"
    assert cgroup_file(pid, "freezer", "freezer.state") == "THAWED"


def test_podman_memory_and_pids_limits(podman):
    pid = detached(podman, "lm", "sleep", "1000", options=("-m", "64m", "--pids-limit", "42"))
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(64 << 20)
    assert cgroup_file(pid, "pids", "pids.max") == "42"


def test_podman_update(podman):
    pid = detached(podman, "up", "sleep", "1000", options=("-m", "64m"))
    podman("update", "--memory", "96m", "--cpu-shares", "512", "up", check=True)
    assert cgroup_file(pid, "memory", "memory.limit_in_bytes") == str(96 << 20)
    assert cgroup_file(pid, "cpu", "cpu.shares") == "512"


def test_podman_read_only(podman):
    cp = podman_run(podman, "sh", "-c", "touch /tmp/ok && touch /etc/nope", options=("--read-only",))
    assert cp.returncode == 1 and "Read-only file system" in cp.stdout + cp.stderr


def test_podman_user(podman):
    cp = podman_run(podman, "sh", "-c", "id -u; id -g", options=("--user", "1000:100"))
    assert (cp.returncode, cp.stdout) == (0, "1000\n100\n"), cp.stderr


def test_podman_explicit_uidmap(podman):
    cp = podman_run(podman, "cat", "/proc/self/uid_map", "/proc/self/gid_map",
                    options=("--uidmap", "0:200000:65536", "--gidmap", "0:200000:65536"))
    assert cp.returncode == 0, cp.stderr
    assert [line.split() for line in cp.stdout.splitlines()] == [["0", "200000", "65536"]] * 2


def test_podman_pod_with_two_containers(podman, engines):
    parent = f"{engines.cgroup_parent}/pod"
    podman("pod", "create", "--name", "pd", "--cgroup-parent", parent, check=True)
    pids = []
    for name in ("pa", "pb"):
        podman("run", "-d", "--pod", "pd", "--name", name, IMAGE, "sleep", "1000", check=True)
        pids.append(int(podman("inspect", "--format", "{{.State.Pid}}", name, check=True).stdout))
    a, b = (namespaces(p) for p in pids)
    assert [a[n] == b[n] for n in ("net", "ipc", "uts", "mnt")] == [True, True, True, False]
    for pid in pids:
        assert f":{parent}/" in Path(f"/proc/{pid}/cgroup").read_text()
    podman("pod", "rm", "--force", "--time", "0", "pd", check=True)


# ------------------------------------------------------------------------------------------
# containerd
# ------------------------------------------------------------------------------------------

TRAP_TERM = "trap 'exit 7' TERM; while :; do sleep 0.1; done"


def test_ctr_run_rm(ctr, runtime, engines):
    cp = ctr.run("rr", "echo", "hi")
    assert (cp.returncode, cp.stdout) == (0, "hi\n"), cp.stderr
    calls = engines.calls(runtime)
    assert re.search(r"rc=0 ARGV: --root \S+ --log \S+ --log-format json create --bundle", calls), calls


def test_ctr_task_exec(ctr):
    ctr.run("te", "sleep", "1000", detach=True, check=True)
    cp = ctr("task", "exec", "--exec-id", "e1", "te", "sh", "-c", "echo $((1 + 2)); exit 5")
    assert (cp.returncode, cp.stdout) == (5, "3\n"), cp.stderr
    status, out = run_in_pty(["ctr", "-a", str(ctr.socket), "-n", NAMESPACE, "task", "exec", "-t",
                              "--exec-id", "e2", "te", "sh", "-c", "tty; test -t 0 && echo terminal"])
    # ctr 1.6 resizes the exec's terminal after starting it; when the exec has already ended
    # it logs "resize pty ... cannot resize a stopped container": only the first lines, from
    # inside the container, count
    lines = [line.rstrip("\r") for line in out.split("\n")]
    assert (status, lines[:2]) == (0, ["/dev/pts/0", "terminal"]), out


def test_ctr_task_kill(ctr):
    ctr.run("tk", "sh", "-c", TRAP_TERM, detach=True, check=True)
    ctr("task", "kill", "tk", check=True)
    wait_for(lambda: ctr.task_status("tk") == "STOPPED", what="the task to stop")
    ctr("task", "rm", "tk", check=True)


def test_ctr_task_kill_all(ctr):
    ctr.run("ta", "sh", "-c", "sleep 1000 & sleep 1000; true", detach=True, check=True)
    members = wait_for(lambda: len(pids := ctr.task_ps("ta")) == 3 and pids, what="3 processes")
    ctr("task", "kill", "--all", "--signal", "KILL", "ta", check=True)
    wait_for(lambda: ctr.task_status("ta") == "STOPPED", what="the task to stop")
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in members), what="every process gone")


def test_ctr_task_pause_resume(ctr):
    ctr.run("tp", "sleep", "1000", detach=True, check=True)
    pid = ctr.task_pid("tp")
    ctr("task", "pause", "tp", check=True)
    assert ctr.task_status("tp") == "PAUSED"
    assert cgroup_file(pid, "freezer", "freezer.state") == "FROZEN"
    ctr("task", "resume", "tp", check=True)
    assert ctr.task_status("tp") == "RUNNING"
    assert cgroup_file(pid, "freezer", "freezer.state") == "THAWED"


def test_ctr_task_ps(ctr):
    ctr.run("ps", "sleep", "1000", detach=True, check=True)
    assert ctr.task_ps("ps") == [ctr.task_pid("ps")]


def test_ctr_task_rm_force(ctr):
    ctr.run("rf", "sleep", "1000", detach=True, check=True)
    pid = ctr.task_pid("rf")
    ctr("task", "rm", "-f", "rf", check=True)
    assert ctr.task_status("rf") == "GONE"
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="the process to be gone")


def test_ctr_task_metrics(ctr):
    ctr.run("tm", "sleep", "1000", detach=True, check=True)
    metrics = json.loads(ctr("task", "metrics", "--format", "json", "tm", check=True).stdout)
    data = metrics["Data"] if "Data" in metrics else metrics
    text = json.dumps(data)
    assert '"pids"' in text and '"memory"' in text, text
