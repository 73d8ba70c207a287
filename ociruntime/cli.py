"""The command line: runc's commands and flags, parsed with click, over ``container.Runtime``.

Only parsing, printing and exit codes live here; every operation is in the library.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import click

from . import SPEC_VERSION, __version__
from .errors import OCIError

DEFAULT_ROOT = "/run/ociruntime"


class _Group(click.Group):
    """Turns every OCIError into one line on stderr (and the log) and exit status 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except OCIError as err:
            logger = ctx.obj["log"] if isinstance(ctx.obj, dict) and "log" in ctx.obj else None
            if logger is None:
                from .log import Logger

                logger = Logger()
            logger.error(str(err))
            sys.exit(1)


def _version(ctx, _param, value):
    if value and not ctx.resilient_parsing:
        click.echo(f"ociruntime version {__version__}\nspec: {SPEC_VERSION}")
        ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Print the version and exit.")
@click.option("--root", default=DEFAULT_ROOT, show_default=True, help="Directory for container state.")
@click.option("--log", "log_path", default=None, help="Append errors and warnings to this file.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--debug", is_flag=True, help="Also log debug messages.")
@click.option("--systemd-cgroup", is_flag=True, help="Use the systemd cgroup driver (needs systemd).")
@click.option("--rootless", type=click.Choice(["true", "false", "auto"]), default="auto",
              help="Rootless mode: only 'false' or 'auto' (which means false for root).")
@click.pass_context
def main(ctx, root, log_path, log_format, debug, systemd_cgroup, rootless):
    """ociruntime: run OCI bundles; runc's command line."""
    from .container import Runtime
    from .log import Logger

    logger = Logger(log_path, log_format, debug)
    ctx.obj = {"log": logger}
    if rootless == "true" or (rootless == "auto" and os.geteuid() != 0):
        raise OCIError("rootless containers are not supported yet: run ociruntime as root")
    ctx.obj["runtime"] = Runtime(root, systemd_cgroup, logger)


def _runtime(ctx):
    return ctx.obj["runtime"]


def _check_console(console_socket: str | None) -> None:
    if console_socket:
        raise OCIError("--console-socket: terminals are not supported yet (process.terminal must be false)")


_create_options = [
    click.option("--bundle", "-b", default=".", help="Path to the bundle (default: current dir)."),
    click.option("--pid-file", default=None, help="Write the init's PID here (no newline)."),
    click.option("--console-socket", default=None, help="Unix socket to receive the pty master."),
    click.option("--no-pivot", is_flag=True, help="Use MS_MOVE + chroot instead of pivot_root."),
    click.option("--no-new-keyring", is_flag=True, help="Keep the caller's session keyring."),
    click.option("--preserve-fds", type=click.IntRange(min=0), default=0,
                 help="Pass this many fds after 0-2 into the container."),
]


def create_options(func):
    for option in reversed(_create_options):
        func = option(func)
    return func


@main.command()
@create_options
@click.argument("container_id")
@click.pass_context
def create(ctx, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds):
    """Create a container; its process waits for `start`."""
    _check_console(console_socket)
    _runtime(ctx).create(container_id, bundle, pid_file=pid_file, no_pivot=no_pivot,
                         no_new_keyring=no_new_keyring, preserve_fds=preserve_fds)


@main.command()
@click.argument("container_id")
@click.pass_context
def start(ctx, container_id):
    """Run the process of a created container."""
    _runtime(ctx).start(container_id)


@main.command()
@create_options
@click.option("--detach", "-d", is_flag=True, help="Do not wait for the container to exit.")
@click.argument("container_id")
@click.pass_context
def run(ctx, container_id, bundle, pid_file, console_socket, no_pivot, no_new_keyring, preserve_fds, detach):
    """Create and start a container; without -d wait and exit with its status."""
    _check_console(console_socket)
    code = _runtime(ctx).run(container_id, bundle, detach=detach, pid_file=pid_file, no_pivot=no_pivot,
                             no_new_keyring=no_new_keyring, preserve_fds=preserve_fds)
    sys.exit(code)


@main.command()
@click.argument("container_id")
@click.pass_context
def state(ctx, container_id):
    """Print the state of a container as JSON."""
    click.echo(json.dumps(_runtime(ctx).state(container_id), indent=2))


def parse_signal(value: str) -> int:
    """A signal as a number, a name (TERM) or a SIG-prefixed name (SIGTERM)."""
    if value.isdigit():
        number = int(value)
        if number not in {int(s) for s in signal.valid_signals()}:
            raise OCIError(f"invalid signal {value!r}")
        return number
    name = value.upper()
    name = name if name.startswith("SIG") else "SIG" + name
    try:
        return int(signal.Signals[name])
    except KeyError:
        raise OCIError(f"invalid signal {value!r}") from None


@main.command()
@click.option("--all", "-a", "all_processes", is_flag=True, help="Signal every process of the container.")
@click.argument("container_id")
@click.argument("signal_name", metavar="[SIGNAL]", default="SIGTERM")
@click.pass_context
def kill(ctx, container_id, signal_name, all_processes):
    """Send a signal (default SIGTERM) to the container's init."""
    _runtime(ctx).kill(container_id, parse_signal(signal_name), all_processes)


@main.command()
@click.option("--force", "-f", is_flag=True, help="Kill the container first if it is running.")
@click.argument("container_id")
@click.pass_context
def delete(ctx, container_id, force):
    """Delete a container and everything it holds."""
    from .errors import ContainerNotFoundError

    try:
        _runtime(ctx).delete(container_id, force)
    except ContainerNotFoundError:
        if not force:
            raise


@main.command(name="list")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--quiet", "-q", is_flag=True, help="Print only the IDs.")
@click.pass_context
def list_(ctx, fmt, quiet):
    """List the containers under --root."""
    states = _runtime(ctx).list()
    if quiet:
        for s in states:
            click.echo(s["id"])
    elif fmt == "json":
        click.echo(json.dumps(states))
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s["owner"] or "root")
                 for s in states]
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            click.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


@main.command()
@click.option("--bundle", "-b", default=".", help="Where to write config.json.")
@click.option("--rootless", is_flag=True, help="A config for rootless containers (not supported yet).")
def spec(bundle, rootless):
    """Write a default config.json into the bundle."""
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


@main.command()
def features():
    """Print the runtime-spec features document: what this build really applies."""
    from .features import features_document

    click.echo(json.dumps(features_document(), indent=2))
