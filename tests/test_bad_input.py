"""Bad input: the runtime exits non-zero with a one-line message (on stderr,
or as exactly one JSON line in the --log file) and leaves nothing behind: no
state, no cgroup, no mount, no process, no pid file.

Only wording every runc-compatible runtime shares is checked here; the
wording specific to ociruntime is in test_errors_ociruntime.py.
"""

import json
import os

import pytest

pytestmark = pytest.mark.root


def _missing_bundle(b):
    b.path = b.path + "-missing"
    return "-missing"


def _no_config(b):
    b.config_path.unlink()
    return "config.json"


def _malformed_json(b):
    b.config_path.write_text('{"ociVersion": "1.0.2", "process": {')
    return None


def _empty_args(b):
    b.config["process"]["args"] = []
    b.write()
    return None


def _bare_name_not_found(b):
    b.config["process"]["args"] = ["no-such-command"]
    b.write()
    return "executable file not found in $PATH"


def _absolute_path_not_found(b):
    b.config["process"]["args"] = ["/bin/no-such-command"]
    b.write()
    return "no such file or directory"


def _not_executable(b):
    b.config["process"]["args"] = ["/etc/passwd"]
    b.write()
    return "permission denied"


def _missing_rootfs(b):
    b.config["root"]["path"] = "no-such-rootfs"
    b.write()
    return "no-such-rootfs"


CASES = {
    "missing-bundle": _missing_bundle,
    "no-config-json": _no_config,
    "malformed-json": _malformed_json,
    "schema-empty-args": _empty_args,
    "exe-not-in-path": _bare_name_not_found,
    "exe-abs-missing": _absolute_path_not_found,
    "exe-not-executable": _not_executable,
    "missing-rootfs": _missing_rootfs,
}


def error_message(cp, log_file):
    """The one error message: the single stderr line, or the single JSON
    line of the --log file."""
    if log_file is None:
        text = cp.stderr.strip()
        assert text, "no error message on stderr"
        assert "\n" not in text, f"expected a one-line message on stderr, got:\n{text}"
        return text
    assert log_file.exists(), "nothing was written to the --log file"
    lines = [line for line in log_file.read_text().splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line in the log, got {lines}"
    entry = json.loads(lines[0])
    assert entry.get("level") == "error", entry
    assert entry.get("msg"), entry
    assert "time" in entry, entry
    return entry["msg"]


@pytest.mark.parametrize("log", ["stderr", "json-log"])
@pytest.mark.parametrize("command", ["create", "run"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input(runtime, make_bundle, oci, case, command, log):
    b = make_bundle(["true"])
    expected = CASES[case](b)
    log_file = None
    global_args = []
    if log == "json-log":
        log_file = oci.dir / "log.json"
        global_args = ["--log", log_file, "--log-format", "json"]
    mounts_before = oci.mounts_under_session()
    args = [*global_args, command, "--bundle", b.path]
    if command == "create":
        args += ["--pid-file", b.pid_file]
    cp = runtime.run(*args, b.id)
    assert cp.returncode != 0, f"{command} succeeded: {cp.stdout} {cp.stderr}"
    msg = error_message(cp, log_file)
    if expected:
        assert expected in msg, f"{expected!r} not in {msg!r}"
    # nothing left behind
    assert oci.leftovers(mounts_before) == []
    assert not os.path.exists(b.pid_file)
    st = runtime.run("state", b.id)
    assert st.returncode != 0 and "does not exist" in st.stderr
