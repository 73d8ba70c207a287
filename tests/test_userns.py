"""User namespaces (linux.uidMappings/gidMappings, a "user" namespace created or joined)
and time namespaces (linux.timeOffsets): checked from inside the container."""

import os

import pytest

from conftest import failed_create_message

pytestmark = pytest.mark.root

HOST_BASE = 100000
MAPS = {"uidMappings": [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}],
        "gidMappings": [{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]}
NAMESPACES = ["pid", "network", "ipc", "uts", "mount", "user"]


def _userns_bundle(make_bundle, **overrides):
    b = make_bundle(linux=MAPS, **overrides)
    return b.set_namespaces(*NAMESPACES)


def _map(text):
    return [line.split() for line in text.strip().splitlines()]


def test_maps_are_applied(runtime, make_bundle):
    b = _userns_bundle(make_bundle)
    out = runtime.sh(b, "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g").splitlines()
    assert _map("\n".join(out[:2])) == [["0", str(HOST_BASE), "65536"]] * 2
    assert out[2:] == ["0", "0"]


def test_container_root_is_the_mapped_host_uid(runtime, make_bundle):
    """Seen from the host, the container's processes run as the mapped IDs."""
    b = _userns_bundle(make_bundle, process={"args": ["sleep", "30"]})
    runtime.create(b)
    pid = runtime.state(b.id)["pid"]
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f)
    assert status["Uid"].split() == [str(HOST_BASE)] * 4
    assert status["Gid"].split() == [str(HOST_BASE)] * 4
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")


def test_process_user_is_mapped(runtime, make_bundle):
    b = _userns_bundle(make_bundle)
    b.merge(process={"user": {"uid": 1000, "gid": 1000, "additionalGids": [10]}})
    assert runtime.sh(b, "id -u; id -g; id -G").split() == ["1000", "1000", "1000", "10"]


def test_files_created_by_the_runtime_belong_to_container_root(runtime, make_bundle):
    """Mount points and devices made for the container are owned by its root, which the
    host sees as the mapped uid."""
    b = _userns_bundle(make_bundle, root={"readonly": False})
    b.add_mount("/newdir", b.host_dir)
    # a private, writable rootfs owned by the container's root (its symlinks are shared)
    for dirpath, dirnames, filenames in os.walk(b.rootfs):
        for name in [dirpath, *(os.path.join(dirpath, n) for n in dirnames + filenames)]:
            if not os.path.islink(name):
                os.chown(name, HOST_BASE, HOST_BASE)
    os.chown(b.host_dir, HOST_BASE + 5, HOST_BASE + 5)
    lines = runtime.sh(b, "stat -c '%u %g' /newdir /dev/pts").splitlines()
    assert lines[0] == "5 5"           # a bind-mounted host dir: host owner, mapped
    assert lines[1] == "0 0"           # devpts made inside the namespace


def test_devices_are_bound_from_the_host(runtime, make_bundle):
    """No mknod in a user namespace: the default devices are the host's, bind-mounted."""
    b = _userns_bundle(make_bundle)
    lines = runtime.sh(b, "stat -c '%t:%T %F' /dev/null /dev/zero /dev/urandom; "
                          "echo x > /dev/null && head -c 3 /dev/zero | wc -c").splitlines()
    assert lines[:3] == ["1:3 character special file", "1:5 character special file",
                         "1:9 character special file"]
    assert lines[3].strip() == "3"


def test_capabilities_are_namespaced(runtime, make_bundle):
    """Full capabilities in the container do not reach host-owned resources: the host's
    hostname cannot be changed, mounting works inside."""
    b = _userns_bundle(make_bundle)
    b.merge(process={"capabilities": {k: ["CAP_SYS_ADMIN"] for k in
                                      ("bounding", "effective", "permitted")}})
    host_name = os.uname().nodename
    script = "hostname inside && hostname; mount -t tmpfs t /tmp && echo mounted"
    assert runtime.sh(b, script).split() == ["inside", "mounted"]
    assert os.uname().nodename == host_name


def test_joined_user_namespace(runtime, make_bundle):
    """Joining by path: the container shares the namespace (and its maps) of another."""
    first = _userns_bundle(make_bundle, process={"args": ["sleep", "30"]})
    runtime.create(first)
    pid = runtime.state(first.id)["pid"]
    b = make_bundle(linux=MAPS, hostname=None)
    b.set_namespaces("pid", "ipc", "uts", "mount", user=f"/proc/{pid}/ns/user",
                     network=f"/proc/{pid}/ns/net")
    assert _map(runtime.sh(b, "cat /proc/self/uid_map")) == [["0", str(HOST_BASE), "65536"]]


@pytest.mark.runtimes("ociruntime")
def test_joined_user_namespace_with_other_maps_is_refused(runtime, make_bundle):
    first = _userns_bundle(make_bundle, process={"args": ["sleep", "30"]})
    runtime.create(first)
    pid = runtime.state(first.id)["pid"]
    other = {"uidMappings": [{"containerID": 0, "hostID": 200000, "size": 10}],
             "gidMappings": MAPS["gidMappings"]}
    b = make_bundle(["true"], linux=other, hostname=None)
    b.set_namespaces("pid", "ipc", "uts", "mount", user=f"/proc/{pid}/ns/user",
                     network=f"/proc/{pid}/ns/net")
    message = failed_create_message(runtime, b)
    assert "linux.uidMappings: do not match the joined user namespace" in message
    assert f"0 {HOST_BASE} 65536" in message


@pytest.mark.runtimes("ociruntime")
@pytest.mark.parametrize("linux, namespaces, expected", [
    (MAPS, ["pid", "mount"], 'linux.uidMappings: given without a user namespace'),
    ({}, NAMESPACES, "linux.uidMappings: required to create a user namespace"),
    ({"uidMappings": [{"containerID": 0, "hostID": HOST_BASE, "size": 10},
                      {"containerID": 5, "hostID": HOST_BASE, "size": 10}],
      "gidMappings": MAPS["gidMappings"]}, NAMESPACES,
     "linux.uidMappings: the kernel refused the map: Invalid argument"),
    ({"timeOffsets": {"monotonic": {"secs": 1}}}, ["pid", "mount"],
     "linux.timeOffsets: given without a time namespace"),
    ({"timeOffsets": {"realtime": {"secs": 1}}}, ["pid", "mount", "time"],
     "linux.timeOffsets.realtime: not a clock a time namespace can offset"),
    ({"timeOffsets": {"boottime": {"nanosecs": 1000000000}}}, ["pid", "mount", "time"],
     "linux.timeOffsets.boottime.nanosecs: 1000000000 is not below one second"),
])
def test_config_errors(runtime, make_bundle, linux, namespaces, expected):
    b = make_bundle(["true"], linux=linux, hostname=None)
    b.set_namespaces(*namespaces)
    assert expected in failed_create_message(runtime, b)


# --- time namespaces ----------------------------------------------------------

TIME_XFAIL = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 does not know the time namespace (support came with runc 1.2): "
    "it refuses the config")


def _uptime(text):
    return float(text.split()[0])


@TIME_XFAIL
def test_time_offsets(runtime, make_bundle):
    """A boottime offset shows in /proc/uptime; monotonic in the namespace's offsets."""
    b = make_bundle(hostname=None, linux={"timeOffsets": {"boottime": {"secs": 86400 * 365},
                                           "monotonic": {"secs": 3600, "nanosecs": 5}}})
    b.set_namespaces("pid", "mount", "time")
    host_uptime = _uptime(open("/proc/uptime").read())
    lines = runtime.sh(b, "cat /proc/uptime /proc/self/timens_offsets").splitlines()
    assert _uptime(lines[0]) - host_uptime > 86400 * 365 - 60
    assert sorted(line.split() for line in lines[1:]) == [
        ["boottime", str(86400 * 365), "0"], ["monotonic", "3600", "5"]]


@TIME_XFAIL
def test_time_namespace_without_offsets(runtime, make_bundle):
    b = make_bundle(hostname=None)
    b.set_namespaces("pid", "mount", "time")
    assert runtime.sh(b, "readlink /proc/self/ns/time").strip() != os.readlink("/proc/self/ns/time")


@TIME_XFAIL
def test_joined_time_namespace(runtime, make_bundle):
    first = make_bundle(["sleep", "30"], hostname=None,
                        linux={"timeOffsets": {"boottime": {"secs": 1000}}})
    first.set_namespaces("pid", "mount", "time")
    runtime.create(first)
    pid = runtime.state(first.id)["pid"]
    b = make_bundle(hostname=None)
    b.set_namespaces("pid", "mount", time=f"/proc/{pid}/ns/time")
    assert runtime.sh(b, "readlink /proc/self/ns/time").strip() == os.readlink(f"/proc/{pid}/ns/time")
