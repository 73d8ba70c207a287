"""Terminals (process.terminal): a pty from the container's own devpts, its master handed to
whoever holds the console (an engine's ``--console-socket``, or a foreground ``run``).

Inside the container (the init after pivot_root, or an ``exec`` process that has joined
the container's mount namespace):

    master, slave, name = new_pty_in_container(process.get("consoleSize"))
    mount_console(slave)                 # the init only: /dev/console is the pty
    send_console(console_socket, master) # then close the master: only the holder keeps it
    become_terminal_process(slave, uid)  # stdio, controlling terminal

Outside: ``connect_console_socket`` (the runtime connects, the container only ever sees a
connected socket: the path is a host path), ``receive_console`` and ``relay`` for a
foreground ``run``.  Imported only when a terminal is wanted.
"""

from __future__ import annotations

import fcntl
import os
import socket
import stat
import struct
import termios

from . import _shim
from .errors import OCIError
from .paths import fd_path

#: the payload sent with the master: its name, as runc sends it
MASTER_NAME = "/dev/ptmx"
_DEVPTS_SUPER_MAGIC = 0x1CD1
#: UNIX98_PTY_SLAVE_MAJOR and the majors after it (UNIX98_PTY_MAJOR_COUNT)
_PTS_MAJORS = range(136, 144)
_PTMX = os.makedev(5, 2)
# asm-generic ioctl numbers (x86_64 and aarch64 alike); termios lacks them
_TIOCGPTN = 0x80045430
_TIOCSPTLCK = 0x40045431
_TIOCGPTPEER = 0x5441
_OPEN_FLAGS = os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC


# -- inside the container -----------------------------------------------------------
def new_pty_in_container(console_size: dict | None = None) -> tuple[int, int, str]:
    """A new pty of the devpts mounted at the caller's /dev/pts: (master, slave, slave's
    name).  Both fds are close-on-exec.  The container could have replaced /dev/pts or its
    nodes, so the master must be the ptmx of a devpts, and the slave (got from the master
    with TIOCGPTPEER, never by path) a pts device."""
    try:
        master = os.open("/dev/pts/ptmx", _OPEN_FLAGS | os.O_NOFOLLOW)
    except OSError as err:
        raise OCIError(f"process.terminal: /dev/pts/ptmx: {err.strerror} (is devpts mounted "
                       "on /dev/pts?)") from None
    slave = -1
    try:
        _check_device(master, lambda rdev: rdev == _PTMX, "/dev/pts/ptmx")
        fcntl.ioctl(master, _TIOCSPTLCK, struct.pack("i", 0))  # unlockpt
        number = struct.unpack("I", fcntl.ioctl(master, _TIOCGPTN, b"\0" * 4))[0]
        slave = fcntl.ioctl(master, _TIOCGPTPEER, _OPEN_FLAGS)
        _check_device(slave, lambda rdev: os.major(rdev) in _PTS_MAJORS, f"/dev/pts/{number}")
        if console_size:
            set_size(master, console_size.get("height", 0), console_size.get("width", 0))
        return master, slave, f"/dev/pts/{number}"
    except BaseException as err:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        if isinstance(err, OSError):
            raise OCIError(f"process.terminal: creating the pty: {err.strerror}") from None
        raise


def _check_device(fd: int, expected, name: str) -> None:
    """``fd`` must be a char device whose number passes ``expected``, on a devpts."""
    st = os.fstat(fd)
    if (not stat.S_ISCHR(st.st_mode) or not expected(st.st_rdev)
            or _shim.fstatfs_type(fd) != _DEVPTS_SUPER_MAGIC):
        raise OCIError(f"process.terminal: {name} in the container is not a devpts pty device")


def set_size(fd: int, rows: int, columns: int) -> None:
    """TIOCSWINSZ (process.consoleSize: height is rows, width columns)."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def mount_console(slave: int) -> None:
    """Bind-mounts the pty onto /dev/console, reached through fds only: whatever the image
    put at /dev/console other than a file or device node (a symlink) is removed first."""
    dev = os.open("/dev", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        try:
            existing = os.stat("console", dir_fd=dev, follow_symlinks=False).st_mode
        except FileNotFoundError:
            existing = None
        if existing is not None and not (stat.S_ISREG(existing) or stat.S_ISCHR(existing)):
            os.unlink("console", dir_fd=dev)
            existing = None
        if existing is None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            os.close(os.open("console", flags, 0o600, dir_fd=dev))
        target = os.open("console", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dev)
    except OSError as err:
        raise OCIError(f"process.terminal: /dev/console: {err.strerror}") from None
    finally:
        os.close(dev)
    try:
        mode = os.fstat(target).st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):
            raise OCIError("process.terminal: /dev/console changed while it was set up")
        _shim.mount(fd_path(slave), fd_path(target), None, _shim.MS_BIND)
    except OSError as err:
        raise OCIError(f"process.terminal: mounting the pty on /dev/console: {err.strerror}") from None
    finally:
        os.close(target)


def send_console(console: socket.socket | str, master: int, name: str = MASTER_NAME) -> None:
    """Sends ``master`` with SCM_RIGHTS (one fd, ``name`` as the payload) over a connected
    console socket, or over a new connection to the socket at a path."""
    sock = connect_console_socket(console) if isinstance(console, str) else console
    try:
        socket.send_fds(sock, [name.encode()], [master])
    except OSError as err:
        raise OCIError(f"--console-socket: sending the pty master: {err.strerror}") from None
    finally:
        if sock is not console:
            sock.close()


def become_terminal_process(slave: int, owner: int = -1) -> None:
    """Makes the pty the caller's stdin, stdout, stderr and controlling terminal (a new
    session when the caller does not lead one yet); closes ``slave``.  ``owner`` (the
    process's uid) gets the pty, as runc gives it the process's stdio."""
    if owner >= 0:
        os.fchown(slave, owner, -1)
    if os.getsid(0) != os.getpid():
        os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def init_console(console: socket.socket, process: dict, dev_console: bool = True) -> None:
    """The process's terminal, inside the container (for the init after pivot_root; for an
    exec'd process without ``dev_console``): runc's order (pty, /dev/console, master sent,
    then stdio and controlling terminal).  Closes ``console``."""
    try:
        master, slave, _ = new_pty_in_container(process.get("consoleSize"))
        try:
            if dev_console:
                mount_console(slave)
            send_console(console, master)
        except BaseException:
            os.close(slave)
            raise
        finally:
            os.close(master)
    finally:
        console.close()
    become_terminal_process(slave, process.get("user", {}).get("uid", 0) or -1)


# -- the runtime's side -------------------------------------------------------------
def connect_console_socket(path: str) -> socket.socket:
    """A connection to the engine's console socket (a host path).  Paths longer than a
    sockaddr_un holds are reached through an fd of their directory (unixaddr.py)."""
    from .unixaddr import at_path

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        if len(os.fsencode(path)) > 107:
            at_path(path, sock.connect)
        else:
            sock.connect(path)
    except OSError as err:
        sock.close()
        raise OCIError(f"--console-socket {path}: connect: {err.strerror}") from None
    return sock


def receive_console(sock: socket.socket) -> int:
    """The pty master sent by ``send_console`` over ``sock`` (close-on-exec)."""
    _, fds, _, _ = socket.recv_fds(sock, 4096, 1, socket.MSG_CMSG_CLOEXEC)
    if not fds:
        raise OCIError("process.terminal: the container sent no pty master")
    return fds[0]


def relay(master: int, pid: int) -> int:
    """A foreground terminal: our stdin (raw, when it is a terminal) to the pty, the pty to
    our stdout, our window size to the pty on every SIGWINCH, until our child ``pid``
    exits; returns its wait status.  The terminal's modes are restored whatever happens.
    (Call ``take_window_size`` first.)"""
    import signal

    saved = termios.tcgetattr(0) if os.isatty(0) else None
    wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous_wakeup = signal.set_wakeup_fd(wake_write)
    previous = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGCHLD, signal.SIGWINCH)}
    try:
        if saved is not None:
            _make_raw(0, saved)
        return _Relay(master, pid, wake_read, saved is not None).run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_wakeup)
        os.close(wake_read)
        os.close(wake_write)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def take_window_size(master: int) -> None:
    """The pty gets our terminal's size, if stdin is one: call it before the process
    starts, so that it never sees process.consoleSize instead."""
    if os.isatty(0):
        _copy_size(0, master)


def _make_raw(fd: int, mode: list) -> None:
    """cfmakeraw(3): bytes pass untouched, signals and echo are the container's business."""
    mode = [*mode[:6], list(mode[6])]
    mode[0] &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
                 | termios.IGNCR | termios.ICRNL | termios.IXON)
    mode[1] &= ~termios.OPOST
    mode[2] = (mode[2] & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    mode[3] &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    mode[6][termios.VMIN] = 1
    mode[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, mode)


def _copy_size(source: int, target: int) -> None:
    fcntl.ioctl(target, termios.TIOCSWINSZ, fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8))


class _Relay:
    """The copy loop of ``relay``: poll(2) on stdin, the master and the signal wakeup pipe."""

    def __init__(self, master: int, pid: int, wake: int, resize: bool):
        self.master = master
        self.pid = pid
        self.wake = wake
        self.resize = resize
        self.pending = b""  # read from stdin, not yet taken by the pty
        self.stdin_open = True
        self.master_open = True

    def run(self) -> int:
        import select
        import signal

        os.set_blocking(self.master, False)
        while True:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self._drain()
                return status
            poller = select.poll()
            poller.register(self.wake, select.POLLIN)
            if self.master_open:
                poller.register(self.master, select.POLLIN | (select.POLLOUT if self.pending else 0))
            if self.stdin_open and not self.pending:
                poller.register(0, select.POLLIN)
            for fd, events in poller.poll():
                if fd == self.wake:
                    if signal.SIGWINCH in os.read(self.wake, 512) and self.resize:
                        _copy_size(0, self.master)
                elif fd == 0:
                    self._read_stdin()
                else:
                    self._serve_master(events, select)

    def _read_stdin(self) -> None:
        try:
            self.pending = os.read(0, 65536)
        except OSError:
            self.pending = b""
        self.stdin_open = bool(self.pending)

    def _serve_master(self, events: int, select) -> None:
        if events & select.POLLOUT and self.pending:
            try:
                self.pending = self.pending[os.write(self.master, self.pending):]
            except BlockingIOError:
                pass
            except OSError:
                self.pending = b""
        if events & (select.POLLIN | select.POLLHUP | select.POLLERR):
            self._copy_output()

    def _copy_output(self) -> bool:
        """One read from the master to stdout; False when there was nothing to copy (yet,
        or ever again: EIO once every holder of the slave has closed it)."""
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self.master_open = False
            return False
        _write_all(1, data)
        return True

    def _drain(self) -> None:
        """What the process wrote before it exited and is still in the pty."""
        while self.master_open and self._copy_output():
            pass


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
