"""Error wording that ociruntime promises and runc does not share
(ociruntime/errors.py: one line, saying what failed and naming the JSON path
or file involved).  Runs for the ociruntime runtime only."""

import pytest

from conftest import failed_create_message

pytestmark = [pytest.mark.root, pytest.mark.runtimes("ociruntime")]


def test_schema_violation_names_the_json_path(runtime, make_bundle):
    b = make_bundle([])
    assert "process.args: [] is too short" in failed_create_message(runtime, b)


def test_schema_type_error_names_the_json_path(runtime, make_bundle):
    b = make_bundle(["true"], process={"user": {"uid": "root"}})
    assert "process.user.uid" in failed_create_message(runtime, b)


def test_malformed_json_names_config_json(runtime, make_bundle):
    b = make_bundle(["true"])
    b.config_path.write_text('{"ociVersion": ')
    msg = failed_create_message(runtime, b)
    assert "config.json" in msg and "invalid JSON" in msg


def test_missing_config_names_config_json(runtime, make_bundle):
    b = make_bundle(["true"])
    b.config_path.unlink()
    assert "config.json" in failed_create_message(runtime, b)


def test_missing_executable_wording(runtime, make_bundle):
    b = make_bundle(["no-such-command"])
    assert 'exec: "no-such-command": executable file not found in $PATH' in failed_create_message(runtime, b)


def test_unknown_container_wording(runtime):
    cp = runtime.run("state", "nope")
    assert cp.returncode != 0
    msg = cp.stderr.strip()
    assert "\n" not in msg
    assert "container nope does not exist" in msg
