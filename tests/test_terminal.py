"""process.terminal: a pty from the container's devpts, its master sent to --console-socket
(SCM_RIGHTS) or relayed by a foreground `run`; runc's refusals of the combinations that
cannot work."""

import fcntl
import os
import select
import shutil
import signal
import socket
import stat
import struct
import tempfile
import termios
import time

import pytest

from conftest import DEFAULT_TIMEOUT

pytestmark = pytest.mark.root

PTMX = os.makedev(5, 2)
PTS_MAJOR = 136
TIOCGPTN = 0x80045430
NO_CONSOLE = "cannot allocate tty if runc will detach without setting console socket"
NO_TERMINAL = "cannot use console socket if runc will not detach or allocate tty"


class ConsoleServer:
    """The engine's end: a listening Unix socket the runtime connects to."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "console.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(1)

    def receive(self):
        """(payload, fds) of the one message the runtime sent; ([], b"") if it never
        connected.  Called after `create` returned: the message is already queued."""
        self.sock.setblocking(False)
        try:
            conn, _ = self.sock.accept()
        except BlockingIOError:
            return b"", []
        with conn:
            conn.settimeout(DEFAULT_TIMEOUT)
            payload, fds, _, _ = socket.recv_fds(conn, 4096, 4)
        return payload, fds


@pytest.fixture
def console():
    # a short directory of its own: sockaddr_un holds 107 bytes, and runc dials the path
    directory = tempfile.mkdtemp(prefix="octerm", dir="/tmp")
    server = ConsoleServer(directory)
    yield server
    server.sock.close()
    shutil.rmtree(directory)


def terminal_bundle(make_bundle, script, process=None, **overrides):
    process = {"terminal": True, "consoleSize": {"height": 40, "width": 100}, **(process or {})}
    return make_bundle(["sh", "-c", script], process=process, **overrides)


def read_until_closed(fd):
    """Everything the container writes to its terminal, until the last holder of the
    slave is gone (EIO)."""
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], DEFAULT_TIMEOUT)
        assert ready, f"no EOF from the pty; so far: {out!r}"
        try:
            data = os.read(fd, 4096)
        except OSError:
            return out.decode()
        if not data:
            return out.decode()
        out += data


def start_and_read(runtime, bundle, console):
    """create with the console socket, start, and everything the process writes."""
    runtime.create(bundle, "--console-socket", console.path)
    _, (master,) = console.receive()
    try:
        runtime.start(bundle.id)
        return read_until_closed(master)
    finally:
        os.close(master)


def holders_of(pid, predicate):
    """The fds of process ``pid`` whose link target satisfies ``predicate``."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if predicate(os.readlink(f"/proc/{pid}/fd/{fd}")):
                found.append(int(fd))
        except FileNotFoundError:
            pass
    return found


def test_console_socket_gets_the_pty_master(runtime, make_bundle, console):
    b = terminal_bundle(make_bundle, "tty; stty size; ls -l /dev/console; "
                        "ls -l /proc/self/fd/0 /proc/self/fd/1 /proc/self/fd/2; "
                        "cd /proc/self/fd; echo fds: *; exit 3")
    runtime.create(b, "--console-socket", console.path)
    payload, fds = console.receive()
    assert len(fds) == 1 and payload, (payload, fds)
    master = fds[0]
    try:
        st = os.fstat(master)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == PTMX
        fcntl.ioctl(master, TIOCGPTN, b"\0" * 4)  # only a pty master answers
        rows, columns = struct.unpack("HHHH", fcntl.ioctl(master, termios.TIOCGWINSZ, b"\0" * 8))[:2]
        assert (rows, columns) == (40, 100)
        init = int(open(b.pid_file).read())
        # the runtime has exited; no copy of the master stayed with the waiting init
        assert holders_of(init, lambda target: target.endswith("ptmx")) == []
        assert {0, 1, 2} <= set(holders_of(init, lambda target: target.startswith("/dev/pts/")))
        runtime.start(b.id)
        out = read_until_closed(master)
    finally:
        os.close(master)
    lines = out.replace("\r", "").splitlines()
    assert lines[0].startswith("/dev/pts/"), out
    assert lines[1] == "40 100", out
    console_line = lines[2].split()
    assert console_line[0].startswith("c") and console_line[4] == f"{PTS_MAJOR},", out
    assert console_line[-1] == "/dev/console", out
    for fd, line in zip((0, 1, 2), lines[3:6]):
        assert line.endswith(f"/proc/self/fd/{fd} -> {lines[0]}"), out
    # the shell's own fds, listed by its glob: 3 is the directory the glob reads
    assert lines[6] == "fds: 0 1 2 3", out
    runtime.wait_status(b.id, "stopped")


def test_terminal_belongs_to_the_process_user(runtime, make_bundle, console):
    b = terminal_bundle(make_bundle, "stat -L -c %u /proc/self/fd/0",
                        process={"user": {"uid": 1000, "gid": 1000}})
    assert start_and_read(runtime, b, console).strip() == "1000"


def test_terminal_in_a_user_namespace(runtime, make_bundle, console):
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b = terminal_bundle(make_bundle, "tty; stat -c '%t %u' /dev/console; id -u",
                        linux={"uidMappings": maps, "gidMappings": maps})
    b.set_namespaces("pid", "network", "ipc", "uts", "mount", "user")
    out = start_and_read(runtime, b, console)
    tty, console_owner, uid = out.replace("\r", "").splitlines()
    assert tty.startswith("/dev/pts/") and console_owner == f"{PTS_MAJOR:x} 0" and uid == "0", out


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 follows the image's /dev/console symlink and mounts the pty "
    "on its target (CVE-2025-52565, fixed in later releases)")
def test_dev_console_symlink_is_replaced_not_followed(runtime, make_bundle, console):
    """An image's /dev/console pointing elsewhere (CVE-2025-52565's shape): the pty is
    mounted on a new /dev/console; the symlink's target stays what it was."""
    b = terminal_bundle(make_bundle, "ls -l /dev/console /mnt/f", copy_rootfs=True)
    b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/dev"]
    b.write()
    dev = b.rootfs / "dev"
    dev.mkdir(exist_ok=True)
    (dev / "console").unlink(missing_ok=True)
    (dev / "console").symlink_to("/mnt/f")
    runtime.create(b, "--console-socket", console.path)
    _, (master,) = console.receive()
    try:
        runtime.start(b.id)
        out = read_until_closed(master)
    finally:
        os.close(master)
    console_line, target_line = out.replace("\r", "").splitlines()
    assert console_line.startswith("c") and f" {PTS_MAJOR}," in console_line, out
    assert target_line.startswith("-"), out  # still a regular file


def test_fake_devpts_is_refused(runtime, make_bundle, console):
    """/dev/pts a tmpfs with a ptmx node (that reaches another devpts): no pty from it."""
    b = terminal_bundle(make_bundle, "true")
    for mount in b.config["mounts"]:
        if mount["destination"] == "/dev/pts":
            mount.update(type="tmpfs", source="tmpfs", options=["nosuid", "mode=755"])
    b.config["mounts"].append({"destination": "/dev/pts/pts", "type": "devpts", "source": "devpts",
                               "options": ["newinstance", "ptmxmode=0666"]})
    b.config["linux"]["devices"] = [{"path": "/dev/pts/ptmx", "type": "c", "major": 5, "minor": 2,
                                     "fileMode": 0o666}]
    b.write()
    cp = runtime.create(b, "--console-socket", console.path, check=False)
    assert cp.returncode != 0
    payload, fds = console.receive()
    for fd in fds:
        os.close(fd)
    assert fds == []
    if runtime.name == "ociruntime":
        assert "not a devpts pty device" in cp.stderr


@pytest.mark.parametrize("command", [["create"], ["run", "--detach"]])
def test_terminal_without_console_socket_when_detached(runtime, make_bundle, command):
    b = terminal_bundle(make_bundle, "true")
    cp = runtime.run(*command, "--bundle", b.path, b.id)
    assert cp.returncode != 0 and NO_CONSOLE in cp.stderr
    assert b.id not in runtime.state_entries()


@pytest.mark.parametrize("command, terminal", [(["create"], False), (["run"], True), (["run"], False)])
def test_console_socket_needs_terminal_and_detach(runtime, make_bundle, console, command, terminal):
    b = make_bundle(["true"], process={"terminal": terminal})
    cp = runtime.run(*command, "--console-socket", console.path, "--bundle", b.path, b.id)
    assert cp.returncode != 0 and NO_TERMINAL in cp.stderr
    assert b.id not in runtime.state_entries()


def test_missing_console_socket(runtime, make_bundle, console):
    b = terminal_bundle(make_bundle, "true")
    cp = runtime.create(b, "--console-socket", console.path + ".missing", check=False)
    assert cp.returncode != 0 and "no such file or directory" in cp.stderr.lower()
    assert b.id not in runtime.state_entries()


def test_run_detached_with_console_socket(runtime, make_bundle, console):
    b = terminal_bundle(make_bundle, "tty; exit 0")
    cp = runtime.run("run", "--detach", "--console-socket", console.path, "--bundle", b.path, b.id)
    assert cp.returncode == 0, cp.stderr
    _, (master,) = console.receive()
    try:
        out = read_until_closed(master)
    finally:
        os.close(master)
    assert out.startswith("/dev/pts/")
    runtime.wait_status(b.id, "stopped")


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 opens /dev/tty for a foreground terminal, so it fails without "
    "a controlling terminal ('open /dev/tty: no such device or address')")
def test_foreground_run_relays_without_a_tty(runtime, make_bundle):
    """stdin not a terminal, no controlling terminal: the output still comes through the
    pty, the size is the config's, and the exit status is the container's."""
    b = terminal_bundle(make_bundle, "tty; stty size; exit 3")
    cp = runtime.run_bundle(b)
    assert cp.returncode == 3, cp.stderr
    assert cp.stdout.splitlines()[1:] == ["40 100"] and cp.stdout.startswith("/dev/pts/"), cp.stdout


class Terminal:
    """A pty of the test's own, the runtime's stdin/stdout/stderr."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.output = b""
        self.consumed = b""  # the output up to the last match

    def set_size(self, rows, columns):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))

    def expect(self, text, timeout=DEFAULT_TIMEOUT):
        """Waits until ``text`` has appeared in the output since the last match."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            ready, _, _ = select.select([self.master], [], [], max(0, deadline - time.monotonic()))
            if not ready:
                return False
            self.output += os.read(self.master, 4096)
        end = self.output.index(text.encode()) + len(text)
        self.consumed, self.output = self.output[:end], self.output[end:]
        return True

    def close(self):
        os.close(self.master)
        os.close(self.slave)


def run_under_terminal(runtime, bundle, spawn, term):
    return spawn(runtime.command("run", "--bundle", bundle.path, bundle.id),
                 stdin=term.slave, stdout=term.slave, stderr=term.slave)


def test_foreground_run_relays_a_terminal(runtime, make_bundle, spawn):
    """Under a terminal: raw input reaches the container, its size follows the runtime's
    terminal on SIGWINCH, the exit status is the container's and the runtime's terminal
    modes are restored."""
    b = terminal_bundle(make_bundle, "tty; while read line; do [ \"$line\" = q ] && exit 5; "
                        "stty size; done")
    term = Terminal()
    try:
        modes = termios.tcgetattr(term.slave)
        proc = run_under_terminal(runtime, b, spawn, term)
        assert term.expect("/dev/pts/"), term.output
        term.set_size(50, 120)
        os.kill(proc.pid, signal.SIGWINCH)
        for _ in range(50):  # until the runtime has passed the new size on
            os.write(term.master, b"again\r")
            if term.expect("50 120", timeout=0.2):
                break
        else:
            pytest.fail(f"the new size never reached the container: {term.output!r}")
        os.write(term.master, b"q\r")
        assert proc.wait(timeout=DEFAULT_TIMEOUT) == 5
        assert termios.tcgetattr(term.slave) == modes
    finally:
        term.close()


@pytest.mark.xfail_runtime(
    "runc", strict=False, reason="runc 1.1.5 gives the pty the terminal's size only once the "
    "process runs, so it may see process.consoleSize first")
def test_foreground_run_starts_with_the_terminal_size(runtime, make_bundle, spawn):
    b = terminal_bundle(make_bundle, "stty size")
    term = Terminal()
    try:
        term.set_size(33, 77)
        proc = run_under_terminal(runtime, b, spawn, term)
        assert term.expect("\n"), term.output  # the first line
        assert proc.wait(timeout=DEFAULT_TIMEOUT) == 0
        assert term.consumed.strip() == b"33 77"
    finally:
        term.close()


# --- exec --tty ---------------------------------------------------------------------

def _sleeping_container(runtime, make_bundle):
    b = make_bundle(["sleep", "1000"])
    runtime.create(b)
    runtime.start(b.id)
    return b


def test_exec_tty_with_console_socket(runtime, make_bundle, console):
    """exec -t -d --console-socket: the exec'd process's own pty (not /dev/console), its
    master sent to the socket; the container's init keeps its stdio."""
    b = _sleeping_container(runtime, make_bundle)
    cp = runtime.run("exec", "-t", "-d", "--console-socket", console.path, b.id,
                     "sh", "-c", "tty; [ -t 0 ] && [ -t 2 ] && echo stdio-is-tty")
    assert cp.returncode == 0, cp.stderr
    _, fds = console.receive()
    assert len(fds) == 1
    try:
        assert os.fstat(fds[0]).st_rdev == PTMX
        out = read_until_closed(fds[0]).splitlines()
    finally:
        os.close(fds[0])
    assert out[0].startswith("/dev/pts/") and out[1] == "stdio-is-tty", out


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 opens /dev/tty for a foreground terminal, so it fails without "
    "a controlling terminal ('open /dev/tty: no such device or address')")
def test_exec_tty_in_the_foreground_is_relayed(runtime, make_bundle):
    b = _sleeping_container(runtime, make_bundle)
    cp = runtime.run("exec", "-t", b.id, "sh", "-c", "tty; exit 4")
    assert cp.returncode == 4, cp.stderr
    assert cp.stdout.startswith("/dev/pts/"), cp.stdout


@pytest.mark.parametrize("options, message", [
    (("-t", "-d"), NO_CONSOLE),
    (("--console-socket", "/nonexistent.sock"), NO_TERMINAL),
])
def test_exec_terminal_refusals(runtime, make_bundle, options, message):
    b = _sleeping_container(runtime, make_bundle)
    cp = runtime.run("exec", *options, b.id, "true")
    assert cp.returncode != 0
    if runtime.name == "ociruntime":
        assert cp.stderr.strip() == f"ociruntime: exec failed: {message}"
