"""cgroup v2 (unified hierarchy) behaviour, for ociruntime and the reference runtimes.

Only meaningful on a pure cgroup v2 host, where cgroup2 is mounted at /sys/fs/cgroup
itself; this host is hybrid v1, so the tests run in the v2 VM (see /work/shared/README.md):

    ../shared/cgroup-v2-vm/in-v2-vm.sh '/opt/ociruntime/bin/pytest -m cgroupv2 tests/ -q -p no:cacheprovider'

Code runs 15-20x slower in the VM, so the set is small and every test checks several things
with as few containers as possible.  What is covered: placement of the container in
``<cgroupsPath>`` and its removal, the view from inside a cgroup namespace, the device rules
enforced by the eBPF program, and a relative cgroupsPath nested relative to the caller's
cgroup (below its parent on v2, as runc does).  Each test also asserts that the runtime
itself left nothing behind (state, cgroup directories, processes, mounts) before the
autouse cleanup in conftest.py checks it again.
"""

from pathlib import Path


from conftest import (CGROUP_FS, CGROUP_PARENT, V2_HOST_ONLY, VM_TIMEOUT, cgroup_dirs,
                      remove_cgroup)

pytestmark = V2_HOST_ONLY



def cgroup_dir(cgroups_path: str) -> Path:
    """The host directory of an absolute cgroupsPath in the unified hierarchy."""
    return CGROUP_FS / cgroups_path.lstrip("/")


def procs(directory: Path) -> list[str]:
    return (directory / "cgroup.procs").read_text().split()


def sections(text: str) -> list[list[str]]:
    """Output split at lines '---' into lists of non-empty lines."""
    return [[line for line in part.splitlines() if line.strip()]
            for part in text.split("---\n")]


def test_placement_and_removal(runtime, make_bundle, oci):
    """The init is in exactly <cgroupsPath> (0::<path>), alone, and the directory goes
    with the container."""
    b = make_bundle(["sleep", "100"])
    runtime.run("create", "--bundle", b.path, "--pid-file", b.pid_file, b.id,
                check=True, timeout=VM_TIMEOUT)
    pid = runtime.state(b.id)["pid"]
    assert Path(f"/proc/{pid}/cgroup").read_text() == f"0::{b.cgroups_path}\n"
    directory = cgroup_dir(b.cgroups_path)
    assert procs(directory) == [str(pid)], "only the container's init may be in its cgroup"
    runtime.run("start", b.id, check=True, timeout=VM_TIMEOUT)
    assert procs(directory) == [str(pid)]
    runtime.run("delete", "--force", b.id, check=True, timeout=VM_TIMEOUT)
    assert not directory.exists(), f"{directory} left after delete"
    assert oci.leftovers() == []


def test_cgroup_namespace_sees_own_cgroup(runtime, make_bundle):
    """With a cgroup namespace the container's cgroup is its root: /proc/self/cgroup is
    0::/ and the cgroup2 mount at /sys/fs/cgroup is that cgroup (its cgroup.procs lists
    only the container's processes, none from outside its PID namespace)."""
    b = make_bundle()
    b.set_namespaces("pid", "network", "ipc", "uts", "mount", "cgroup")
    out = runtime.sh(b, "cat /proc/self/cgroup; echo ---; cat /sys/fs/cgroup/cgroup.procs; "
                        "echo ---; ls /sys/fs/cgroup; echo ---; "
                        "grep ' /sys/fs/cgroup ' /proc/self/mountinfo", timeout=VM_TIMEOUT)
    own, members, names, mounts = sections(out)
    assert own == ["0::/"]
    # sh (PID 1) and cat: a process outside the PID namespace would be listed as 0
    assert "1" in members and len(members) == 2 and "0" not in members, members
    assert "cgroup.procs" in names
    assert CGROUP_PARENT not in names, "/sys/fs/cgroup shows the host's root cgroup"
    assert all("." in name for name in names), f"sub-cgroups in the container's: {names}"
    fields = mounts[-1].split()
    assert fields[3] == "/" and fields[fields.index("-") + 1] == "cgroup2", mounts
    assert "ro" in fields[5].split(","), "the config mounts /sys/fs/cgroup read-only"


def test_device_rules_enforced(runtime, make_bundle, oci):
    """The eBPF device program: the default devices work, a node the rules do not allow
    cannot be opened (EPERM; without a filter a b 7:0 node with no loop driver gives ENXIO),
    a linux.devices node (/dev/kmsg, not a default device) with a matching allow rule can be
    used."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_MKNOD"]
    b = make_bundle(process={"capabilities": {"bounding": caps, "effective": caps,
                                              "permitted": caps}})
    b.config["linux"]["devices"] = [{"path": "/dev/kmsg", "type": "c", "major": 1,
                                     "minor": 11, "fileMode": 0o200, "uid": 0, "gid": 0}]
    b.config["linux"]["resources"]["devices"].append(
        {"allow": True, "type": "c", "major": 1, "minor": 11, "access": "w"})
    # /dev is the container's own tmpfs (not nodev, unlike the VM's /tmp where the
    # rootfs lives), so nodes made there can be opened; mknod itself is allowed ("m").
    script = "\n".join([
        # r NAME CMD: prints "NAME: <output> ok" or "NAME: <error message>"
        'r() { if o=$(sh -c "$2" 2>&1); then echo "$1: ${o:+$o }ok"; else echo "$1: $o"; fi; }',
        "r null-write 'echo data > /dev/null'",
        "r null-read 'cat /dev/null'",
        "r mknod-loop 'mknod /dev/loop0 b 7 0'",
        "r open-loop ': < /dev/loop0'",
        "r kmsg-node 'stat -c %t:%T /dev/kmsg'",
        "r kmsg-write 'echo ociruntime-cgroup-v2-test > /dev/kmsg'",
    ])
    out = runtime.sh(b, script, timeout=VM_TIMEOUT)
    got = dict(line.split(": ", 1) for line in out.splitlines())
    assert got["null-write"] == "ok" and got["null-read"] == "ok", got
    assert got["mknod-loop"] == "ok", got
    assert got["open-loop"].endswith("Operation not permitted"), got
    assert got["kmsg-node"] == "1:b ok", got
    assert got["kmsg-write"] == "ok", got
    assert cgroup_dirs(b.cgroups_path) == [] and oci.leftovers() == []


def test_relative_cgroups_path_nested_under_caller(runtime, make_bundle, spawn, oci):
    """A relative cgroupsPath is placed relative to the cgroup of the process that runs
    ``create``, not the root: on v2 below that cgroup's parent (runc's rule: the caller's
    own cgroup has processes, so its children could get no controllers)."""
    top = f"/{CGROUP_PARENT}/{oci.tag}-nest"
    caller_dir = cgroup_dir(f"{top}/caller")
    b = make_bundle(["sleep", "100"], linux={"cgroupsPath": "nested/ctr"})
    b.cgroups_path = top  # the cleanup checks and removes this whole subtree
    caller_dir.mkdir(parents=True)
    # A helper shell moves itself into the caller cgroup, then becomes the runtime.
    err = oci.dir / "create.err"
    with open(err, "w") as ferr:
        helper = spawn(["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(caller_dir),
                        *runtime.command("create", "--bundle", b.path,
                                         "--pid-file", b.pid_file, b.id)],
                       stderr=ferr)
        assert helper.wait(timeout=VM_TIMEOUT) == 0, err.read_text()
    pid = runtime.state(b.id)["pid"]
    expected = f"{top}/nested/ctr"
    assert Path(f"/proc/{pid}/cgroup").read_text() == f"0::{expected}\n"
    assert procs(cgroup_dir(expected)) == [str(pid)]
    runtime.run("delete", "--force", b.id, check=True, timeout=VM_TIMEOUT)
    assert not cgroup_dir(expected).exists(), "the container's cgroup is left after delete"
    assert procs(caller_dir) == [], "the helper has exited"
    assert remove_cgroup(top) == []  # "caller" and the intermediate "nested" are ours
    assert oci.leftovers() == []
