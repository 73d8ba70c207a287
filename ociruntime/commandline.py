"""The command line as data: runc's global flags, commands, options and arguments.

One table serves two parsers.  ``cli.py`` builds the click commands from it (help, every
error message, every unusual spelling).  ``fast_parse`` here reads the plain forms engines
send (``--flag value``, ``--flag=value``, ``-f value``, flags before or after arguments)
without importing click, which costs more than the whole of ``state`` should; anything it
does not fully understand it hands to click.
"""

DEFAULT_ROOT = "/run/ociruntime"


class Opt:
    """One option: its spellings, where its value goes, and how to read it."""

    __slots__ = ("flags", "dest", "help", "kind", "default", "choices")

    def __init__(self, flags: tuple, dest: str, help: str, kind: str = "value", default=None,
                 choices: tuple = ()):
        self.flags = flags
        self.dest = dest
        self.help = help
        self.kind = kind  # "value", "flag", "int" or "multi" (repeatable: a tuple of values)
        self.default = default
        self.choices = choices


class Cmd:
    """One command: help, options, positional arguments (some with defaults) and, with
    ``rest``, the name of a parameter that takes every word after them verbatim (``ps``'s
    options for the host's ps).  ``fast=False`` leaves the command to click alone: commands
    engines never send on a hot path, whose words (``--help`` too) are all ``rest``."""

    __slots__ = ("help", "options", "args", "optional_args", "rest", "fast")

    def __init__(self, help: str, options: tuple = (), args: tuple = ("container_id",),
                 optional_args: dict | None = None, rest: str | None = None, fast: bool = True):
        self.help = help
        self.options = options
        self.args = args
        self.optional_args = optional_args or {}
        self.rest = rest
        self.fast = fast


GLOBAL_OPTIONS = (
    Opt(("--root",), "root", "Directory for container state.", default=DEFAULT_ROOT),
    Opt(("--log",), "log_path", "Append errors and warnings to this file."),
    Opt(("--log-format",), "log_format", "Format of --log.", default="text", choices=("text", "json")),
    Opt(("--debug",), "debug", "Also log debug messages.", kind="flag", default=False),
    Opt(("--systemd-cgroup",), "systemd_cgroup", "Use the systemd cgroup driver (needs systemd).",
        kind="flag", default=False),
    Opt(("--rootless",), "rootless", "Rootless mode: only 'false' or 'auto' (false for root).",
        default="auto", choices=("true", "false", "auto")),
)

_CREATE_OPTIONS = (
    Opt(("--bundle", "-b"), "bundle", "Path to the bundle (default: current dir).", default="."),
    Opt(("--pid-file",), "pid_file", "Write the init's PID here (no newline)."),
    Opt(("--console-socket",), "console_socket", "Unix socket to receive the pty master."),
    Opt(("--no-pivot",), "no_pivot", "Use MS_MOVE + chroot instead of pivot_root.", kind="flag", default=False),
    Opt(("--no-new-keyring",), "no_new_keyring", "Keep the caller's session keyring.", kind="flag",
        default=False),
    Opt(("--preserve-fds",), "preserve_fds", "Pass this many fds after 0-2 into the container.",
        kind="int", default=0),
)

_UPDATE_OPTIONS = tuple(Opt((f"--{flag}", *extra), flag.replace("-", "_"), help) for flag, help, *extra in (
    ("memory", "Memory limit (bytes, or with a unit: 64m; -1: unlimited)."),
    ("memory-reservation", "Memory soft limit (bytes or with a unit)."),
    ("memory-swap", "Memory+swap limit (bytes or with a unit; -1: unlimited)."),
    ("kernel-memory", "Kernel memory limit (where the kernel still applies one)."),
    ("kernel-memory-tcp", "Kernel TCP buffer limit (bytes or with a unit)."),
    ("cpu-share", "CPU shares (relative weight).", "--cpu-shares"),
    ("cpu-quota", "CFS quota per period (microseconds; -1: none)."),
    ("cpu-period", "CFS period (microseconds)."),
    ("cpu-rt-runtime", "Realtime runtime per period (microseconds)."),
    ("cpu-rt-period", "Realtime period (microseconds)."),
    ("cpuset-cpus", "CPUs to run on (e.g. 0-1,3)."),
    ("cpuset-mems", "Memory nodes to use."),
    ("pids-limit", "Maximum number of processes (-1: unlimited)."),
    ("blkio-weight", "Block IO weight (10-1000)."),
    ("l3-cache-schema", "Intel RDT L3 cache schema (not supported)."),
    ("mem-bw-schema", "Intel RDT memory bandwidth schema (not supported)."),
))

COMMANDS = {
    "create": Cmd("Create a container; its process waits for `start`.", _CREATE_OPTIONS),
    "start": Cmd("Run the process of a created container."),
    "run": Cmd("Create and start a container; without -d wait and exit with its status.",
               (*_CREATE_OPTIONS, Opt(("--detach", "-d"), "detach", "Do not wait for the container to exit.",
                                      kind="flag", default=False))),
    "state": Cmd("Print the state of a container as JSON."),
    "kill": Cmd("Send a signal (default SIGTERM) to the container's init.",
                (Opt(("--all", "-a"), "all_processes", "Signal every process of the container.",
                     kind="flag", default=False),),
                ("container_id", "signal_name"), {"signal_name": "SIGTERM"}),
    "pause": Cmd("Suspend every process of the container (cgroup freezer)."),
    "resume": Cmd("Resume the processes of a paused container."),
    "ps": Cmd("List the container's processes: host ps output (default -ef) or a JSON array of PIDs.",
              (Opt(("--format", "-f"), "fmt", "Output format.", default="table", choices=("table", "json")),),
              rest="ps_args"),
    "events": Cmd("Print the container's stats every interval and its OOM kills as JSON lines, until "
                  "it stops.",
                  (Opt(("--interval",), "interval", "Time between stats events (Go duration).", default="5s"),
                   Opt(("--stats",), "stats", "Print the stats once and exit.", kind="flag", default=False))),
    "delete": Cmd("Delete a container and everything it holds.",
                  (Opt(("--force", "-f"), "force", "Kill the container first if it is running.",
                       kind="flag", default=False),)),
    "list": Cmd("List the containers under --root.",
                (Opt(("--format", "-f"), "fmt", "Output format.", default="table", choices=("table", "json")),
                 Opt(("--quiet", "-q"), "quiet", "Print only the IDs.", kind="flag", default=False)),
                ()),
    "spec": Cmd("Write a default config.json into the bundle.",
                (Opt(("--bundle", "-b"), "bundle", "Where to write config.json.", default="."),
                 Opt(("--rootless",), "rootless", "A config for rootless containers (not supported yet).",
                     kind="flag", default=False)),
                ()),
    "update": Cmd("Change the resource limits of a created, running or paused container.",
                  (Opt(("--resources", "-r"), "resources", "JSON file with linux.resources to change "
                       "('-': stdin); all other options are then ignored."),
                   *_UPDATE_OPTIONS)),
    "exec": Cmd("Run one more process in a container; without -d wait and exit with its status "
                 "(255: it could not be started).",
                 (Opt(("--process", "-p"), "process", "JSON file with the runtime-spec process (the "
                      "command line's CMD and process flags are then ignored)."),
                  Opt(("--tty", "-t"), "tty", "Allocate a pseudo-TTY.", kind="flag", default=False),
                  Opt(("--console-socket",), "console_socket", "Unix socket to receive the pty master."),
                  Opt(("--cwd",), "cwd", "Working directory in the container."),
                  Opt(("--env", "-e"), "env", "Add an environment variable (K=V; repeatable).",
                      kind="multi", default=()),
                  Opt(("--user", "-u"), "user", "Run as uid[:gid]."),
                  Opt(("--additional-gids", "-g"), "additional_gids", "Add a supplementary group "
                      "(repeatable).", kind="multi", default=()),
                  Opt(("--cap", "-c"), "cap", "Add a capability (repeatable).", kind="multi", default=()),
                  Opt(("--no-new-privs",), "no_new_privs", "Set no_new_privs for the process.",
                      kind="flag", default=False),
                  Opt(("--apparmor",), "apparmor", "AppArmor profile of the process."),
                  Opt(("--process-label",), "process_label", "SELinux label of the process."),
                  Opt(("--detach", "-d"), "detach", "Return once the process runs.", kind="flag",
                      default=False),
                  Opt(("--pid-file",), "pid_file", "Write the process's PID here (no newline)."),
                  Opt(("--preserve-fds",), "preserve_fds", "Pass this many fds after 0-2 to the process.",
                      kind="int", default=0),
                  Opt(("--ignore-paused",), "ignore_paused", "Allow an exec in a paused container.",
                      kind="flag", default=False)),
                 rest="command"),
    "features": Cmd("Print the runtime-spec features document: what this build really applies.", (), ()),
    # runc's CRIU commands: engines probe them (``checkpoint --help``); any other use gets one
    # line saying they are not supported, whatever runc flags it carries
    "checkpoint": Cmd("Checkpoint a running container with CRIU (not supported).", (), (),
                      rest="criu_args", fast=False),
    "restore": Cmd("Restore a container from a CRIU checkpoint (not supported).", (), (),
                   rest="criu_args", fast=False),
}


def _defaults(options: tuple) -> dict:
    return {o.dest: o.default for o in options}


def _take_option(options: tuple, argv: list, i: int, values: dict) -> int | None:
    """Consumes the option at ``argv[i]``; returns the next index, or None if unknown."""
    word, eq, inline = argv[i].partition("=")
    for opt in options:
        if word not in opt.flags:
            continue
        if opt.kind == "flag":
            if eq:
                return None
            values[opt.dest] = True
            return i + 1
        if eq:
            value, nxt = inline, i + 1
        elif i + 1 < len(argv):
            value, nxt = argv[i + 1], i + 2
        else:
            return None
        if opt.choices and value not in opt.choices:
            return None
        if opt.kind == "int":
            if not value.isdigit():
                return None
            value = int(value)
        values[opt.dest] = (*values[opt.dest], value) if opt.kind == "multi" else value
        return nxt
    return None


def fast_parse(argv: list) -> tuple | None:
    """(global options, command, command parameters), or None to let click parse ``argv``."""
    glob = _defaults(GLOBAL_OPTIONS)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i = _take_option(GLOBAL_OPTIONS, argv, i, glob)
        if i is None:
            return None
    if i >= len(argv) or argv[i] not in COMMANDS or not COMMANDS[argv[i]].fast:
        return None
    name = argv[i]
    cmd = COMMANDS[name]
    params = _defaults(cmd.options)
    if cmd.rest:
        params[cmd.rest] = ()
    positional = []
    i += 1
    while i < len(argv):
        word = argv[i]
        if cmd.rest and len(positional) == len(cmd.args):
            params[cmd.rest] = tuple(argv[i:])
            break
        if word.startswith("-") and word != "-":
            i = _take_option(cmd.options, argv, i, params)
            if i is None:
                return None
        else:
            positional.append(word)
            i += 1
    required = [a for a in cmd.args if a not in cmd.optional_args]
    if not len(required) <= len(positional) <= len(cmd.args):
        return None
    params.update(cmd.optional_args)
    params.update(zip(cmd.args, positional))
    return glob, name, params
