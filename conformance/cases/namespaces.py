"""config-linux.md: namespaces (new, inherited, joined by path), user
namespace mappings; config.md: hostname and domainname."""

import os
from pathlib import Path

from ..bundle import NS_TYPES, ns_link, wait_for
from ..registry import case

NO_TIMENS = "runc 1.1.5 does not know the `time` namespace type (support came with runc 1.2)"
ALL = ("pid", "network", "ipc", "uts", "mount", "cgroup", "time")
UNSHARE_FLAG = {"pid": "--pid", "network": "--net", "ipc": "--ipc", "uts": "--uts",
                "mount": "--mount", "cgroup": "--cgroup", "time": "--time", "user": "--user"}


def need(t, ns_type):
    if ns_type == "time" and not t.host.has_timens:
        t.skip("the kernel has no time namespaces")
    if ns_type == "user" and not t.host.has_userns:
        t.skip("user namespaces are disabled on this host")


def helper_ns(t, ns_type):
    """Start a helper process in a new namespace of ns_type; returns the pid
    of the process inside it."""
    argv = ["unshare", UNSHARE_FLAG[ns_type]]
    if ns_type == "pid":
        argv += ["--fork"]
    if ns_type == "mount":
        argv += ["--propagation", "private"]
    proc = t.spawn(argv + ["sleep", "300"])
    if ns_type != "pid":
        ok = wait_for(lambda: ns_link(proc.pid, ns_type) != t.host.host_ns[ns_type], 5)
        t.expect(ok, f"helper did not enter a new {ns_type} namespace")
        return proc.pid

    def child():
        try:
            kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        except OSError:
            return None
        return int(kids[0]) if kids else None
    pid = wait_for(child, 5)
    t.expect(pid, "the pid-namespace helper has no child")
    wait_for(lambda: ns_link(pid, "pid") != t.host.host_ns["pid"], 5)
    return pid


for ns_type in ALL:
    name = NS_TYPES[ns_type]

    def _new(t, ns_type=ns_type, name=name):
        need(t, ns_type)
        b = t.bundle()
        b.add_namespace(ns_type)
        t.check(b, f"nsne={name}:{t.host.host_ns[ns_type]}")
    _new.__doc__ = f"A `{ns_type}` entry without a path creates a new {ns_type} namespace."
    case(f"ns.{ns_type}-new", "config-linux.md#namespaces",
         "SHOULD" if ns_type == "time" else "MUST",
         deviations={"runc": NO_TIMENS} if ns_type == "time" else None)(_new)

    def _join(t, ns_type=ns_type, name=name):
        need(t, ns_type)
        pid = helper_ns(t, ns_type)
        link = ns_link(pid, ns_type)
        b = t.bundle()
        b.add_namespace(ns_type, f"/proc/{pid}/ns/{name}")
        t.check(b, f"ns={name}:{link}")
    _join.__doc__ = f"A `{ns_type}` entry with a path joins that namespace."
    case(f"ns.{ns_type}-join-path", "config-linux.md#namespaces",
         "SHOULD" if ns_type == "time" else "MUST",
         deviations={"runc": NO_TIMENS} if ns_type == "time" else None)(_join)

    if ns_type in ("mount", "time"):
        continue

    def _inherit(t, ns_type=ns_type, name=name):
        need(t, ns_type)
        b = t.bundle()
        b.remove_namespace(ns_type)
        if ns_type == "uts":  # a hostname needs a UTS namespace of its own
            b.config.pop("hostname", None)
        if ns_type == "network":  # sysfs can only be mounted for the own net namespace
            b.remove_mount("/sys")
        if ns_type == "pid":
            b.remove_mount("/proc")
            b.add_mount("/proc", "/proc", options=["rbind"])
        t.check(b, f"ns={name}:{t.host.host_ns[ns_type]}")
    _inherit.__doc__ = f"Without a `{ns_type}` entry the container inherits the runtime's {ns_type} namespace."
    case(f"ns.{ns_type}-inherited", "config-linux.md#namespaces")(_inherit)


@case("ns.mount-inherited", "config-linux.md#namespaces")
def _(t):
    "Without a `mount` entry the container stays in the runtime's mount namespace."
    b = t.bundle()
    b.remove_namespace("mount")
    wrap = t.private_mounts(hold=True)
    pid = t.created(b, ["sleep", "300"], wrap=wrap)
    holder = int(next(t.dir.glob("holder-*.pid")).read_text())
    t.expect(ns_link(pid, "mount") == ns_link(holder, "mount"),
             f"container mount namespace {ns_link(pid, 'mount')}, runtime's {ns_link(holder, 'mount')}")


@case("ns.path-wrong-type-error", "config-linux.md#namespaces")
def _(t):
    "A namespace `path` of another type MUST make create fail."
    pid = helper_ns(t, "network")
    b = t.bundle(["true"])
    b.add_namespace("ipc", f"/proc/{pid}/ns/net")
    res = t.create(b, check=False)
    t.expect_error(res, "create with an ipc namespace path that is a network namespace")


@case("ns.path-missing-error", "config-linux.md#namespaces")
def _(t):
    "A namespace `path` that does not exist makes create fail."
    b = t.bundle(["true"])
    b.add_namespace("network", str(t.dir / "no-such-ns"))
    t.expect_error(t.create(b, check=False), "create with a missing namespace path")


@case("ns.duplicate-type-error", "config-linux.md#namespaces", deviations={
    "crun": "crun 1.8.1 accepts duplicated namespace types"})
def _(t):
    "Two `namespaces` entries of the same type MUST make create fail."
    b = t.bundle(["true"])
    b.linux["namespaces"].append({"type": "network"})
    b.write()
    t.expect_error(t.create(b, check=False), "create with a duplicated namespace type")


@case("ns.pid-is-1", "config-linux.md#namespaces")
def _(t):
    "In a new PID namespace the container process is pid 1 and /proc shows that namespace."
    t.check(t.bundle(), "pid=1", "link=/proc/self:1")


@case("ns.network-loopback-only", "config-linux.md#namespaces")
def _(t):
    "A new network namespace has its own stack: only `lo`."
    b = t.bundle()
    out = t.sh(b, "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
    t.expect(out.split() == ["lo"], f"interfaces: {out.split()}")


@case("ns.cgroup-root", "config-linux.md#namespaces")
def _(t):
    "In a new cgroup namespace the container's cgroups are the root (/) of its view."
    b = t.bundle()
    b.add_namespace("cgroup")
    t.check(b, "cgself=/")


# -- user namespaces -----------------------------------------------------------------

def userns_bundle(t, uid_maps=None, gid_maps=None):
    need(t, "user")
    b = t.bundle()
    b.add_namespace("user")
    b.linux["uidMappings"] = uid_maps or [{"containerID": 0, "hostID": 100000, "size": 65536}]
    b.linux["gidMappings"] = gid_maps or [{"containerID": 0, "hostID": 100000, "size": 65536}]
    return b.write()


@case("userns.new", "config-linux.md#namespaces")
def _(t):
    "A `user` entry creates a new user namespace."
    b = userns_bundle(t)
    t.check(b, f"nsne=user:{t.host.host_ns['user']}")


@case("userns.uid-mappings", "config-linux.md#user-namespace-mappings")
def _(t):
    "`uidMappings` is the user namespace's uid_map."
    b = userns_bundle(t)
    t.check(b, "wsfile=/proc/self/uid_map:0 100000 65536")


@case("userns.gid-mappings", "config-linux.md#user-namespace-mappings")
def _(t):
    "`gidMappings` is the user namespace's gid_map."
    b = userns_bundle(t, gid_maps=[{"containerID": 0, "hostID": 200000, "size": 1000}])
    t.check(b, "wsfile=/proc/self/gid_map:0 200000 1000")


@case("userns.several-mappings", "config-linux.md#user-namespace-mappings")
def _(t):
    "Several mapping entries are all written."
    maps = [{"containerID": 0, "hostID": 100000, "size": 1000},
            {"containerID": 1000, "hostID": 300000, "size": 10}]
    b = userns_bundle(t, maps, maps)
    t.check(b, "wsfile=/proc/self/uid_map:0 100000 1000 1000 300000 10",
            "wsfile=/proc/self/gid_map:0 100000 1000 1000 300000 10")


@case("userns.host-ids", "config-linux.md#user-namespace-mappings")
def _(t):
    "The container's uid 0 is the mapped host uid, seen from the host."
    b = userns_bundle(t)
    pid = t.created(b, ["sleep", "300"])
    t.start(b.id)
    uid = [ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("Uid:")]
    gid = [ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("Gid:")]
    t.expect(uid and uid[0].split()[1:] == ["100000"] * 4, f"host view: {uid}")
    t.expect(gid and gid[0].split()[1:] == ["100000"] * 4, f"host view: {gid}")


@case("userns.process-user", "config-linux.md#user-namespace-mappings")
def _(t):
    "`process.user` is in the container namespace: uid 1000 inside is the mapped host id."
    b = userns_bundle(t)
    b.process["user"] = {"uid": 1000, "gid": 1000}
    t.check(b, "uid=1000", "gid=1000")


@case("userns.no-chown-rootfs", "config-linux.md#user-namespace-mappings", "SHOULD")
def _(t):
    "The runtime SHOULD NOT change the ownership of the rootfs to realize the mapping."
    b = userns_bundle(t)
    before = {p: (os.lstat(p).st_uid, os.lstat(p).st_gid) for p in b.rootfs.rglob("*")}
    t.check(b, "uid=0")
    changed = [str(p) for p, ids in before.items()
               if (os.lstat(p).st_uid, os.lstat(p).st_gid) != ids]
    t.expect(not changed, f"ownership changed: {changed[:5]}")


@case("userns.join-path", "config-linux.md#namespaces")
def _(t):
    "A `user` entry with a path joins that user namespace (its mappings given as they are)."
    need(t, "user")
    pid = helper_ns(t, "user")
    for f in ("uid_map", "gid_map"):
        Path(f"/proc/{pid}/{f}").write_text("0 100000 65536\n")
    link = ns_link(pid, "user")
    b = userns_bundle(t)
    b.add_namespace("user", f"/proc/{pid}/ns/user")
    t.check(b, f"ns=user:{link}", "wsfile=/proc/self/uid_map:0 100000 65536")


# -- hostname, domainname --------------------------------------------------------------

@case("uts.hostname", "config.md#hostname")
def _(t):
    "`hostname` is the container's hostname."
    b = t.bundle()
    b.config["hostname"] = "ocic-hostname"
    t.check(b, "hostname=ocic-hostname")


@case("uts.domainname", "config.md#domainname", deviations={
    "runc": "runc 1.1.5 ignores `domainname` (support came with runc 1.2): it stays (none)"})
def _(t):
    "`domainname` is the container's NIS domain name."
    b = t.bundle()
    b.config["domainname"] = "ocic.example"
    t.check(b, "domainname=ocic.example", "file=/proc/sys/kernel/domainname:ocic.example")


@case("uts.host-unchanged", "config.md#hostname")
def _(t):
    "Setting the hostname in a new UTS namespace leaves the host's alone."
    b = t.bundle()
    b.config["hostname"] = "ocic-other"
    t.check(b, "hostname=ocic-other")
    t.expect(os.uname().nodename == t.host.hostname,
             f"host hostname changed to {os.uname().nodename!r}")
