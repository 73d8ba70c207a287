"""Error wording that ociruntime promises and runc does not share
(ociruntime/errors.py: one line, saying what failed and naming the JSON path
or file involved).  Runs for the ociruntime runtime only."""

import json
import os

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


# Which of these apply depends on the host: the test asks the host the same way an
# administrator would, so it holds on hosts with and without the modules.
_APPARMOR_ON = os.path.exists("/sys/module/apparmor/parameters/enabled") and \
    open("/sys/module/apparmor/parameters/enabled").read().strip() == "Y"
_SELINUX_ON = os.path.exists("/sys/fs/selinux/enforce")


@pytest.mark.skipif(_APPARMOR_ON, reason="AppArmor is enabled on this host")
def test_apparmor_profile_without_apparmor(runtime, make_bundle):
    b = make_bundle(["true"], process={"apparmorProfile": "docker-default"})
    assert failed_create_message(runtime, b).endswith(
        "process.apparmorProfile: AppArmor is not enabled on this host "
        "(/sys/module/apparmor/parameters/enabled is not Y)")


@pytest.mark.skipif(_SELINUX_ON, reason="SELinux is enabled on this host")
@pytest.mark.parametrize("section, field, label", [
    ("process", "selinuxLabel", "system_u:system_r:container_t:s0"),
    ("linux", "mountLabel", "system_u:object_r:container_file_t:s0"),
])
def test_selinux_labels_without_selinux(runtime, make_bundle, section, field, label):
    b = make_bundle(["true"], **{section: {field: label}})
    assert failed_create_message(runtime, b).endswith(
        f"{section}.{field}: SELinux is not enabled on this host (no /sys/fs/selinux/enforce)")


@pytest.mark.skipif(os.path.isdir("/sys/fs/resctrl/info"), reason="resctrl is mounted")
def test_intel_rdt_without_resctrl(runtime, make_bundle):
    b = make_bundle(["true"], linux={"intelRdt": {"closID": "c1", "l3CacheSchema": "L3:0=f"}})
    assert failed_create_message(runtime, b).endswith(
        "linux.intelRdt: this host has no resctrl filesystem mounted at /sys/fs/resctrl")


def test_features_report_the_hosts_security_modules(runtime):
    doc = json.loads(runtime.run("features", check=True).stdout)["linux"]
    assert doc["apparmor"]["enabled"] is _APPARMOR_ON
    assert doc["selinux"]["enabled"] is _SELINUX_ON
    assert doc["intelRdt"]["enabled"] is False


def test_systemd_cgroup_driver_refused_saying_why(runtime, make_bundle):
    b = make_bundle(["true"])
    cp = runtime.run("--systemd-cgroup", "create", "--bundle", b.path, b.id)
    reason = ("the systemd cgroup driver is not implemented: use the cgroupfs driver"
              if os.path.isdir("/run/systemd/system") else "systemd is not running as init on this host")
    assert cp.returncode != 0 and cp.stderr.strip() == f"ociruntime: --systemd-cgroup: {reason}"
    assert runtime.state_entries() == []
