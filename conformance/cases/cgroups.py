"""config-linux.md: control groups: cgroupsPath and the resources, read back
from the container's own view (a cgroup namespace and a `cgroup` mount at
/sys/fs/cgroup), on cgroup v1 (one hierarchy per controller) or v2, as the
host has them."""

import os
from pathlib import Path

from ..registry import case

CGROUP_MOUNT_OPTS = ["nosuid", "noexec", "nodev", "relatime", "ro"]
NO_BURST = "runc 1.1.5 does not know cpu.burst (support came with runc 1.2)"
NO_IDLE = "runc 1.1.5 does not know cpu.idle (support came with runc 1.2)"
NO_RSVD = ("runc 1.1.5 writes hugepageLimits to the page-fault limit only, not to the "
           "reservation limit (hugetlb.<size>.rsvd.*) the spec prefers when the kernel has it")


def cg_bundle(t, resources=None):
    """A bundle with a cgroup namespace, the cgroup filesystem mounted at
    /sys/fs/cgroup, and linux.resources."""
    b = t.bundle()
    b.add_namespace("cgroup")
    b.add_mount("/sys/fs/cgroup", "cgroup", type="cgroup", options=CGROUP_MOUNT_OPTS)
    if resources:
        b.linux["resources"] = resources
    return b.write()


def where(t, controller):
    """('v1', '/sys/fs/cgroup/<hierarchy>/') or ('v2', '/sys/fs/cgroup/') as
    the container sees the controller's files; skips when the host lacks it."""
    version = t.host.controller_version(controller)
    if version is None:
        t.skip(f"the host has no {controller} cgroup controller")
    if version == "v1":
        return "v1", f"/sys/fs/cgroup/{t.host.v1_path(controller).name}/"
    return "v2", "/sys/fs/cgroup/"


def host_has(t, controller, v1_file, v2_file):
    """Whether the host's cgroup for this controller has the file (probed on a
    fresh child of our own parent cgroup, since the root lacks some files)."""
    version = t.host.controller_version(controller)
    base = t.host.v1_path(controller) if version == "v1" else t.host.v2_path()
    name = v1_file if version == "v1" else v2_file
    if name is None:
        return False
    probe = base / "ociruntime-conformance" / f"probe-{os.getpid()}-{t.n}"
    try:
        probe.mkdir(parents=True)
    except OSError:
        return (base / name).exists()
    try:
        return (probe / name).exists()
    finally:
        try:
            probe.rmdir()
        except OSError:
            pass


def limit_case(cid, doc, controller, resources, v1, v2, level="MUST", deviations=None,
               needs_file=False):
    """v1/v2: (file, expected content) or None when the layout has no such
    file (the case then skips on that layout)."""
    def _case(t):
        version, base = where(t, controller)
        spec = v1 if version == "v1" else v2
        if spec is None:
            t.skip(f"no equivalent on cgroup {version}")
        fname, want = spec
        if needs_file and not host_has(t, controller, v1 and v1[0], v2 and v2[0]):
            t.skip(f"this kernel has no {fname}")
        t.check(cg_bundle(t, resources), f"wsfile={base}{fname}:{want}")
    _case.__doc__ = doc
    case(cid, "config-linux.md#" + {"memory": "memory", "cpu": "cpu", "cpuset": "cpu",
                                     "pids": "pids", "blkio": "block-io", "io": "block-io",
                                     "hugetlb": "huge-page-limits"}[controller],
         level, deviations=deviations)(_case)


MiB = 1024 * 1024

# -- memory --------------------------------------------------------------------------
limit_case("cgroups.memory-limit", "`memory.limit` is the memory limit.", "memory",
           {"memory": {"limit": 64 * MiB}},
           ("memory.limit_in_bytes", 64 * MiB), ("memory.max", 64 * MiB))
limit_case("cgroups.memory-limit-unlimited", "`memory.limit: -1` means no limit.", "memory",
           {"memory": {"limit": -1}},
           ("memory.limit_in_bytes", 9223372036854771712), ("memory.max", "max"))
limit_case("cgroups.memory-reservation", "`memory.reservation` is the soft limit.", "memory",
           {"memory": {"limit": 64 * MiB, "reservation": 32 * MiB}},
           ("memory.soft_limit_in_bytes", 32 * MiB), ("memory.low", 32 * MiB))
limit_case("cgroups.memory-swap", "`memory.swap` is the memory+swap limit.", "memory",
           {"memory": {"limit": 64 * MiB, "swap": 128 * MiB}},
           ("memory.memsw.limit_in_bytes", 128 * MiB), ("memory.swap.max", 64 * MiB),
           needs_file=True)
limit_case("cgroups.memory-swappiness", "`memory.swappiness` is the cgroup's swappiness.", "memory",
           {"memory": {"swappiness": 10}}, ("memory.swappiness", 10), None)
limit_case("cgroups.memory-disable-oom-killer", "`memory.disableOOMKiller` disables the OOM killer.",
           "memory", {"memory": {"limit": 64 * MiB, "disableOOMKiller": True}},
           ("memory.oom_control", "oom_kill_disable 1 under_oom 0 oom_kill 0"), None)

# -- cpu -----------------------------------------------------------------------------
limit_case("cgroups.cpu-shares", "`cpu.shares` is the cgroup's CPU share (weight on v2).", "cpu",
           {"cpu": {"shares": 512}}, ("cpu.shares", 512), ("cpu.weight", 20))
limit_case("cgroups.cpu-quota", "`cpu.quota` is the CFS quota.", "cpu",
           {"cpu": {"quota": 50000, "period": 100000}},
           ("cpu.cfs_quota_us", 50000), ("cpu.max", "50000 100000"))
limit_case("cgroups.cpu-period", "`cpu.period` is the CFS period.", "cpu",
           {"cpu": {"quota": 100000, "period": 250000}},
           ("cpu.cfs_period_us", 250000), ("cpu.max", "100000 250000"))
limit_case("cgroups.cpu-burst", "`cpu.burst` is the CFS burst.", "cpu",
           {"cpu": {"quota": 50000, "period": 100000, "burst": 20000}},
           ("cpu.cfs_burst_us", 20000), ("cpu.max.burst", 20000),
           deviations={"runc": NO_BURST}, needs_file=True)
limit_case("cgroups.cpu-idle", "`cpu.idle` makes the cgroup SCHED_IDLE.", "cpu",
           {"cpu": {"idle": 1}}, ("cpu.idle", 1), ("cpu.idle", 1),
           deviations={"runc": NO_IDLE}, needs_file=True)
limit_case("cgroups.cpu-cpus", "`cpu.cpus` is the cpuset's CPU list.", "cpuset",
           {"cpu": {"cpus": "0"}}, ("cpuset.cpus", "0"), ("cpuset.cpus", "0"))
limit_case("cgroups.cpu-mems", "`cpu.mems` is the cpuset's memory node list.", "cpuset",
           {"cpu": {"mems": "0"}}, ("cpuset.mems", "0"), ("cpuset.mems", "0"))

# -- pids ----------------------------------------------------------------------------
limit_case("cgroups.pids-limit", "`pids.limit` is the cgroup's task limit.", "pids",
           {"pids": {"limit": 42}}, ("pids.max", 42), ("pids.max", 42))


@case("cgroups.pids-limit-enforced", "config-linux.md#pids")
def _(t):
    "`pids.limit` is enforced: with a limit of 5 at most 4 more processes can be made."
    where(t, "pids")
    t.check(cg_bundle(t, {"pids": {"limit": 5}}), "forks=10:4")


# -- block IO --------------------------------------------------------------------------

@case("cgroups.blkio-weight", "config-linux.md#block-io")
def _(t):
    "`blockIO.weight` is the cgroup's IO weight (blkio.weight or its BFQ file; io.weight on v2)."
    version, base = where(t, "blkio" if t.host.controller_version("blkio") else "io")
    b = cg_bundle(t, {"blockIO": {"weight": 500}})
    if version == "v1":
        expected = {"blkio.weight": "500", "blkio.bfq.weight": "500"}
    else:  # io.weight is 1..10000: the v1 range 10..1000 converted; BFQ keeps 10..1000
        expected = {"io.weight": str(1 + (500 - 10) * 9999 // 990), "io.bfq.weight": "500"}
    out = t.sh(b, "; ".join(f"[ -f {base}{f} ] && echo {f} $(cat {base}{f})" for f in expected)
               + "; true")
    seen = {ln.split()[0]: ln.split()[-1] for ln in out.splitlines() if len(ln.split()) > 1}
    t.expect(seen and any(seen.get(f) == v for f, v in expected.items()),
             f"weight files read {seen}, expected one of {expected}")


THROTTLE = [("throttleReadBpsDevice", "read_bps_device", "rbps", 1048576),
            ("throttleWriteBpsDevice", "write_bps_device", "wbps", 2097152),
            ("throttleReadIOPSDevice", "read_iops_device", "riops", 300),
            ("throttleWriteIOPSDevice", "write_iops_device", "wiops", 400)]

for key, v1name, v2key, rate in THROTTLE:
    def _throttle(t, key=key, v1name=v1name, v2key=v2key, rate=rate):
        if t.host.disk is None:
            t.skip("no block device to throttle")
        major, minor = t.host.disk
        version, base = where(t, "blkio" if t.host.controller_version("blkio") else "io")
        b = cg_bundle(t, {"blockIO": {key: [{"major": major, "minor": minor, "rate": rate}]}})
        if version == "v1":
            t.check(b, f"wsfile={base}blkio.throttle.{v1name}:{major}:{minor} {rate}")
        else:
            t.check(b, f"filehas={base}io.max:{v2key}={rate}")
    _throttle.__doc__ = f"`blockIO.{key}` limits the device."
    case(f"cgroups.blkio-{key}", "config-linux.md#block-io")(_throttle)


# -- hugetlb ---------------------------------------------------------------------------

for size, limit in (("2MB", 8 * MiB), ("1GB", 1024 * MiB)):
    def _huge(t, size=size, limit=limit):
        if size not in t.host.hugepage_sizes:
            t.skip(f"the host has no {size} huge pages")
        version, base = where(t, "hugetlb")
        fname = f"hugetlb.{size}.limit_in_bytes" if version == "v1" else f"hugetlb.{size}.max"
        t.check(cg_bundle(t, {"hugepageLimits": [{"pageSize": size, "limit": limit}]}),
                f"wsfile={base}{fname}:{limit}")
    _huge.__doc__ = f"`hugepageLimits` for {size} pages limits their use."
    case(f"cgroups.hugetlb-{size}", "config-linux.md#huge-page-limits")(_huge)


@case("cgroups.hugetlb-reservation", "config-linux.md#huge-page-limits", "SHOULD",
      deviations={"runc": NO_RSVD})
def _(t):
    "Where the kernel accounts reservations, `hugepageLimits` limit them (hugetlb.<size>.rsvd)."
    if "2MB" not in t.host.hugepage_sizes:
        t.skip("the host has no 2MB huge pages")
    version, base = where(t, "hugetlb")
    fname = "hugetlb.2MB.rsvd.limit_in_bytes" if version == "v1" else "hugetlb.2MB.rsvd.max"
    if not host_has(t, "hugetlb", fname, fname):
        t.skip("this kernel has no hugetlb reservation accounting")
    t.check(cg_bundle(t, {"hugepageLimits": [{"pageSize": "2MB", "limit": 8 * MiB}]}),
            f"wsfile={base}{fname}:{8 * MiB}")


# -- network, rdma (controllers this kind of host often lacks) ----------------------------

@case("cgroups.network-classid", "config-linux.md#network")
def _(t):
    "`network.classID` tags the cgroup's packets (net_cls.classid)."
    if t.host.v1_path("net_cls") is None:
        t.skip("the host has no net_cls cgroup hierarchy")
    base = f"/sys/fs/cgroup/{t.host.v1_path('net_cls').name}/"
    t.check(cg_bundle(t, {"network": {"classID": 1048577}}), f"wsfile={base}net_cls.classid:1048577")


@case("cgroups.rdma", "config-linux.md#rdma")
def _(t):
    "`rdma` limits are written to rdma.max."
    if t.host.controller_version("rdma") is None or not list(Path("/sys/class/infiniband").glob("*")):
        t.skip("the host has no rdma cgroup controller or no RDMA device")
    dev = sorted(Path("/sys/class/infiniband").iterdir())[0].name
    version, base = where(t, "rdma")
    t.check(cg_bundle(t, {"rdma": {dev: {"hcaHandles": 3}}}), f"filehas={base}rdma.max:hca_handle=3")


# -- unified ----------------------------------------------------------------------------

@case("cgroups.unified", "config-linux.md#unified")
def _(t):
    "`unified` keys are written to the files of the v2 hierarchy (pids.max here)."
    if t.host.cgroup_mode != "v2":
        t.skip("the host is not a cgroup v2 host")
    t.check(cg_bundle(t, {"unified": {"pids.max": "42"}}), "wsfile=/sys/fs/cgroup/pids.max:42")


@case("cgroups.unified-missing-controller-error", "config-linux.md#unified")
def _(t):
    "`unified` naming a controller the v2 hierarchy does not have MUST make create fail."
    v2 = t.host.v2_path()
    if v2 is not None and "memory" in t.host.v2_controllers:
        t.skip("the memory controller is on the v2 hierarchy here")
    b = cg_bundle(t, {"unified": {"memory.max": str(64 * MiB)}})
    b.set_args("true")
    t.expect_error(t.create(b, check=False), "create with unified memory.max and no v2 memory controller")


# -- cgroupsPath and the container's view --------------------------------------------------

@case("cgroups.path-absolute", "config-linux.md#cgroups-path")
def _(t):
    "An absolute cgroupsPath is relative to the cgroups mount point: the process is there."
    b = t.bundle()
    pid = t.created(b, ["sleep", "300"])
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    bad = [ln for ln in lines
           if (ln.split(":")[1] and not ln.split(":")[1].startswith("name=")
               and ln.split(":", 2)[2] != b.cgroups_path)]
    t.expect(not bad, f"not in {b.cgroups_path}: {bad}")
    dirs = t.host.cgroup_dirs(b.cgroups_path)
    t.expect(dirs, "no cgroup directory at cgroupsPath")


@case("cgroups.path-existing", "config-linux.md#cgroups-path")
def _(t):
    "An existing cgroup at cgroupsPath is used (the same place for the same value)."
    b = t.bundle()
    version, base = where(t, "pids")
    hier = t.host.v1_path("pids") if version == "v1" else t.host.v2_path()
    d = hier / b.cgroups_path.lstrip("/")
    d.mkdir(parents=True)
    (d / "pids.max").write_text("77")  # marks the cgroup as ours
    t.suite_cgroups.add(b.cgroups_path)  # made by this case: its to remove, not the runtime's
    pid = t.created(b, ["sleep", "300"])
    procs = (d / "cgroup.procs").read_text().split()
    t.expect(str(pid) in procs, f"the container process is not in the existing {d}")


@case("cgroups.mount-shows-own-cgroup", "config-linux.md#control-groups")
def _(t):
    "With a cgroup namespace the cgroup mount shows the container's own cgroup as its root."
    version, base = where(t, "pids")
    t.check(cg_bundle(t), "cgself=/", f"file={base}cgroup.procs:1")


@case("cgroups.mount-readonly", "config-linux.md#control-groups")
def _(t):
    "A cgroup mount with `ro` is read-only."
    version, base = where(t, "pids")
    t.check(cg_bundle(t), f"rofs={base}", f"open={base}pids.max:w:30")


@case("cgroups.invalid-cpus-error", "config-linux.md#cpu")
def _(t):
    "A cpuset the host does not have (`cpus: 4096`) cannot be applied: create MUST fail."
    where(t, "cpuset")
    b = cg_bundle(t, {"cpu": {"cpus": "4096"}})
    b.set_args("true")
    t.expect_error(t.create(b, check=False), "create with cpu.cpus 4096")
