"""The click command line, built from the table in ``commandline``.

Used whenever the fast parser declines: ``--help``, ``--version``, unusual spellings and
every usage error, which click reports.
"""

from __future__ import annotations

import sys

import click

from . import SPEC_VERSION, __version__
from .commandline import COMMANDS, GLOBAL_OPTIONS, Opt
from .commands import dispatch


def _option(opt: Opt) -> click.Option:
    kwargs = {"help": opt.help, "default": opt.default, "show_default": opt.default not in (None, False, ())}
    if opt.kind == "multi":
        kwargs["multiple"] = True
    elif opt.kind == "flag":
        kwargs["is_flag"] = True
    elif opt.kind == "int":
        kwargs["type"] = click.IntRange(min=0)
    elif opt.choices:
        kwargs["type"] = click.Choice(opt.choices)
    return click.Option([*opt.flags, opt.dest], **kwargs)


def _version(ctx, _param, value):
    """runc's line format (``runc version X``, ``commit: ...``, ``spec: ...``), which
    containerd's go-runc and podman parse line by line."""
    if value and not ctx.resilient_parsing:
        click.echo(f"ociruntime version {__version__}\ncommit: {_commit()}\nspec: {SPEC_VERSION}\n"
                   f"python: {sys.version.split()[0]}")
        ctx.exit()


def _commit() -> str:
    """The commit setup.py recorded at build time (``unknown`` when not built from git)."""
    import os

    try:
        with open(os.path.join(os.path.dirname(__file__), "COMMIT"), encoding="ascii") as f:
            return f.read().strip() or "unknown"
    except OSError:
        return "unknown"


def _command(name: str) -> click.Command:
    cmd = COMMANDS[name]
    params = [_option(o) for o in cmd.options]
    for arg in cmd.args:
        if arg in cmd.optional_args:
            metavar = f"[{arg.split('_')[0].upper()}]"
            params.append(click.Argument([arg], required=False, default=cmd.optional_args[arg], metavar=metavar))
        else:
            params.append(click.Argument([arg]))
    settings = {}
    if cmd.rest:
        params.append(click.Argument([cmd.rest], nargs=-1, type=click.UNPROCESSED))
        settings = {"ignore_unknown_options": True, "allow_interspersed_args": False}

    @click.pass_context
    def callback(ctx, **values):
        ctx.exit(dispatch(ctx.obj, name, values))

    return click.Command(name, params=params, callback=callback, help=cmd.help, context_settings=settings)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_version,
              help="Print the version and exit.")
@click.pass_context
def main(ctx, **glob):
    """ociruntime: run OCI bundles; runc's command line."""
    ctx.obj = glob


main.params.extend(_option(o) for o in GLOBAL_OPTIONS)
for _name in COMMANDS:
    main.add_command(_command(_name))


def click_main(argv: list[str]) -> None:
    """click's own output; a usage error also goes to ``--log``, where containerd looks for
    the reason a call failed (without it: "unable to retrieve OCI runtime error")."""
    try:
        code = main.main(args=argv, prog_name="ociruntime", standalone_mode=False)
    except click.ClickException as err:
        err.show()
        _log_usage_error(argv, err.format_message())
        sys.exit(err.exit_code)
    except click.Abort:
        sys.exit(1)
    sys.exit(code or 0)


def _log_usage_error(argv: list[str], message: str) -> None:
    from .commandline import _defaults, _take_option
    from .log import Logger

    glob, i = _defaults(GLOBAL_OPTIONS), 0
    while i is not None and i < len(argv) and argv[i].startswith("-"):
        i = _take_option(GLOBAL_OPTIONS, argv, i, glob)
    Logger(glob["log_path"], glob["log_format"]).write("error", message.replace("\n", " "))
