"""The click-free fast parser agrees with click on every command line it accepts."""

import pytest

from ociruntime import cli
from ociruntime.commandline import COMMANDS, fast_parse

ACCEPTED = [
    ["state", "c1"],
    ["--root", "/r", "state", "c1"],
    ["--root=/r", "--log", "/l.json", "--log-format", "json", "--debug", "state", "c1"],
    ["--systemd-cgroup", "--rootless", "false", "start", "c1"],
    ["create", "--bundle", "/b", "--pid-file", "/b/pid", "--console-socket", "/s", "--no-pivot",
     "--no-new-keyring", "c1"],
    ["create", "-b", "/b", "--preserve-fds", "3", "c1"],
    ["create", "c1", "--bundle=/b", "--pid-file=/p"],
    ["run", "-d", "--bundle", "/b", "c1"],
    ["run", "--detach", "c1"],
    ["kill", "c1"],
    ["kill", "c1", "9"],
    ["kill", "--all", "c1", "TERM"],
    ["kill", "-a", "c1", "SIGKILL"],
    ["pause", "c1"],
    ["resume", "c1"],
    ["ps", "c1"],
    ["ps", "--format", "json", "c1"],
    ["ps", "-f", "table", "c1", "-o", "pid,comm"],
    ["ps", "c1", "-ef"],
    ["ps", "c1", "aux", "--format", "json"],
    ["events", "c1"],
    ["events", "--stats", "c1"],
    ["events", "--interval", "250ms", "c1"],
    ["events", "c1", "--interval=1s", "--stats"],
    ["delete", "c1"],
    ["delete", "--force", "c1"],
    ["delete", "-f", "c1"],
    ["list"],
    ["list", "--format", "json"],
    ["list", "-f", "table", "-q"],
    ["spec", "--bundle", "/b"],
    ["features"],
    ["exec", "c1", "sh", "-c", "exit 3"],
    ["exec", "-e", "A=1", "--env=B=2", "-u", "1:2", "--cwd", "/t", "c1", "ls", "-l", "--cwd", "x"],
    ["exec", "--process", "/p.json", "--detach", "--pid-file", "/p", "--console-socket", "/s", "c1"],
    ["exec", "-t", "-c", "CAP_KILL", "--cap", "CAP_CHOWN", "-g", "5", "-g", "6", "--no-new-privs",
     "--apparmor", "a", "--process-label", "l", "--preserve-fds", "2", "--ignore-paused", "c1", "true"],
    ["update", "--memory", "64m", "--memory-swap=-1", "--pids-limit", "-1", "c1"],
    ["update", "-r", "-", "c1"],
    ["update", "c1", "--cpu-shares", "512", "--cpuset-cpus", "0-1"],
    # what engines send: go-runc (containerd) and conmon (podman), both spellings, any order
    ["--root", "/run/containerd/runc/default", "--log", "/b/log.json", "--log-format", "json",
     "create", "--bundle", "/b", "--pid-file", "/b/init.pid", "c1"],
    ["--log-format=json", "--log", "/u/oci-log", "create", "--bundle", "/b", "--pid-file",
     "/u/pidfile", "c1"],
    ["--root=/r", "--log=/l", "--log-format=json", "create", "--pid-file=/p", "c1", "-b", "/b",
     "--no-new-keyring"],
    ["create", "--no-pivot", "c1", "--console-socket=/s", "--preserve-fds=2"],
    ["--root", "/r", "kill", "--all", "c1", "9"],
    ["kill", "c1", "15", "--all"],
    ["ps", "--format=json", "c1"],
    ["update", "--resources", "-", "c1"],
    ["update", "c1", "--resources=/r.json"],
    ["delete", "c1", "--force"],
    ["events", "--stats", "c1", "--interval", "5s"],
]

DECLINED = [
    [], ["--help"], ["-v"], ["--version"], ["state"], ["state", "a", "b"], ["nosuch", "c1"],
    ["--log-format", "yaml", "state", "c1"], ["create", "--preserve-fds", "x", "c1"],
    ["create", "--bundle"], ["delete", "--force=yes", "c1"], ["kill", "c1", "TERM", "extra"],
    ["state", "--help"], ["run", "-df", "c1"], ["--root"], ["ps"], ["ps", "--format", "yaml", "c1"],
    ["pause", "c1", "c2"], ["events", "--interval"], ["exec", "-e"], ["exec", "--preserve-fds", "x", "c1"],
    # click's alone: never on an engine's hot path
    ["checkpoint", "--help"], ["checkpoint", "--image-path", "/i", "c1"], ["restore", "-d", "c1"],
]


def click_parse(argv):
    ctx = cli.main.make_context("ociruntime", list(argv))
    rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
    name, command, args = cli.main.resolve_command(ctx, rest)
    sub = command.make_context(name, args, parent=ctx)
    return ctx.params, name, sub.params


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_fast_parser_matches_click(argv):
    assert fast_parse(argv) == click_parse(argv)


@pytest.mark.parametrize("argv", DECLINED, ids=lambda a: " ".join(a) or "empty")
def test_fast_parser_declines_what_it_does_not_fully_understand(argv):
    assert fast_parse(argv) is None


def test_every_command_is_covered():
    fast = {name for name, cmd in COMMANDS.items() if cmd.fast}
    assert {a[a.index(n)] for a in ACCEPTED for n in COMMANDS if n in a} == fast


@pytest.mark.parametrize("name", ["checkpoint", "restore"])
def test_criu_commands_take_any_runc_flags(name):
    argv = [name, "--image-path", "/i", "--leave-running", "--work-path=/w", "c1"]
    assert click_parse(argv)[2] == {"criu_args": tuple(argv[1:])}
