"""Idmapped mounts (config.md "Mounts": uidMappings/gidMappings, the idmap and ridmap
options): owners as the container sees them, what still applies on top, and the errors."""

import os
import subprocess
from pathlib import Path

import pytest

from conftest import failed_create_message, parse_mountinfo

pytestmark = pytest.mark.root

RUNC_IGNORES = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 has no idmapped mounts (they came with runc 1.2): it ignores "
    "uidMappings/gidMappings and passes idmap/ridmap to mount(2) as data, which a bind "
    "mount ignores, so the files keep their on-disk owners")
RUNC_ACCEPTS = pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 has no idmapped mounts (they came with runc 1.2): it creates "
    "the container instead of reporting the error the spec requires")

# containerID, hostID, size: two ranges each, so that multi-line maps are covered
UID_MAPPINGS = [{"containerID": 0, "hostID": 100000, "size": 1000},
                {"containerID": 1000, "hostID": 5000, "size": 10}]
GID_MAPPINGS = [{"containerID": 0, "hostID": 200000, "size": 3000}]
# on-disk owner -> owner seen through the mount (65534: unmapped, the overflow ids)
FILES = {"root": ((0, 0), (100000, 200000)),
         "user": ((999, 1000), (100999, 201000)),
         "second": ((1001, 2999), (5001, 202999)),
         "unmapped": ((4000, 4000), (65534, 65534))}


def _source(directory: Path) -> Path:
    directory.mkdir()
    for name, ((uid, gid), _) in FILES.items():
        (directory / name).write_text(name)
        os.chown(directory / name, uid, gid)
    return directory


def _idmapped(bundle, source, options, destination="/mnt/a", **mappings):
    bundle.config.setdefault("mounts", []).append(
        {"destination": destination, "type": "bind", "source": str(source),
         "options": options, **mappings})
    return bundle.write()


def _owners(runtime, bundle, directory, names):
    out = runtime.sh(bundle, "cd %s && stat -c '%%n %%u %%g' %s" % (directory, " ".join(names)))
    return {name: (int(uid), int(gid)) for name, uid, gid in map(str.split, out.splitlines())}


@RUNC_IGNORES
@pytest.mark.parametrize("option", [["idmap"], ["ridmap"], []])
def test_owners_are_mapped(runtime, make_bundle, oci, option):
    """Without an option the mappings still apply (the option is only a SHOULD)."""
    source = _source(oci.dir / "src")
    b = _idmapped(make_bundle(), source, ["rbind", *option],
                  uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    seen = _owners(runtime, b, "/mnt/a", FILES)
    assert seen == {name: mapped for name, (_, mapped) in FILES.items()}
    # the files themselves are untouched
    assert {n: (os.stat(source / n).st_uid, os.stat(source / n).st_gid) for n in FILES} == \
        {name: disk for name, (disk, _) in FILES.items()}


@RUNC_IGNORES
def test_other_options_still_apply(runtime, make_bundle, oci):
    source = _source(oci.dir / "src")
    b = _idmapped(make_bundle(), source, ["bind", "idmap", "ro", "nosuid", "nodev", "private"],
                  uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    out = runtime.sh(b, "stat -c '%u %g' /mnt/a/user; touch /mnt/a/new 2>&1; "
                        "echo ---; cat /proc/self/mountinfo")
    head, _, minfo = out.partition("---\n")
    assert head.splitlines()[0] == "100999 201000"
    assert "Read-only file system" in head
    mount = [m for m in parse_mountinfo(minfo) if m["mountpoint"] == "/mnt/a"][-1]
    assert {"ro", "nosuid", "nodev", "idmapped"} <= set(mount["options"])
    assert not any(o.startswith("shared:") or o.startswith("master:") for o in mount["optional"])


@pytest.fixture
def nested_tmpfs(oci):
    """A source directory with a tmpfs mounted below it, holding a file owned by 999:1000."""
    source = _source(oci.dir / "src")
    sub = source / "sub"
    sub.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(sub)], check=True)
    try:
        (sub / "f").write_text("nested")
        os.chown(sub / "f", 999, 1000)
        yield source
    finally:
        subprocess.run(["umount", str(sub)], check=True)


@RUNC_IGNORES
@pytest.mark.parametrize("option, nested_owner", [
    ("ridmap", (100999, 201000)),   # the mapping reaches the tmpfs below the source
    ("idmap", (999, 1000)),         # only the top mount is idmapped
])
def test_ridmap_maps_the_mounts_below(runtime, make_bundle, nested_tmpfs, option, nested_owner):
    b = _idmapped(make_bundle(), nested_tmpfs, ["rbind", option],
                  uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    seen = _owners(runtime, b, "/mnt/a", ["user", "sub/f"])
    assert seen == {"user": (100999, 201000), "sub/f": nested_owner}


@RUNC_IGNORES
def test_same_and_different_mappings_on_several_mounts(runtime, make_bundle, oci):
    source = _source(oci.dir / "src")
    other = [{"containerID": 999, "hostID": 7, "size": 1}]
    b = make_bundle()
    _idmapped(b, source, ["bind", "idmap"], "/mnt/a", uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    _idmapped(b, source, ["bind", "idmap"], "/mnt/b", uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    _idmapped(b, source, ["bind", "idmap"], "/mnt/c", uidMappings=other, gidMappings=other)
    out = runtime.sh(b, "stat -c '%u %g' /mnt/a/user /mnt/b/user /mnt/c/user /mnt/c/root")
    assert out.split("\n")[:4] == ["100999 201000", "100999 201000", "7 65534", "65534 65534"]


@RUNC_IGNORES
def test_nothing_leaks_into_the_container(runtime, make_bundle, oci):
    """Only fds 0-2 reach the process, and no helper process outlives create."""
    source = _source(oci.dir / "src")
    b = _idmapped(make_bundle(["sleep", "60"]), source, ["bind", "idmap"],
                  uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    runtime.create(b)
    pid = int(Path(b.pid_file).read_text())
    runtime.start(b.id)
    runtime.wait_status(b.id, "running")
    assert sorted(os.listdir(f"/proc/{pid}/fd"), key=int) == ["0", "1", "2"]
    assert os.stat(f"/proc/{pid}/root/mnt/a/user").st_uid == 100999
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != pid
                 and b.id.encode() in _cmdline(p)]
    assert leftovers == []
    runtime.delete(b.id, force=True)


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@RUNC_IGNORES
def test_option_alone_uses_the_container_user_namespace(runtime, make_bundle, oci):
    """idmap without mount mappings takes the container's: on-disk owners then show
    unchanged inside a user-namespaced container (the point: files owned by 0 on disk
    belong to the container's root)."""
    ids = [{"containerID": 0, "hostID": 300000, "size": 65536}]
    source = _source(oci.dir / "src")
    b = make_bundle(linux={"uidMappings": ids, "gidMappings": ids})
    b.set_namespaces("pid", "network", "ipc", "uts", "mount", "user")
    _idmapped(b, source, ["bind", "idmap"])
    seen = _owners(runtime, b, "/mnt/a", FILES)
    assert seen == {name: disk for name, (disk, _) in FILES.items()}


# --- errors -------------------------------------------------------------------

@RUNC_ACCEPTS
@pytest.mark.parametrize("option", ["idmap", "ridmap"])
def test_option_without_any_mappings(runtime, make_bundle, oci, option):
    """config.md: no mount mappings and no user namespace: an error MUST be returned."""
    b = _idmapped(make_bundle(["true"]), _source(oci.dir / "src"), ["rbind", option])
    msg = failed_create_message(runtime, b)
    assert msg.endswith(f"mounts[{len(b.config['mounts']) - 1}].options: '{option}' needs "
                        "uidMappings and gidMappings: the mount has none and the container "
                        "no user namespace mappings")


@RUNC_ACCEPTS
@pytest.mark.parametrize("change, expected", [
    ({"gidMappings": []}, ".gidMappings: required (non-empty) with the other mappings of an "
                          "idmapped mount"),
    ({"uidMappings": UID_MAPPINGS + [{"containerID": 10, "hostID": 0, "size": 1}]},
     ".uidMappings: the kernel refused the map: Invalid argument (overlapping or out-of-range?)"),
])
def test_bad_idmapped_mounts(runtime, make_bundle, oci, change, expected):
    b = _idmapped(make_bundle(["true"]), _source(oci.dir / "src"), ["bind", "idmap"],
                  uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    b.config["mounts"][-1].update(change)
    b.write()
    index = len(b.config["mounts"]) - 1
    assert failed_create_message(runtime, b).endswith(f"mounts[{index}]{expected}")


@RUNC_ACCEPTS
def test_filesystem_without_idmapped_mounts(runtime, make_bundle):
    b = _idmapped(make_bundle(["true"]), "/sys/kernel", ["bind", "idmap"],
                  uidMappings=UID_MAPPINGS, gidMappings=GID_MAPPINGS)
    index = len(b.config["mounts"]) - 1
    assert failed_create_message(runtime, b).endswith(
        f"mounts[{index}]: /sys/kernel: filesystem sysfs does not support idmapped mounts")


@pytest.mark.xfail_runtime(
    "runc", reason="runc 1.1.5 has no idmapped mounts: it passes 'idmap' to the tmpfs as "
    "mount data, which fails with a bare 'invalid argument' naming neither the field nor why")
def test_only_bind_mounts_are_idmapped(runtime, make_bundle):
    b = make_bundle(["true"])
    b.add_mount("/mnt/a", "tmpfs", type="tmpfs", options=["idmap"])
    index = len(b.config["mounts"]) - 1
    assert failed_create_message(runtime, b).endswith(
        f"mounts[{index}]: idmap: only bind mounts can be idmapped")
