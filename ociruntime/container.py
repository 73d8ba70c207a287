"""Lifecycle operations (runtime.md "Operations"): create, start, state, kill, delete, run;
and runc's cgroup commands: pause, resume, ps, events.

Each operation takes the container's lock, checks the state it needs, does its work and
leaves either the new state or, on failure, everything as it was before (for ``create``:
nothing at all: no state dir, cgroup, mount or process).
"""

from __future__ import annotations

import os
from _signal import SIGKILL  # the C module: signal.py builds enums at import

from .errors import NotSupportedError, OCIError, ProcessError, StateError, exec_failure
from .state import (CREATED, CREATING, INIT_SOCKET, PAUSED, RUNNING, STOPPED, Container, StateStore,
                    proc_stat, write_atomic)

#: how often ``events`` looks for OOM kills between two stats events (seconds)
_OOM_POLL = 0.1


class Runtime:
    """The operations on the containers of one ``--root``."""

    def __init__(self, root: str, systemd_cgroup: bool = False, log=None):
        from .log import Logger

        self.store = StateStore(root)
        self.systemd_cgroup = systemd_cgroup
        self.log = log or Logger()
        self.warn = self.log.warning

    # -- create ------------------------------------------------------------------------
    def create(self, container_id: str, bundle_path: str, console_socket: str | None = None,
               **create_args) -> Container:
        """With process.terminal, the pty master goes to ``console_socket``."""
        bundle = self._load(container_id, bundle_path)
        console, _ = _console(bundle.config, console_socket, detach=True)
        try:
            return self._create(container_id, bundle, console=console, **create_args)
        finally:
            if console is not None:
                console.close()

    def _load(self, container_id: str, bundle_path: str):
        from .spec import load_bundle

        self.store.check_free(container_id)
        return load_bundle(bundle_path)

    def _create(self, container_id: str, bundle, pid_file: str | None = None, no_pivot: bool = False,
                no_new_keyring: bool = False, preserve_fds: int = 0, console=None) -> Container:
        """create from a loaded bundle; ``console`` is the connected socket the init sends
        the pty master to."""
        from .cgroups import open_manager
        from .cgroups.devices import effective_rules
        from .log import rfc3339_now
        from .process.attributes import InitContext, sealed_trampoline
        from .process.parent import InitProcess
        from .security.capabilities import check_grantable, masks

        extra_fds = _socket_activation(bundle.config) + preserve_fds
        _check_fds_open(extra_fds)
        capability_sets = masks(bundle.config, self.warn)
        if capability_sets:
            check_grantable(capability_sets)
            self._warn_ambient(capability_sets)
        cgroup = open_manager(bundle.config, container_id, self.systemd_cgroup)
        directory = self.store.create(container_id)
        container = Container(directory, {
            "id": container_id, "status": "creating", "bundle": bundle.path,
            "rootfs": bundle.rootfs, "created": rfc3339_now(), "config": bundle.config,
            "cgroup": cgroup.describe(),
        })
        init = None
        try:
            if os.environ.get("NOTIFY_SOCKET"):
                from .notify import setup

                setup(bundle.config, directory)
            container.save()
            cgroup.create(effective_rules(bundle.config))
            cgroup.apply(bundle.config.get("linux", {}).get("resources") or {})
            container.data["cgroup"] = cgroup.describe()
            ctx = InitContext(bundle.config, bundle.path, bundle.rootfs, directory, cgroup,
                              sealed_trampoline(), no_pivot, no_new_keyring, extra_fds,
                              capability_sets)
            ctx.console = console
            init = InitProcess(ctx, container.oci_state() | {"status": "creating"})
            pid = init.spawn()
            container.data.update(pid=pid, start_time=proc_stat(pid)[1], status=CREATED)
            if pid_file:
                write_atomic(os.path.abspath(pid_file), str(pid), 0o644)
            container.save()
        except BaseException:
            if init is not None:
                init.kill()
            self._remove(container, cgroup)
            if init is not None and init.pid:
                # the spec: a failed create still ends the lifecycle with poststop
                self._poststop(container)
            raise
        return container

    def _poststop(self, container: Container) -> None:
        from .hooks import run_hooks

        state = container.oci_state() | {"status": STOPPED, "pid": 0}
        run_hooks(container.config, "poststop", state, self.warn)

    def _warn_ambient(self, sets: dict[str, int]) -> None:
        from .security.capabilities import names, raisable_ambient

        if sets["ambient"] != raisable_ambient(sets):
            skipped = ", ".join(names(sets["ambient"] & ~raisable_ambient(sets)))
            self.log.debug(f"process.capabilities.ambient: {skipped} not also permitted and "
                           "inheritable: the kernel cannot raise them, skipped as runc does")

    def _remove(self, container: Container, cgroup=None) -> None:
        cgroup = cgroup or self._cgroup(container)
        try:
            cgroup.destroy()
        finally:
            self.store.remove(container.id)

    # -- start -------------------------------------------------------------------------
    def start(self, container_id: str) -> None:
        container, relay = self._start(container_id)
        self._notify(relay, container.pid, container.pid, strict=True)

    def _start(self, container_id: str):
        """Releases the process and runs poststart hooks; returns the container and, with
        NOTIFY_SOCKET set, the relay of its sd_notify socket (already bound)."""
        lock = self.store.lock(container_id)
        relay = None
        try:
            container = self.store.load(container_id)
            status = container.status()
            if status != CREATED:
                raise StateError(f"cannot start container {container_id}: it is {status}, not created")
            relay = self._notify_relay(container)
            self._release_init(container)  # nothing to record: status comes from the init
        except BaseException:
            if relay is not None:
                relay.close()
            raise
        finally:
            os.close(lock)
        from .hooks import run_hooks

        run_hooks(container.config, "poststart", container.oci_state(), self.warn)
        return container, relay

    @staticmethod
    def _notify_relay(container: Container):
        """The bound notify socket when NOTIFY_SOCKET is set and ``create`` made its
        directory (it did if NOTIFY_SOCKET was set then too)."""
        host = os.environ.get("NOTIFY_SOCKET")
        if not host or not os.path.isdir(os.path.join(container.directory, "notify")):
            return None
        from .notify import Relay

        return Relay(container.directory, host)

    def _notify(self, relay, init_pid: int, main_pid: int, strict: bool) -> None:
        """Forwards the container's READY=, as runc: an error fails ``start`` only."""
        if relay is None:
            return
        try:
            relay.forward(init_pid, main_pid)
        except OCIError as err:
            if strict:
                raise
            self.warn(str(err))
        finally:
            relay.close()

    def _release_init(self, container: Container) -> None:
        """Connects to the waiting init, which then execs; EOF means the exec happened."""
        # the C module: socket.py's enum conversions cost a third of a `start`
        import _socket

        from .unixaddr import at_path

        path = os.path.join(container.directory, INIT_SOCKET)
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            try:
                at_path(path, sock.connect)
            except OSError as err:
                raise ProcessError(f"container {container.id}: init is not waiting: {err.strerror}") from None
            finally:
                os.unlink(path)
            report = b""
            while chunk := sock.recv(4096):
                report += chunk
        finally:
            sock.close()
        if report:
            raise ProcessError(exec_failure(container.config["process"]["args"][0], report))

    # -- state, list -------------------------------------------------------------------
    def state(self, container_id: str) -> dict:
        return self.store.load(container_id).oci_state()

    def list(self) -> list[dict]:
        return [c.oci_state() for c in self.store.list()]

    # -- kill --------------------------------------------------------------------------
    def kill(self, container_id: str, sig: int, all_processes: bool = False) -> None:
        """Signals the init, or with ``all_processes`` every process of the cgroup.  SIGKILL
        thaws a paused container: on v1 a frozen task dies only once thawed (as runc)."""
        container = self.store.load(container_id)
        status = container.status()
        # kill --all of a stopped container signals what is left in its cgroup and succeeds,
        # as with runc: containerd's shim sends it again when deleting an exited task
        allowed = (CREATED, RUNNING, PAUSED, STOPPED) if all_processes else (CREATED, RUNNING, PAUSED)
        if status not in allowed:
            raise StateError(f"container {container_id} is {status}: container not running")
        if all_processes:
            self._signal_all(container, sig)
            return
        try:
            os.kill(container.pid, sig)
        except ProcessLookupError:
            raise StateError(f"container {container_id}: no such process") from None
        if status == PAUSED and sig == SIGKILL:
            self._cgroup(container).freeze(False)

    def _signal_all(self, container: Container, sig: int) -> None:
        """Signals the init and every process of the cgroup, frozen meanwhile so that none
        can fork a process the signal misses; thawed afterwards, paused or not (as runc)."""
        from .errors import CgroupError

        cgroup = self._cgroup(container)
        can_freeze = cgroup.freeze_file() is not None
        try:
            if can_freeze:
                cgroup.freeze(True)
        except CgroupError as err:
            self.warn(f"container {container.id}: {err}; signalling unfrozen")
        pids = set(cgroup.pids())
        if container.init_alive():
            pids.add(container.pid)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        if can_freeze:
            cgroup.freeze(False)

    @staticmethod
    def _cgroup(container: Container):
        from .cgroups import from_description

        return from_description(container.data["cgroup"])

    def _cgroup_pids(self, container: Container) -> list[int]:
        return self._cgroup(container).pids()

    # -- pause, resume, ps, events ------------------------------------------------------
    def pause(self, container_id: str) -> None:
        """Freezes every process of a created or running container (runc allows both)."""
        self._set_frozen(container_id, True, (CREATED, RUNNING), "container not running")

    def resume(self, container_id: str) -> None:
        self._set_frozen(container_id, False, (PAUSED,), "container not paused")

    def _set_frozen(self, container_id: str, frozen: bool, allowed: tuple, refusal: str) -> None:
        lock = self.store.lock(container_id)
        try:
            container = self.store.load(container_id)
            status = container.status()
            if status not in allowed:
                raise StateError(f"container {container_id} is {status}: {refusal}")
            self._cgroup(container).freeze(frozen)
        finally:
            os.close(lock)

    def processes(self, container_id: str) -> list[int]:
        """Host PIDs of every process in the container's cgroup."""
        return self._cgroup_pids(self.store.load(container_id))

    def events(self, container_id: str, emit, interval: float, stats_only: bool = False) -> None:
        """Calls ``emit`` with runc's events: one stats event with ``stats_only``; otherwise
        a stats event every ``interval`` seconds and an "oom" event for every OOM kill, until
        the container's init has exited."""
        import time

        container = self.store.load(container_id)
        if container.status() == STOPPED:
            raise StateError(f"container with id {container_id} is not running")
        cgroup = self._cgroup(container)
        if stats_only:
            emit({"type": "stats", "id": container_id, "data": cgroup.stats()})
            return
        oom_seen = cgroup.oom_kills()
        next_stats = time.monotonic() + interval
        while True:
            alive = container.init_alive()
            kills = cgroup.oom_kills()  # after the liveness check: an OOM-killed init counts
            for _ in range(kills - oom_seen):
                emit({"type": "oom", "id": container_id})
            oom_seen = max(oom_seen, kills)
            if not alive:
                return
            now = time.monotonic()
            if now >= next_stats:
                emit({"type": "stats", "id": container_id, "data": cgroup.stats()})
                next_stats = max(next_stats + interval, now)
            time.sleep(min(_OOM_POLL, max(0.0, next_stats - time.monotonic())))

    # -- update ------------------------------------------------------------------------
    def update(self, container_id: str, delta: dict) -> None:
        """Writes the changed ``linux.resources`` into the cgroup and records the merged
        result in the saved config, so later updates start from it (as runc does)."""
        from .cgroups import from_description
        from .spec.support import check_resources
        from .spec.validate import validate_config
        from .update import merged

        if delta.get("devices") is not None:
            raise NotSupportedError("linux.resources.devices: device rules cannot be changed by update")
        lock = self.store.lock(container_id)
        try:
            container = self.store.load(container_id)
            status = container.status()
            if status in (STOPPED, CREATING):
                raise StateError(f"cannot update container {container_id}: it is {status}")
            linux = container.config.setdefault("linux", {})
            resources = merged(linux.get("resources") or {}, delta)
            validate_config(container.config | {"linux": linux | {"resources": resources}})
            check_resources(resources)
            if "memory" in delta and resources["memory"].get("checkBeforeUpdate"):
                delta = merged(delta, {"memory": {"checkBeforeUpdate": True}})
            self._apply_or_restore(from_description(container.data["cgroup"]), delta,
                                   linux.get("resources") or {})
            linux["resources"] = resources
            container.save()
        finally:
            os.close(lock)

    @staticmethod
    def _apply_or_restore(cgroup, delta: dict, current: dict) -> None:
        """A failed update puts back what it may already have changed (as runc tries to)."""
        try:
            cgroup.apply(delta)
        except OCIError:
            try:
                cgroup.apply({key: current[key] for key in delta if key in current})
            except OCIError:
                pass  # the first error is the one to report
            raise

    # -- delete ------------------------------------------------------------------------
    def delete(self, container_id: str, force: bool = False) -> None:
        """Removes a stopped (or, like runc, a created) container; ``force`` kills a running
        one first.  poststop hooks run last, their failures are only warnings."""
        lock = self.store.lock(container_id)
        try:
            container = self.store.load(container_id)
            status = container.status()
            if status in (RUNNING, PAUSED) and not force:
                raise StateError(f"cannot delete container {container_id} that is not stopped: {status}")
            if status != STOPPED:
                self._kill_all(container)
            self._remove(container)
        finally:
            os.close(lock)
        self._poststop(container)

    def _kill_all(self, container: Container, timeout: float = 10.0) -> None:
        import time

        self._signal_all(container, SIGKILL)
        deadline = time.monotonic() + timeout
        while container.init_alive() or self._cgroup_pids(container):
            if time.monotonic() > deadline:
                raise OCIError(f"container {container.id}: processes did not exit after SIGKILL")
            time.sleep(0.005)

    # -- exec --------------------------------------------------------------------------
    def exec(self, container_id: str, process: dict, detach: bool = False, pid_file: str | None = None,
             console_socket: str | None = None, preserve_fds: int = 0,
             ignore_paused: bool = False) -> int:
        """Runs ``process`` (a runtime-spec process object) in a created, running or (with
        ``ignore_paused``) paused container.  Detached: returns 0 once it has exec'd;
        otherwise waits and returns its exit code, forwarding the signals we get and
        relaying its terminal when it has one and no console socket was given."""
        from .cgroups import from_description
        from .process.attributes import InitContext, sealed_trampoline
        from .process.exec import spawn

        container = self.store.load(container_id)
        _check_exec_state(container.status(), ignore_paused)
        config = container.config | {"process": process}
        capability_sets = self._check_process(config)
        extra_fds = _socket_activation(config) + preserve_fds
        _check_fds_open(extra_fds)
        ctx = InitContext(config, container.data["bundle"], container.data["rootfs"],
                          container.directory, from_description(container.data["cgroup"]),
                          sealed_trampoline(), preserve_fds=extra_fds, capabilities=capability_sets)
        ctx.caller_umask = os.umask(0o022)
        os.umask(ctx.caller_umask)
        ctx.console, ours = _console(config, console_socket, detach)
        if ctx.console is not None:
            from . import terminal  # noqa: F401 - the process needs it inside the container
        master = None
        try:
            try:
                if (config.get("linux") or {}).get("seccomp") is not None:
                    from .security import seccomp

                    # here, on the host: libseccomp cannot be loaded inside the container
                    ctx.seccomp_filter = seccomp.build(config["linux"]["seccomp"])
                    seccomp.connect_listener(ctx.seccomp_filter)
                pid = spawn(ctx, container.pid)
            finally:
                os.close(ctx.trampoline_fd)
                if ctx.console is not None:
                    ctx.console.close()
            master = _receive_terminal(ours)
            if pid_file:
                write_atomic(os.path.abspath(pid_file), str(pid), 0o644)
            if detach:
                return 0
            _forward_signals(pid, _terminal_signals(master))
            return _wait(pid, master)
        finally:
            if ours is not None:
                ours.close()
            if master is not None:
                os.close(master)

    def saved_process(self, container_id: str) -> dict:
        """The ``process`` of the container's config, which ``exec`` starts from."""
        return self.store.load(container_id).config.get("process") or {}

    def _check_process(self, config: dict) -> dict | None:
        """Validates the process like ``create`` does its config; returns its capability
        masks (checked to be grantable)."""
        from .security.capabilities import check_grantable, masks
        from .spec.support import check_process
        from .spec.validate import validate_config

        validate_config(config)
        check_process(config)
        capability_sets = masks(config, self.warn)
        if capability_sets:
            check_grantable(capability_sets)
            self._warn_ambient(capability_sets)
        return capability_sets

    # -- run ---------------------------------------------------------------------------
    def run(self, container_id: str, bundle_path: str, detach: bool = False,
            console_socket: str | None = None, **create_args) -> int:
        """create + start; in the foreground also wait, forward signals, delete, and return
        the container's exit code.  A terminal without a console socket is relayed here."""
        bundle = self._load(container_id, bundle_path)
        console, ours = _console(bundle.config, console_socket, detach)
        master = None
        try:
            try:
                container = self._create(container_id, bundle, console=console, **create_args)
            finally:
                if console is not None:
                    console.close()
            try:
                master = _receive_terminal(ours)
                _, relay = self._start(container_id)
            except BaseException:
                self.delete(container_id, force=True)
                raise
            if detach:
                self._notify(relay, container.pid, container.pid, strict=False)
                return 0
            code = self._wait_foreground(container, relay, master)
        finally:
            if ours is not None:
                ours.close()
            if master is not None:
                os.close(master)
        self.delete(container_id, force=True)
        return code

    def _wait_foreground(self, container: Container, relay, master: int | None) -> int:
        """Forwards our signals to the container's process and waits for it, relaying its
        terminal when we hold the pty ``master``; returns its exit code."""
        _forward_signals(container.pid, _terminal_signals(master))
        # in the foreground the runtime stays the service's main process (runc's MAINPID)
        self._notify(relay, container.pid, os.getpid(), strict=False)
        return _wait(container.pid, master)

def _terminal_signals(master: int | None) -> tuple:
    """With a terminal to relay, SIGWINCH is the terminal's: relay() resizes the pty."""
    import _signal

    return () if master is None else (_signal.SIGWINCH,)


def _wait(pid: int, master: int | None) -> int:
    """Waits for our child ``pid``, relaying its terminal when we hold the pty ``master``;
    returns its exit code."""
    if master is None:
        return _wait_exit(pid)
    from .terminal import relay

    return _exit_code(relay(master, pid))


def _wait_exit(pid: int) -> int:
    """Waits for our child ``pid`` (a foreground ``run``'s init, or a foreground ``exec``'s
    process) and returns its exit code the shell way."""
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        raise ProcessError(f"process {pid} is not a child of this runtime") from None
    return _exit_code(status)


def _exit_code(status: int) -> int:
    """A wait status as a shell reports it: the exit status, or 128+N for signal N."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _forward_signals(pid: int, keep: tuple = ()) -> None:
    """In the foreground the runtime stands for the process: what it gets, ``pid`` gets
    (but the signals in ``keep``)."""
    import _signal

    forwarded = [s for s in _signal.valid_signals()
                 if s not in (_signal.SIGKILL, _signal.SIGSTOP, _signal.SIGCHLD, *keep)]
    for sig in forwarded:
        try:
            _signal.signal(sig, lambda signum, _frame: os.kill(pid, signum))
        except (OSError, ValueError):
            pass


def _check_exec_state(status: str, ignore_paused: bool) -> None:
    """runc's rules: created and running containers take an exec; a paused one only with
    ``ignore_paused``."""
    if status == STOPPED:
        raise StateError("cannot exec in a stopped container")
    if status == CREATING:
        raise StateError("cannot exec in a container that is still being created")
    if status == PAUSED and not ignore_paused:
        raise StateError("cannot exec in a paused container (use --ignore-paused to override)")


def _socket_activation(config: dict) -> int:
    """systemd socket activation as runc does it: when LISTEN_FDS is meant for this process
    (LISTEN_PID), fds 3.. of that many go to the container before the --preserve-fds ones,
    and the process gets LISTEN_FDS=N and LISTEN_PID=1.  Returns N."""
    try:
        if int(os.environ.get("LISTEN_PID", "")) != os.getpid():
            return 0
        count = int(os.environ.get("LISTEN_FDS", ""))
    except ValueError:
        return 0
    if count <= 0:
        return 0
    if "process" in config:
        config["process"].setdefault("env", []).extend([f"LISTEN_FDS={count}", "LISTEN_PID=1"])
    return count


def _console(config: dict, console_socket: str | None, detach: bool):
    """runc's terminal rules, then (socket the init sends the pty master to, our end of it
    when this runtime relays the terminal itself)."""
    terminal = bool(config["process"].get("terminal"))
    if detach and terminal and not console_socket:
        raise OCIError("cannot allocate tty if runc will detach without setting console socket")
    if console_socket and (not detach or not terminal):
        raise OCIError("cannot use console socket if runc will not detach or allocate tty")
    if console_socket:
        from .terminal import connect_console_socket

        return connect_console_socket(console_socket), None
    if terminal:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return theirs, ours
    return None, None


def _receive_terminal(ours) -> int | None:
    """The pty master the init sent over our end of the console socketpair, with our
    terminal's size (before the process starts); None without a terminal to relay."""
    if ours is None:
        return None
    from .terminal import receive_console, take_window_size

    master = receive_console(ours)
    take_window_size(master)
    return master


def _check_fds_open(count: int) -> None:
    """Every fd passed to the process must exist (runc checks the same)."""
    for fd in range(3, 3 + count):
        try:
            os.fstat(fd)
        except OSError:
            raise OCIError(f"--preserve-fds: fd {fd} is not open (the process gets fds "
                           f"3-{2 + count})") from None
