"""What each command does with its parsed parameters, and the console script's entry point.

``main`` tries the click-free parser first (see ``commandline``); both parsers end in
``dispatch``, so a command behaves the same whichever parsed it.
"""

from __future__ import annotations

import os
import sys

from .errors import OCIError


def main(argv: list[str] | None = None) -> None:
    from .commandline import fast_parse

    argv = sys.argv[1:] if argv is None else argv
    parsed = fast_parse(argv)
    if parsed is None:
        from .cli import click_main

        click_main(argv)
    else:
        _exit(dispatch(*parsed))


def _exit(status: int) -> None:
    """Ends the call once its output is flushed, without the interpreter's teardown (freeing
    every module and object costs a few ms of each of the engine's calls, for nothing).
    Nothing here needs a finalizer: files and locks are released by the kernel."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = status or 1
    os._exit(status)


def dispatch(glob: dict, name: str, params: dict) -> int:
    """Runs command ``name``; an OCIError becomes one logged line and exit status 1."""
    from .log import Logger

    logger = Logger(glob["log_path"], glob["log_format"], glob["debug"])
    try:
        if name in _NO_RUNTIME:
            return _NO_RUNTIME[name](**params) or 0
        return _HANDLERS[name](_runtime(glob, logger), **params) or 0
    except OCIError as err:
        logger.error(str(err))
        return err.exit_code


def _runtime(glob: dict, logger):
    from .container import Runtime

    rootless = glob["rootless"]
    if rootless == "true" or (rootless == "auto" and os.geteuid() != 0):
        raise OCIError("rootless containers are not supported yet: run ociruntime as root")
    return Runtime(glob["root"], glob["systemd_cgroup"], logger)


def create(runtime, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    runtime.create(container_id, bundle, console_socket=console_socket, pid_file=pid_file,
                   no_pivot=no_pivot, no_new_keyring=no_new_keyring, preserve_fds=preserve_fds)


def run(runtime, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds,
        detach):
    return runtime.run(container_id, bundle, detach=detach, console_socket=console_socket,
                       pid_file=pid_file, no_pivot=no_pivot, no_new_keyring=no_new_keyring,
                       preserve_fds=preserve_fds)


def exec_(runtime, container_id, command, process, tty, console_socket, cwd, env, user,
          additional_gids, cap, no_new_privs, apparmor, process_label, detach, pid_file,
          preserve_fds, ignore_paused):
    """runc's exec: the process from --process FILE, or the container's own process with
    CMD and the flags applied.  Every failure exits 255 ("exec failed: ...")."""
    from .errors import ExecError
    from .process import exec as execution

    try:
        if process:
            spec = execution.load_process_file(process)
        else:
            spec = execution.process_from_flags(
                runtime.saved_process(container_id), command, cwd, env, user, additional_gids,
                cap, no_new_privs, apparmor, process_label)
        if tty:
            spec["terminal"] = True
        return runtime.exec(container_id, spec, detach=detach, pid_file=pid_file,
                            console_socket=console_socket, preserve_fds=preserve_fds,
                            ignore_paused=ignore_paused)
    except OCIError as err:
        raise ExecError(f"exec failed: {err}") from None


def start(runtime, container_id):
    runtime.start(container_id)


def state(runtime, container_id):
    from .jsonenc import dumps

    print(dumps(runtime.state(container_id), indent=2))


def kill(runtime, container_id, signal_name, all_processes):
    runtime.kill(container_id, parse_signal(signal_name), all_processes)


def parse_signal(value: str) -> int:
    """A signal as a number, a name (TERM) or a SIG-prefixed name (SIGTERM)."""
    # the C module: signal.py builds enums at import, half the cost of a `kill`
    import _signal

    valid = _signal.valid_signals()
    if value.isdigit():
        number = int(value)
    else:
        name = value.upper()
        # no signal name has an underscore: SIG_DFL, SIG_IGN, ... are not signals
        name = name if name.startswith("SIG") else "SIG" + name
        number = None if "_" in name else getattr(_signal, name, None)
    if not isinstance(number, int) or number not in valid:
        raise OCIError(f"invalid signal {value!r}")
    return number


def pause(runtime, container_id):
    runtime.pause(container_id)


def resume(runtime, container_id):
    runtime.resume(container_id)


def ps(runtime, container_id, fmt, ps_args):
    """JSON: the cgroup's PIDs.  Table: the host's ``ps`` (default ``-ef``), header plus the
    lines whose PID column is one of the container's processes, as runc prints it."""
    import json
    import subprocess

    pids = runtime.processes(container_id)
    if fmt == "json":
        print(json.dumps(pids, separators=(",", ":")))
        return
    result = subprocess.run(["ps", *(ps_args or ("-ef",))], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise OCIError(f"ps: exit status {result.returncode}: {(result.stdout + result.stderr).strip()}")
    header, *lines = result.stdout.splitlines()
    titles = header.split()
    if "PID" not in titles:
        raise OCIError("couldn't find PID field in ps output")
    column = titles.index("PID")
    members = set(pids)
    print(header)
    for line in lines:
        fields = line.split()
        if not fields:
            continue
        if not fields[column].isdigit():
            raise OCIError(f"unable to parse pid: {fields[column]!r}")
        if int(fields[column]) in members:
            print(line)


def events(runtime, container_id, interval, stats):
    import json

    seconds = parse_duration(interval)
    if seconds <= 0:
        raise OCIError("duration interval must be greater than 0")

    def emit(event: dict) -> None:
        sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
        sys.stdout.flush()

    try:
        runtime.events(container_id, emit, seconds, stats)
    except KeyboardInterrupt:
        return 130


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """A Go duration ("5s", "1m30s", "250ms", "0") in seconds, as runc's --interval reads it."""
    body = text[1:] if text[:1] in ("+", "-") else text
    if body == "0":
        return 0.0
    if not body:
        raise _bad_duration(text)
    total = 0.0
    while body:
        number = _leading(body, _in_number)
        unit = _leading(body[len(number):], lambda c: not _in_number(c))
        body = body[len(number) + len(unit):]
        if unit not in _DURATION_UNITS or not number.strip(".") or number.count(".") > 1:
            raise _bad_duration(text)
        total += float(number) * _DURATION_UNITS[unit]
    return -total if text.startswith("-") else total


def _bad_duration(text: str) -> OCIError:
    return OCIError(f"invalid value {text!r} for flag --interval: not a duration like 5s or 250ms")


def _in_number(char: str) -> bool:
    return char.isdigit() or char == "."


def _leading(text: str, accept) -> str:
    end = 0
    while end < len(text) and accept(text[end]):
        end += 1
    return text[:end]


def delete(runtime, container_id, force):
    from .errors import ContainerNotFoundError

    try:
        runtime.delete(container_id, force)
    except ContainerNotFoundError:
        if not force:
            raise


def list_(runtime, fmt, quiet):
    from .jsonenc import dumps

    states = runtime.list()
    if quiet:
        for s in states:
            print(s["id"])
    elif fmt == "json":
        print(dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
                 for s in states]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            print("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def update(runtime, container_id, resources, **flags):
    from .update import requested

    runtime.update(container_id, requested(resources, flags))


def spec(bundle, rootless):
    import json

    from .spec.default import default_config

    if rootless:
        raise OCIError("spec --rootless: rootless containers are not supported yet")
    path = os.path.join(bundle, "config.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        raise OCIError(f"{path} exists: remove it first") from None
    except OSError as err:
        raise OCIError(f"{path}: {err.strerror}") from None
    with os.fdopen(fd, "w") as f:
        json.dump(default_config(), f, indent=2)
        f.write("\n")


def features():
    import json

    from .features import features_document

    print(json.dumps(features_document(), indent=2))


def checkpoint(criu_args):
    raise _no_criu("checkpoint")


def restore(criu_args):
    raise _no_criu("restore")


def _no_criu(name: str) -> OCIError:
    """One line for engines that try checkpoint/restore: ociruntime has no CRIU support."""
    return OCIError(f"{name}: CRIU is not supported by ociruntime (checkpoint/restore are unavailable)")


_HANDLERS = {"create": create, "run": run, "start": start, "exec": exec_, "state": state, "kill": kill,
             "pause": pause, "resume": resume, "ps": ps, "events": events,
             "delete": delete, "list": list_, "update": update}
_NO_RUNTIME = {"spec": spec, "features": features, "checkpoint": checkpoint,
               "restore": restore}
