"""``linux.resources`` on the cgroup v1 driver: one function per controller.

A value is written, or refused with its JSON path and the reason (controller not mounted,
file missing from this kernel, value refused by the kernel); nothing is skipped silently.
The write orders that matter (memory vs memory+swap, CFS period vs quota, RT period vs
runtime) follow what runc does, so raising and lowering limits both work on ``update``.
"""

from __future__ import annotations

import errno
import os

from ..errors import CgroupError, NotSupportedError

BASE = "linux.resources"


class Cgroup:
    """The container's v1 directories, addressed by controller name."""

    def __init__(self, paths: dict[str, str]):
        self.dirs = {name: path for key, path in paths.items() if key
                     for name in key.split(",")}

    def file(self, controller: str, name: str, where: str) -> str:
        """The path of a control file; an error naming ``where`` if the host lacks it."""
        directory = self.dirs.get(controller)
        if directory is None:
            raise NotSupportedError(f"{where}: the {controller} cgroup controller is not "
                                    "mounted as a v1 hierarchy on this host")
        path = os.path.join(directory, name)
        if not os.path.exists(path):
            raise NotSupportedError(f"{where}: this kernel has no {controller} control file {name}")
        return path

    def has(self, controller: str, name: str) -> bool:
        directory = self.dirs.get(controller)
        return directory is not None and os.path.exists(os.path.join(directory, name))

    def write(self, controller: str, name: str, value, where: str) -> None:
        path = self.file(controller, name, where)
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as err:
            raise CgroupError(f"{where}: writing {value} to {name}: {err.strerror}") from err

    def read(self, controller: str, name: str, where: str) -> str:
        with open(self.file(controller, name, where)) as f:
            return f.read().strip()


def apply(paths: dict[str, str], resources: dict) -> None:
    """Writes every field of ``resources`` (``devices`` is the manager's ``create``)."""
    cg = Cgroup(paths)
    if resources.get("unified"):
        raise NotSupportedError(f"{BASE}.unified: cgroup v2 files need a cgroup v2 host "
                                "(this host's controllers are on v1)")
    for key, setter in _SETTERS.items():
        if resources.get(key) not in (None, {}, []):
            setter(cg, resources[key], f"{BASE}.{key}")


# -- memory ----------------------------------------------------------------------------
def _memory(cg: Cgroup, mem: dict, where: str) -> None:
    if mem.get("kernel") is not None:
        _kernel_memory(cg, mem["kernel"], f"{where}.kernel")
    if mem.get("checkBeforeUpdate") and mem.get("limit", -1) >= 0:
        usage = int(cg.read("memory", "memory.usage_in_bytes", f"{where}.checkBeforeUpdate"))
        if mem["limit"] < usage:
            raise CgroupError(f"{where}.limit: {mem['limit']} is below the current usage "
                              f"({usage} bytes) and checkBeforeUpdate is set")
    _memory_and_swap(cg, mem.get("limit"), mem.get("swap"), where)
    if mem.get("reservation") is not None:
        cg.write("memory", "memory.soft_limit_in_bytes", mem["reservation"], f"{where}.reservation")
    if mem.get("kernelTCP") is not None:
        cg.write("memory", "memory.kmem.tcp.limit_in_bytes", mem["kernelTCP"], f"{where}.kernelTCP")
    if mem.get("swappiness") is not None:
        cg.write("memory", "memory.swappiness", mem["swappiness"], f"{where}.swappiness")
    if mem.get("disableOOMKiller") is not None:
        cg.write("memory", "memory.oom_control", int(mem["disableOOMKiller"]),
                 f"{where}.disableOOMKiller")
    if mem.get("useHierarchy") is not None:
        cg.write("memory", "memory.use_hierarchy", int(mem["useHierarchy"]), f"{where}.useHierarchy")


def _kernel_memory(cg: Cgroup, kernel: int, where: str) -> None:
    """memory.kernel: newer kernels keep memory.kmem.limit_in_bytes and accept writes but
    ignore them (the file reads back unchanged): then a limit is an error, not a no-op."""
    cg.write("memory", "memory.kmem.limit_in_bytes", kernel, where)
    applied = int(cg.read("memory", "memory.kmem.limit_in_bytes", where))
    if kernel >= 0 and not kernel - os.sysconf("SC_PAGE_SIZE") < applied <= kernel:
        raise NotSupportedError(f"{where}: this kernel ignores kernel memory limits "
                                "(memory.kmem.limit_in_bytes is deprecated): only -1 applies")


def _memory_and_swap(cg: Cgroup, limit: int | None, swap: int | None, where: str) -> None:
    """memory.limit_in_bytes must never exceed memory.memsw.limit_in_bytes, so the order of
    the two writes depends on whether the limits grow or shrink (runc's rule)."""
    if limit == -1 and swap is None and cg.has("memory", "memory.memsw.limit_in_bytes"):
        swap = -1  # unlimited memory: unlimited memory+swap too
    if swap == -1 and not cg.has("memory", "memory.memsw.limit_in_bytes"):
        swap = None  # no swap accounting: memory+swap is unlimited already
    swap_first = False
    if limit is not None and swap is not None:
        current = int(cg.read("memory", "memory.limit_in_bytes", f"{where}.limit"))
        swap_first = swap == -1 or current < swap
    steps = [("swap", swap), ("limit", limit)] if swap_first else [("limit", limit), ("swap", swap)]
    for field, value in steps:
        if value is None:
            continue
        if field == "limit":
            _set_memory_limit(cg, value, f"{where}.limit")
        else:
            cg.write("memory", "memory.memsw.limit_in_bytes", value, f"{where}.swap")


def _set_memory_limit(cg: Cgroup, limit: int, where: str) -> None:
    try:
        cg.write("memory", "memory.limit_in_bytes", limit, where)
    except CgroupError as err:
        if getattr(err.__cause__, "errno", None) != errno.EBUSY:
            raise
        usage = cg.read("memory", "memory.usage_in_bytes", where)
        raise CgroupError(f"{where}: cannot set {limit}: the container uses {usage} bytes "
                          "and the kernel could not reclaim enough") from None


# -- cpu, cpuset -----------------------------------------------------------------------
def _cpu(cg: Cgroup, cpu: dict, where: str) -> None:
    if cpu.get("shares"):
        _cpu_shares(cg, cpu["shares"], f"{where}.shares")
    _cfs(cg, cpu, where)
    if cpu.get("burst") is not None:
        cg.write("cpu", "cpu.cfs_burst_us", cpu["burst"], f"{where}.burst")
    _realtime(cg, cpu, where)
    if cpu.get("idle") is not None:
        cg.write("cpu", "cpu.idle", cpu["idle"], f"{where}.idle")
    for field in ("cpus", "mems"):
        if cpu.get(field):
            cg.write("cpuset", f"cpuset.{field}", cpu[field], f"{where}.{field}")


def _cpu_shares(cg: Cgroup, shares: int, where: str) -> None:
    """The kernel clamps cpu.shares to 2..262144 without an error: read it back."""
    cg.write("cpu", "cpu.shares", shares, where)
    applied = int(cg.read("cpu", "cpu.shares", where))
    if applied != shares:
        bound = "maximum" if shares > applied else "minimum"
        raise CgroupError(f"{where}: {shares} is out of range (the {bound} is {applied})")


def _cfs(cg: Cgroup, cpu: dict, where: str) -> None:
    """A shorter period can be refused (EINVAL) until the quota shrinks: then the period is
    retried after the quota."""
    period, quota = cpu.get("period"), cpu.get("quota")
    retry_period = False
    if period:
        try:
            cg.write("cpu", "cpu.cfs_period_us", period, f"{where}.period")
        except CgroupError as err:
            if not quota or getattr(err.__cause__, "errno", None) != errno.EINVAL:
                raise
            retry_period = True
    if quota:
        cg.write("cpu", "cpu.cfs_quota_us", quota, f"{where}.quota")
    if retry_period:
        cg.write("cpu", "cpu.cfs_period_us", period, f"{where}.period")


def _realtime(cg: Cgroup, cpu: dict, where: str) -> None:
    """rt_runtime_us must fit in rt_period_us: a shorter period goes after the runtime."""
    period, runtime = cpu.get("realtimePeriod"), cpu.get("realtimeRuntime")
    steps = [("realtimePeriod", "cpu.rt_period_us", period),
             ("realtimeRuntime", "cpu.rt_runtime_us", runtime)]
    if period and runtime is not None:
        current = int(cg.read("cpu", "cpu.rt_period_us", f"{where}.realtimePeriod"))
        if period < current:
            steps.reverse()
    for field, name, value in steps:
        if value is not None and (value or field == "realtimeRuntime"):
            cg.write("cpu", name, value, f"{where}.{field}")


# -- pids, blkio, hugetlb, net_cls/net_prio, rdma ---------------------------------------
def _pids(cg: Cgroup, pids: dict, where: str) -> None:
    """0 leaves the limit as it is (runc); a negative limit means unlimited."""
    limit = pids.get("limit", 0)
    if limit:
        cg.write("pids", "pids.max", limit if limit > 0 else "max", f"{where}.limit")


_THROTTLES = {"throttleReadBpsDevice": "read_bps_device", "throttleWriteBpsDevice": "write_bps_device",
              "throttleReadIOPSDevice": "read_iops_device", "throttleWriteIOPSDevice": "write_iops_device"}


def _block_io(cg: Cgroup, bio: dict, where: str) -> None:
    weight_file = _weight_file(cg)
    if bio.get("weight"):
        cg.write("blkio", weight_file, bio["weight"], f"{where}.weight")
    if bio.get("leafWeight"):
        cg.write("blkio", "blkio.leaf_weight", bio["leafWeight"], f"{where}.leafWeight")
    for i, dev in enumerate(bio.get("weightDevice") or []):
        for field, name in (("weight", f"{weight_file}_device"), ("leafWeight", "blkio.leaf_weight_device")):
            if dev.get(field) is not None:
                cg.write("blkio", name, f"{dev['major']}:{dev['minor']} {dev[field]}",
                         f"{where}.weightDevice[{i}].{field}")
    for field, name in _THROTTLES.items():
        for i, dev in enumerate(bio.get(field) or []):
            cg.write("blkio", f"blkio.throttle.{name}", f"{dev['major']}:{dev['minor']} {dev['rate']}",
                     f"{where}.{field}[{i}]")


def _weight_file(cg: Cgroup) -> str:
    """CFQ's blkio.weight, or BFQ's blkio.bfq.weight on kernels without CFQ (as runc)."""
    return "blkio.bfq.weight" if cg.has("blkio", "blkio.bfq.weight") else "blkio.weight"


def _hugepage_limits(cg: Cgroup, limits: list, where: str) -> None:
    """The page-fault limit and, where the kernel has it, the reservation limit."""
    for i, entry in enumerate(limits):
        size = entry["pageSize"]
        item = f"{where}[{i}]"
        if "hugetlb" in cg.dirs and not cg.has("hugetlb", f"hugetlb.{size}.limit_in_bytes"):
            raise NotSupportedError(f"{item}.pageSize: this host has no {size} huge pages "
                                    f"(it has {', '.join(_huge_sizes(cg)) or 'none'})")
        cg.write("hugetlb", f"hugetlb.{size}.limit_in_bytes", entry["limit"], f"{item}.limit")
        if cg.has("hugetlb", f"hugetlb.{size}.rsvd.limit_in_bytes"):
            cg.write("hugetlb", f"hugetlb.{size}.rsvd.limit_in_bytes", entry["limit"], f"{item}.limit")


def _huge_sizes(cg: Cgroup) -> list[str]:
    return sorted({name.split(".")[1] for name in os.listdir(cg.dirs["hugetlb"])
                   if name.endswith(".limit_in_bytes") and name.startswith("hugetlb.")})


def _network(cg: Cgroup, net: dict, where: str) -> None:
    if net.get("classID") is not None:
        cg.write("net_cls", "net_cls.classid", net["classID"], f"{where}.classID")
    for i, prio in enumerate(net.get("priorities") or []):
        cg.write("net_prio", "net_prio.ifpriomap", f"{prio['name']} {prio['priority']}",
                 f"{where}.priorities[{i}]")


def _rdma(cg: Cgroup, rdma: dict, where: str) -> None:
    for device, limits in rdma.items():
        fields = [f"{name}={limits[key]}" for key, name in
                  (("hcaHandles", "hca_handle"), ("hcaObjects", "hca_object")) if key in limits]
        cg.write("rdma", "rdma.max", f"{device} {' '.join(fields)}", f"{where}.{device}")


_SETTERS = {"memory": _memory, "cpu": _cpu, "pids": _pids, "blockIO": _block_io,
            "hugepageLimits": _hugepage_limits, "network": _network, "rdma": _rdma}
