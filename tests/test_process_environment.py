"""What runc gives a container's process beyond config.json, and engines rely on: the session
keyring (``--no-new-keyring``), inherited fds (``--preserve-fds``, systemd's LISTEN_FDS) and
sd_notify through NOTIFY_SOCKET.  Checked from inside the container and on the host."""

import ctypes
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import DEFAULT_TIMEOUT

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from conformance.bundle import build_checker  # noqa: E402

pytestmark = pytest.mark.root

_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine())
_KEYCTL_JOIN_SESSION_KEYRING = 1
# the fds of ls, as the process had them ("N -> TARGET"; ls's own directory fd has no link)
_SHOW_FDS = "exec ls -l /proc/self/fd 2>/dev/null"


def _launch(runtime, args, *, env=None, fds=(), keyring=None, listen_pid=False, stdout=None):
    """Runs ``runtime args`` with ``fds`` (paths) open as fds 3, 4, ... and, optionally,
    in a new session keyring named ``keyring`` or with LISTEN_PID set to the runtime's
    own PID.  Output goes through files (the container inherits stdio): ``stdout`` (a
    path) for a container that writes after the runtime exits."""
    redirections = " ".join(f'{3 + i}<"$F{i}"' for i in range(len(fds)))
    script = ('export LISTEN_PID=$$; ' if listen_pid else "") + f'exec "$@" {redirections}'
    env = dict(env if env is not None else os.environ)
    env.update({f"F{i}": str(path) for i, path in enumerate(fds)})
    preexec = _session_keyring_joiner(keyring) if keyring else None
    with (open(stdout, "w+") if stdout else tempfile.TemporaryFile("w+")) as out, \
            tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(["/bin/sh", "-c", script, "sh", *runtime.command(*args)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, text=True,
                                env=env, preexec_fn=preexec)
        code = proc.wait(timeout=DEFAULT_TIMEOUT)
        out.seek(0)
        err.seek(0)
        return proc.pid, subprocess.CompletedProcess(args, code, out.read(), err.read())


def _session_keyring_joiner(name):
    """A preexec_fn that puts the child in a new session keyring called ``name``."""
    libc = ctypes.CDLL(None, use_errno=True)

    def join():
        if libc.syscall(_SYS_KEYCTL, _KEYCTL_JOIN_SESSION_KEYRING, name.encode()) < 0:
            raise OSError(ctypes.get_errno(), "keyctl")
    return join


def _ok(cp):
    assert cp.returncode == 0, f"exit {cp.returncode}\nstdout: {cp.stdout}\nstderr: {cp.stderr}"
    return cp.stdout


# --- session keyring -----------------------------------------------------------------

@pytest.fixture
def keyring_bundle(make_bundle):
    """As uid 1000 the process sees in /proc/keys only the keyrings it possesses (root's
    keyrings grant no "other" view): its session keyring shows which one it has."""
    if _SYS_KEYCTL is None:
        pytest.skip(f"keyctl syscall number unknown on {platform.machine()}")
    masked = [p for p in make_bundle().config["linux"]["maskedPaths"] if p != "/proc/keys"]
    return make_bundle(["cat", "/proc/keys"], process={"user": {"uid": 1000, "gid": 1000}},
                       linux={"maskedPaths": masked})


def _keyrings(text):
    """{description: perm} of the keyrings in /proc/keys."""
    rings = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 9 and fields[7] == "keyring":
            rings[fields[8].rstrip(":")] = fields[4]
    return rings


def test_new_session_keyring_named_after_the_container(runtime, keyring_bundle, oci):
    caller = f"_ses.caller-{oci.tag}"
    _, cp = _launch(runtime, ["run", "-b", keyring_bundle.path, keyring_bundle.id], keyring=caller)
    rings = _keyrings(_ok(cp))
    # runc: KEYCTL_JOIN_SESSION_KEYRING "_ses.<id>", then KEY_USR_SEARCH added to 0x3f130000
    assert rings.get(f"_ses.{keyring_bundle.id}") == "3f1b0000", rings
    assert caller not in rings


def test_no_new_keyring_keeps_the_callers(runtime, keyring_bundle, oci):
    caller = f"_ses.caller-{oci.tag}"
    _, cp = _launch(runtime, ["run", "--no-new-keyring", "-b", keyring_bundle.path,
                              keyring_bundle.id], keyring=caller)
    rings = _keyrings(_ok(cp))
    assert caller in rings
    assert f"_ses.{keyring_bundle.id}" not in rings


# --- --preserve-fds and LISTEN_FDS -----------------------------------------------------

@pytest.fixture
def fd_files(oci):
    paths = [oci.dir / f"fd-file-{i}" for i in range(4)]
    for path in paths:
        path.write_text("")
    return paths


def _fds_seen(text):
    """{fd: target} from ``ls -l /proc/self/fd``."""
    fds = {}
    for line in text.splitlines():
        if " -> " in line:
            name, target = line.split(" -> ", 1)
            fds[int(name.split()[-1])] = target
    return fds


def _passed(fds, fd_files, count):
    """fds 3.. are exactly the first ``count`` files."""
    extra = {fd: target for fd, target in fds.items() if fd > 2}
    assert extra == {3 + i: str(fd_files[i]) for i in range(count)}, fds


def test_preserve_fds_with_run(runtime, make_bundle, fd_files):
    b = make_bundle(["sh", "-c", _SHOW_FDS])
    _, cp = _launch(runtime, ["run", "--preserve-fds", "2", "-b", b.path, b.id], fds=fd_files[:3])
    _passed(_fds_seen(_ok(cp)), fd_files, 2)


def test_preserve_fds_with_create(runtime, make_bundle, fd_files, oci):
    b = make_bundle(["sh", "-c", _SHOW_FDS])
    out = oci.dir / "create.out"
    _, cp = _launch(runtime, ["create", "--pid-file", b.pid_file, "--preserve-fds", "2",
                              "-b", b.path, b.id], fds=fd_files[:3], stdout=out)
    _ok(cp)
    runtime.remember_pid(int(Path(b.pid_file).read_text()))
    runtime.start(b.id, check=True)
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id, check=True)
    _passed(_fds_seen(out.read_text()), fd_files, 2)


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 only checks that /proc/self/fd/N exists, and its own fds are "
    "there: with fds 3-4 given it passes its O_PATH fd of /sys/fs/cgroup as fd 5")
def test_preserve_fds_not_open_fails_create(runtime, make_bundle, fd_files):
    b = make_bundle(["true"])
    _, cp = _launch(runtime, ["create", "--preserve-fds", "3", "-b", b.path, b.id],
                    fds=fd_files[:2])
    assert cp.returncode != 0


def test_listen_fds_for_the_runtime_come_first(runtime, make_bundle, fd_files):
    b = make_bundle(["sh", "-c", "env; " + _SHOW_FDS])
    _, cp = _launch(runtime, ["run", "--preserve-fds", "1", "-b", b.path, b.id],
                    env=dict(os.environ, LISTEN_FDS="2"), fds=fd_files, listen_pid=True)
    out = _ok(cp)
    _passed(_fds_seen(out), fd_files, 3)
    assert "LISTEN_FDS=2" in out.splitlines()
    assert "LISTEN_PID=1" in out.splitlines()


def test_listen_fds_for_another_process_are_ignored(runtime, make_bundle, fd_files):
    b = make_bundle(["sh", "-c", "env; " + _SHOW_FDS])
    env = dict(os.environ, LISTEN_FDS="2", LISTEN_PID="1")
    _, cp = _launch(runtime, ["run", "--preserve-fds", "1", "-b", b.path, b.id],
                    env=env, fds=fd_files)
    out = _ok(cp)
    _passed(_fds_seen(out), fd_files, 1)
    assert not [line for line in out.splitlines() if line.startswith("LISTEN_")]


# --- NOTIFY_SOCKET ---------------------------------------------------------------------

@pytest.fixture(scope="session")
def checker_binary(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build conformance/checker.c")
    return build_checker(tmp_path_factory.mktemp("checker"))


@pytest.fixture
def host_socket(oci):
    """The host's NOTIFY_SOCKET (as systemd's): a bound datagram socket."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = oci.dir / "host-notify.sock"
    sock.bind(str(path))
    sock.settimeout(DEFAULT_TIMEOUT)
    yield sock, str(path)
    sock.close()


def _notify_bundle(make_bundle, checker_binary, script):
    b = make_bundle(["sh", "-c", script])
    shutil.copy(checker_binary, Path(b.config_path).parent / "rootfs" / "checker")
    return b


def _received(sock):
    """Every datagram queued on the host socket."""
    messages = []
    sock.setblocking(False)
    try:
        while True:
            messages.append(sock.recv(4096))
    except BlockingIOError:
        return messages
    finally:
        sock.settimeout(DEFAULT_TIMEOUT)


def test_notify_ready_after_start(runtime, make_bundle, checker_binary, host_socket):
    sock, path = host_socket
    b = _notify_bundle(make_bundle, checker_binary,
                       '/checker notify=STATUS=starting "notify=READY=1" && exec sleep 600')
    env = dict(os.environ, NOTIFY_SOCKET=path)
    _ok(runtime.run("create", "--pid-file", b.pid_file, "-b", b.path, b.id, env=env))
    pid = int(Path(b.pid_file).read_text())
    runtime.remember_pid(pid)
    assert _received(sock) == []
    _ok(runtime.run("start", b.id, env=env))
    # start returns once READY is forwarded: the init is the service's main process
    assert _received(sock) == [b"READY=1\n", b"MAINPID=%d\n" % pid]
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id, check=True)


def test_notify_foreground_run_reports_the_runtime(runtime, make_bundle, checker_binary,
                                                   host_socket):
    sock, path = host_socket
    b = _notify_bundle(make_bundle, checker_binary,
                       '[ "$NOTIFY_SOCKET" = /run/notify/notify.sock ] && '
                       'grep -q " /run/notify ro,nosuid,nodev,noexec" /proc/self/mountinfo && '
                       '/checker "notify=READY=1"')
    runtime_pid, cp = _launch(runtime, ["run", "-b", b.path, b.id],
                              env=dict(os.environ, NOTIFY_SOCKET=path))
    assert "PASS notify=READY=1" in _ok(cp)
    # a foreground run stays the main process, so MAINPID is the runtime's own
    assert _received(sock) == [b"READY=1\n", b"MAINPID=%d\n" % runtime_pid]


def test_notify_detached_run_reports_the_init(runtime, make_bundle, checker_binary,
                                             host_socket):
    sock, path = host_socket
    b = _notify_bundle(make_bundle, checker_binary, '/checker "notify=READY=1" && exec sleep 600')
    _ok(runtime.run("run", "-d", "--pid-file", b.pid_file, "-b", b.path, b.id,
                    env=dict(os.environ, NOTIFY_SOCKET=path)))
    pid = int(Path(b.pid_file).read_text())
    runtime.remember_pid(pid)
    assert _received(sock) == [b"READY=1\n", b"MAINPID=%d\n" % pid]
    runtime.kill(b.id, "KILL")
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id, check=True)


def test_notify_start_returns_when_the_process_exits_unready(runtime, make_bundle,
                                                             checker_binary, host_socket):
    sock, path = host_socket
    b = _notify_bundle(make_bundle, checker_binary, "/checker notify=STATUS=failing")
    env = dict(os.environ, NOTIFY_SOCKET=path)
    _ok(runtime.run("create", "--pid-file", b.pid_file, "-b", b.path, b.id, env=env))
    runtime.remember_pid(int(Path(b.pid_file).read_text()))
    _ok(runtime.run("start", b.id, env=env))
    runtime.wait_status(b.id, "stopped")
    runtime.delete(b.id, check=True)
    assert _received(sock) == []


def test_notify_failed_create_leaves_nothing(runtime, make_bundle, host_socket):
    """The notify directory in the state dir goes with a failed create (checked by the
    fixture's leftover check)."""
    _, path = host_socket
    b = make_bundle(["/no/such/program"])
    cp = runtime.run("create", "-b", b.path, b.id, env=dict(os.environ, NOTIFY_SOCKET=path))
    assert cp.returncode != 0
    assert runtime.state_entries() == []


def test_no_notify_socket_without_notify_env(runtime, make_bundle):
    env = {k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET"}
    b = make_bundle(["sh", "-c", 'echo "[$NOTIFY_SOCKET]"; ls /run/notify 2>&1 || true'])
    _, cp = _launch(runtime, ["run", "-b", b.path, b.id], env=env)
    out = _ok(cp).splitlines()
    assert out[0] == "[]" and "No such file" in out[1], out
