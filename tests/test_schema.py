"""JSON Schema validation of config.json and of the state document (no root, no containers)."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from ociruntime.errors import ConfigError
from ociruntime.spec import validate
from ociruntime.spec.validate import validate_config, validate_state

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_DIR = os.path.join(REPO, "schemas")
RUNC = shutil.which("runc") or "/usr/sbin/runc"

NAMESPACE_TYPES = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"]


def full_config():
    """A Linux config.json that sets every field the 1.3.0 spec defines for Linux."""
    return {
        "ociVersion": "1.3.0",
        "root": {"path": "rootfs", "readonly": True},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/data",
                "type": "none",
                "source": "/volumes/testing",
                "options": ["rbind", "rw", "ridmap"],
                "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
            },
            {"destination": "relative/is/deprecated/but/allowed", "type": "tmpfs"},
        ],
        "process": {
            "terminal": True,
            "consoleSize": {"height": 25, "width": 80},
            "user": {"uid": 1, "gid": 1, "umask": 63, "additionalGids": [5, 6]},
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "EMPTY="],
            "cwd": "/root",
            "args": ["sh", "-c", "true"],
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024},
                {"type": "RLIMIT_CORE", "hard": 18446744073709551615, "soft": 0},
            ],
            "apparmorProfile": "acme_secure_profile",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL"],
                "inheritable": ["CAP_AUDIT_WRITE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_NET_BIND_SERVICE"],
            },
            "noNewPrivileges": True,
            "oomScoreAdj": -1000,
            "scheduler": {
                "policy": "SCHED_DEADLINE",
                "nice": -5,
                "priority": 0,
                "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_UTIL_CLAMP_MAX"],
                "runtime": 10000000,
                "deadline": 20000000,
                "period": 30000000,
            },
            "selinuxLabel": "system_u:system_r:svirt_lxc_net_t:s0:c124,c675",
            "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 7},
            "execCPUAffinity": {"initial": "7", "final": "0-3,7"},
        },
        "hostname": "slartibartfast",
        "domainname": "foobarbaz.test",
        "hooks": {
            "prestart": [{"path": "/usr/bin/fix-mounts", "args": ["fix-mounts", "arg1"], "env": ["key1=value1"]}],
            "createRuntime": [{"path": "/usr/bin/setup-network"}],
            "createContainer": [{"path": "/usr/bin/mount-hook", "args": ["-mount"], "timeout": 1}],
            "startContainer": [{"path": "/usr/bin/refresh-ldcache"}],
            "poststart": [{"path": "/usr/bin/notify-start", "timeout": 5}],
            "poststop": [{"path": "/usr/sbin/cleanup.sh", "args": ["cleanup.sh", "-f"]}],
        },
        "annotations": {"com.example.key1": "value1", "org.opencontainers.image.os": "linux", "empty": ""},
        "linux": {
            "namespaces": [{"type": t} for t in NAMESPACE_TYPES[:-1]]
            + [{"type": "time", "path": "/proc/1234/ns/time"}],
            "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 32000}],
            "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 32000}],
            "timeOffsets": {
                "monotonic": {"secs": 172800, "nanosecs": 0},
                "boottime": {"secs": -604800, "nanosecs": 999999999},
            },
            "devices": [
                {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0, "fileMode": 432},
                {"path": "/dev/ttyU", "type": "u", "major": 4, "minor": 64},
                {"path": "/run/fifo", "type": "p"},
            ],
            "netDevices": {"eth0": {"name": "container_eth0"}, "ens4": {}},
            "cgroupsPath": "/myRuntime/myContainer",
            "resources": {
                "devices": [
                    {"allow": False, "access": "rwm"},
                    {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
                    {"allow": True, "type": "b", "major": 8, "minor": 0, "access": "r"},
                    {"allow": True, "type": "a"},
                ],
                "memory": {
                    "limit": 536870912,
                    "reservation": 536870912,
                    "swap": -1,
                    "kernel": -1,
                    "kernelTCP": -1,
                    "swappiness": 100,
                    "disableOOMKiller": False,
                    "useHierarchy": True,
                    "checkBeforeUpdate": True,
                },
                "cpu": {
                    "shares": 1024,
                    "quota": 1000000,
                    "burst": 1000000,
                    "period": 500000,
                    "realtimeRuntime": 950000,
                    "realtimePeriod": 1000000,
                    "cpus": "2-3",
                    "mems": "0-7",
                    "idle": 1,
                },
                "blockIO": {
                    "weight": 10,
                    "leafWeight": 10,
                    "weightDevice": [
                        {"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
                        {"major": 8, "minor": 16, "weight": 500},
                        {"major": 8, "minor": 32, "leafWeight": 65535},
                    ],
                    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                    "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
                    "throttleReadIOPSDevice": [{"major": 8, "minor": 16, "rate": 100}],
                    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 300}],
                },
                "hugepageLimits": [
                    {"pageSize": "2MB", "limit": 9223372036854772000},
                    {"pageSize": "64KB", "limit": 1000000},
                ],
                "network": {
                    "classID": 1048577,
                    "priorities": [{"name": "eth0", "priority": 500}, {"name": "eth1", "priority": 1000}],
                },
                "pids": {"limit": 0},
                "rdma": {
                    "mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000},
                    "mlx4_0": {"hcaObjects": 1000},
                    "rxe3": {"hcaHandles": 10},
                },
                "unified": {"io.max": "259:0 rbps=2097152 wiops=120\n253:0 rbps=2097152 wiops=120"},
            },
            "intelRdt": {
                "closID": "guaranteed_group",
                "l3CacheSchema": "L3:0=7f0;1=1f",
                "memBwSchema": "MB:0=20;1=70",
                "schemata": ["L3:0=7f0;1=1f", "L2:0=f;1=f;2=f;3=f", "MB:0=20;1=70"],
                "enableMonitoring": True,
                "enableCMT": False,
                "enableMBM": False,
            },
            "memoryPolicy": {"mode": "MPOL_INTERLEAVE", "nodes": "2-3", "flags": ["MPOL_F_STATIC_NODES"]},
            "sysctl": {"net.ipv4.ip_forward": "1", "net.core.somaxconn": "256"},
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32", "SCMP_ARCH_LOONGARCH64"],
                "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "listenerPath": "/run/seccomp-agent.socket",
                "listenerMetadata": "MKNOD=/dev/null",
                "syscalls": [
                    {"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ALLOW"},
                    {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"},
                    {
                        "names": ["personality"],
                        "action": "SCMP_ACT_ALLOW",
                        "args": [
                            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                            {"index": 0, "value": 255, "valueTwo": 8, "op": "SCMP_CMP_MASKED_EQ"},
                        ],
                    },
                ],
            },
            "rootfsPropagation": "slave",
            "maskedPaths": ["/proc/kcore", "/proc/latency_stats"],
            "readonlyPaths": ["/proc/asound", "/proc/sys"],
            "mountLabel": "system_u:object_r:svirt_sandbox_file_t:s0:c715,c811",
            "personality": {"domain": "LINUX32", "flags": []},
        },
    }


def minimal_config():
    return {"ociVersion": "1.0.0", "root": {"path": "rootfs"}}


def message(config):
    with pytest.raises(ConfigError) as info:
        validate_config(config)
    text = str(info.value)
    assert "\n" not in text
    return text


# --- the schema files themselves -------------------------------------------------------------


@pytest.mark.parametrize("name", ["config-schema.json", "state-schema.json"])
def test_schema_files_are_valid_2020_12_with_local_refs_only(name):
    import jsonschema

    with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as f:
        text = f.read()
    schema = json.loads(text)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)

    def refs(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "$ref":
                    yield value
                else:
                    yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    assert all(ref.startswith("#/$defs/") for ref in refs(schema))
    # Readable: indent 2, stable on reload.
    assert '\n  "$schema"' in text


def test_module_does_not_import_jsonschema_eagerly():
    code = "import sys, ociruntime.spec.validate; print('jsonschema' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_validator_is_built_once():
    validate_config(minimal_config())
    assert validate._validator(validate.CONFIG_SCHEMA) is validate._validator(validate.CONFIG_SCHEMA)


# --- valid configs -------------------------------------------------------------------------


def test_full_featured_config_passes():
    validate_config(full_config())


def test_minimal_config_passes():
    validate_config(minimal_config())


def test_process_is_optional_at_create():
    config = full_config()
    del config["process"]
    validate_config(config)


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0", "1.2.1", "1.3.0", "1.3.0+dev", "0.5.0-dev"])
def test_semver_versions_pass(version):
    config = minimal_config()
    config["ociVersion"] = version
    validate_config(config)


@pytest.mark.parametrize("rootless", [False, True], ids=["runc-spec", "runc-spec-rootless"])
def test_runc_spec_output_passes(tmp_path, rootless):
    if not os.access(RUNC, os.X_OK):
        pytest.skip("runc is not installed")
    cmd = [RUNC, "spec"] + (["--rootless"] if rootless else [])
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True)
    with open(tmp_path / "config.json", encoding="utf-8") as f:
        config = json.load(f)
    validate_config(config)


def test_unknown_properties_are_ignored_everywhere():
    config = full_config()
    config["x-vendor"] = {"anything": [1, 2, 3]}
    config["root"]["futureField"] = True
    config["mounts"][0]["unknown"] = 1
    config["process"]["newThing"] = "x"
    config["process"]["user"]["username"] = "ignored-on-linux"
    config["process"]["scheduler"]["extra"] = None
    config["hooks"]["somedayHook"] = [{"whatever": 1}]
    config["hooks"]["poststop"][0]["retries"] = 3
    config["linux"]["futureLinuxThing"] = {}
    config["linux"]["resources"]["futureController"] = {"x": 1}
    config["linux"]["resources"]["memory"]["futureKnob"] = 7
    config["linux"]["seccomp"]["syscalls"][0]["comment"] = "allowed"
    config["linux"]["namespaces"][0]["extra"] = True
    config["linux"]["intelRdt"]["newerField"] = "v"
    validate_config(config)


def test_windows_config_is_not_held_to_posix_rules():
    config = {
        "ociVersion": "1.1.0",
        "process": {"cwd": "c:\\foo", "commandLine": "someapp.exe", "user": {"username": "containeradministrator"}},
        "windows": {"layerFolders": ["C:\\layers\\layer1"]},
    }
    validate_config(config)


# --- invalid configs: exact messages -------------------------------------------------------


def _set(path, value):
    """Return a mutator that sets ``value`` at the dotted/indexed ``path`` of full_config()."""

    def mutate(config):
        node = config
        parts = path.split("/")
        for part in parts[:-1]:
            node = node[int(part)] if isinstance(node, list) else node[part]
        last = parts[-1]
        if value is _DELETE:
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


_DELETE = object()

INVALID = [
    ("process/args", [], "process.args: [] is too short"),
    ("process/args", _DELETE, "process: 'args' is a required property"),
    ("process/args", "sh", "process.args: 'sh' is not of type 'array'"),
    ("process/args/0", 1, "process.args[0]: 1 is not of type 'string'"),
    ("process/cwd", _DELETE, "process: 'cwd' is a required property"),
    ("process/cwd", "root", "process.cwd: 'root' is not an absolute path"),
    ("process/env/1", "TERM", "process.env[1]: 'TERM' is not of the form KEY=value"),
    ("process/env/1", "=x", "process.env[1]: '=x' is not of the form KEY=value"),
    ("process/terminal", "yes", "process.terminal: 'yes' is not of type 'boolean'"),
    ("process/consoleSize/width", _DELETE, "process.consoleSize: 'width' is a required property"),
    ("process/user/uid", _DELETE, "process.user: 'uid' is a required property"),
    ("process/user/uid", -1, "process.user.uid: -1 is less than the minimum of 0"),
    ("process/user/gid", 4294967296, "process.user.gid: 4294967296 is greater than the maximum of 4294967295"),
    ("process/user/additionalGids/1", "6", "process.user.additionalGids[1]: '6' is not of type 'integer'"),
    ("process/user/uid", True, "process.user.uid: True is not of type 'integer'"),
    ("process/user/uid", 1.5, "process.user.uid: 1.5 is not of type 'integer'"),
    ("process/oomScoreAdj", 1001, "process.oomScoreAdj: 1001 is greater than the maximum of 1000"),
    ("process/oomScoreAdj", -1001, "process.oomScoreAdj: -1001 is less than the minimum of -1000"),
    ("process/rlimits/0/type", "NOFILE", "process.rlimits[0].type: 'NOFILE' is not an RLIMIT_* name"),
    ("process/rlimits/0/soft", -1, "process.rlimits[0].soft: -1 is less than the minimum of 0"),
    ("process/rlimits/1/hard", _DELETE, "process.rlimits[1]: 'hard' is a required property"),
    ("process/rlimits/1/type", "RLIMIT_NOFILE", "process.rlimits[1].type: duplicate rlimit type 'RLIMIT_NOFILE'"),
    ("process/capabilities/bounding/0", "AUDIT_WRITE",
     "process.capabilities.bounding[0]: 'AUDIT_WRITE' is not a CAP_* name"),
    ("process/capabilities", ["CAP_KILL"], "process.capabilities: ['CAP_KILL'] is not of type 'object'"),
    ("process/scheduler/policy", "SCHED_FAST",
     "process.scheduler.policy: 'SCHED_FAST' is not one of ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', "
     "'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE']"),
    ("process/scheduler/policy", _DELETE, "process.scheduler: 'policy' is a required property"),
    ("process/scheduler/nice", 2147483648, "process.scheduler.nice: 2147483648 is greater than the maximum of 2147483647"),
    ("process/scheduler/flags/0", "SCHED_FLAG_X",
     "process.scheduler.flags[0]: 'SCHED_FLAG_X' is not one of ['SCHED_FLAG_RESET_ON_FORK', "
     "'SCHED_FLAG_RECLAIM', 'SCHED_FLAG_DL_OVERRUN', 'SCHED_FLAG_KEEP_POLICY', 'SCHED_FLAG_KEEP_PARAMS', "
     "'SCHED_FLAG_UTIL_CLAMP_MIN', 'SCHED_FLAG_UTIL_CLAMP_MAX']"),
    ("process/ioPriority/priority", 8, "process.ioPriority.priority: 8 is greater than the maximum of 7"),
    ("process/ioPriority/class", "IOPRIO_CLASS_NONE",
     "process.ioPriority.class: 'IOPRIO_CLASS_NONE' is not one of "
     "['IOPRIO_CLASS_RT', 'IOPRIO_CLASS_BE', 'IOPRIO_CLASS_IDLE']"),
    ("process/execCPUAffinity/final", "0-3;7",
     "process.execCPUAffinity.final: '0-3;7' is not a list like '0-3,7'"),
    ("ociVersion", _DELETE, "config.json: 'ociVersion' is a required property"),
    ("ociVersion", "1.0", "ociVersion: '1.0' is not a SemVer 2.0.0 version"),
    ("ociVersion", 1, "ociVersion: 1 is not of type 'string'"),
    ("root", _DELETE, "config.json: 'root' is a required property"),
    ("root/path", _DELETE, "root: 'path' is a required property"),
    ("root/path", "", "root.path: '' is too short"),
    ("root/readonly", "true", "root.readonly: 'true' is not of type 'boolean'"),
    ("mounts/2/destination", 3, "mounts[2].destination: 3 is not of type 'string'"),
    ("mounts/1/destination", _DELETE, "mounts[1]: 'destination' is a required property"),
    ("mounts/1/options", "nosuid", "mounts[1].options: 'nosuid' is not of type 'array'"),
    ("mounts/2/gidMappings", _DELETE, "mounts[2]: 'gidMappings' is a dependency of 'uidMappings'"),
    ("mounts/2/uidMappings/0/size", _DELETE, "mounts[2].uidMappings[0]: 'size' is a required property"),
    ("mounts", {"destination": "/x"}, "mounts: {'destination': '/x'} is not of type 'array'"),
    ("hostname", 5, "hostname: 5 is not of type 'string'"),
    ("domainname", None, "domainname: None is not of type 'string'"),
    ("hooks/prestart/0/path", "fix-mounts", "hooks.prestart[0].path: 'fix-mounts' is not an absolute path"),
    ("hooks/poststart/0/timeout", 0, "hooks.poststart[0].timeout: 0 is less than the minimum of 1"),
    ("hooks/createRuntime/0/path", _DELETE, "hooks.createRuntime[0]: 'path' is a required property"),
    ("hooks/startContainer", {}, "hooks.startContainer: {} is not of type 'array'"),
    ("annotations/com.example.key1", 1, 'annotations["com.example.key1"]: 1 is not of type \'string\''),
    ("annotations/", "x", "annotations: annotation keys must not be empty"),
    ("linux/namespaces/0/type", "foo",
     "linux.namespaces[0].type: 'foo' is not one of "
     "['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']"),
    ("linux/namespaces/0/type", _DELETE, "linux.namespaces[0]: 'type' is a required property"),
    ("linux/namespaces/1/path", "proc/1/ns/net", "linux.namespaces[1].path: 'proc/1/ns/net' is not an absolute path"),
    ("linux/namespaces/2/type", "pid", "linux.namespaces[2].type: duplicate namespace type 'pid'"),
    ("linux/uidMappings/0/hostID", -1, "linux.uidMappings[0].hostID: -1 is less than the minimum of 0"),
    ("linux/gidMappings/0/containerID", _DELETE, "linux.gidMappings[0]: 'containerID' is a required property"),
    ("linux/timeOffsets/monotonic/nanosecs", -1,
     "linux.timeOffsets.monotonic.nanosecs: -1 is less than the minimum of 0"),
    ("linux/devices/0/type", "x", "linux.devices[0].type: 'x' is not one of ['c', 'b', 'u', 'p']"),
    ("linux/devices/0/major", _DELETE, "linux.devices[0]: 'major' is a required property"),
    ("linux/devices/1/path", "sda", "linux.devices[1].path: 'sda' is not an absolute path"),
    ("linux/devices/0/fileMode", -438, "linux.devices[0].fileMode: -438 is less than the minimum of 0"),
    ("linux/netDevices/eth0/name", 0, "linux.netDevices.eth0.name: 0 is not of type 'string'"),
    ("linux/resources/devices/1/allow", _DELETE, "linux.resources.devices[1]: 'allow' is a required property"),
    ("linux/resources/devices/1/type", "u", "linux.resources.devices[1].type: 'u' is not one of ['a', 'c', 'b']"),
    ("linux/resources/devices/1/access", "rwx",
     "linux.resources.devices[1].access: 'rwx' is not a combination of 'r', 'w' and 'm'"),
    ("linux/resources/memory/limit", -2, "linux.resources.memory.limit: -2 is less than the minimum of -1"),
    ("linux/resources/memory/swappiness", 101,
     "linux.resources.memory.swappiness: 101 is greater than the maximum of 100"),
    ("linux/resources/memory/limit", 9223372036854775808,
     "linux.resources.memory.limit: 9223372036854775808 is greater than the maximum of 9223372036854775807"),
    ("linux/resources/cpu/shares", -1, "linux.resources.cpu.shares: -1 is less than the minimum of 0"),
    ("linux/resources/cpu/cpus", "0-3,a", "linux.resources.cpu.cpus: '0-3,a' is not a list like '0-3,7'"),
    ("linux/resources/cpu/idle", 2, "linux.resources.cpu.idle: 2 is greater than the maximum of 1"),
    ("linux/resources/blockIO/weight", 65536,
     "linux.resources.blockIO.weight: 65536 is greater than the maximum of 65535"),
    ("linux/resources/blockIO/weightDevice/1/weight", _DELETE,
     "linux.resources.blockIO.weightDevice[1]: at least one of 'weight' and 'leafWeight' is required"),
    ("linux/resources/blockIO/weightDevice/0/major", _DELETE,
     "linux.resources.blockIO.weightDevice[0]: 'major' is a required property"),
    ("linux/resources/blockIO/throttleReadBpsDevice/0/rate", _DELETE,
     "linux.resources.blockIO.throttleReadBpsDevice[0]: 'rate' is a required property"),
    ("linux/resources/hugepageLimits/0/pageSize", "2M",
     "linux.resources.hugepageLimits[0].pageSize: '2M' is not a page size like '2MB'"),
    ("linux/resources/hugepageLimits/1/limit", _DELETE,
     "linux.resources.hugepageLimits[1]: 'limit' is a required property"),
    ("linux/resources/network/priorities/0/priority", _DELETE,
     "linux.resources.network.priorities[0]: 'priority' is a required property"),
    ("linux/resources/pids/limit", -2, "linux.resources.pids.limit: -2 is less than the minimum of -1"),
    ("linux/resources/rdma/mlx4_0", {},
     "linux.resources.rdma.mlx4_0: at least one of 'hcaHandles' and 'hcaObjects' is required"),
    ("linux/resources/unified/io.max", 5, 'linux.resources.unified["io.max"]: 5 is not of type \'string\''),
    ("linux/intelRdt/memBwSchema", "L3:0=7f0",
     "linux.intelRdt.memBwSchema: 'L3:0=7f0' does not start with 'MB:' or contains a newline"),
    ("linux/intelRdt/schemata/1", "L2:0=f\nMB:0=20", "linux.intelRdt.schemata[1]: 'L2:0=f\\nMB:0=20' contains a newline"),
    ("linux/memoryPolicy/mode", _DELETE, "linux.memoryPolicy: 'mode' is a required property"),
    ("linux/memoryPolicy/flags/0", "MPOL_F_X",
     "linux.memoryPolicy.flags[0]: 'MPOL_F_X' is not one of "
     "['MPOL_F_NUMA_BALANCING', 'MPOL_F_RELATIVE_NODES', 'MPOL_F_STATIC_NODES']"),
    ("linux/sysctl/net.core.somaxconn", 256, 'linux.sysctl["net.core.somaxconn"]: 256 is not of type \'string\''),
    ("linux/seccomp/defaultAction", _DELETE, "linux.seccomp: 'defaultAction' is a required property"),
    ("linux/seccomp/defaultAction", "SCMP_ACT_MAYBE",
     "linux.seccomp.defaultAction: 'SCMP_ACT_MAYBE' is not one of ['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', "
     "'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', "
     "'SCMP_ACT_LOG', 'SCMP_ACT_NOTIFY']"),
    ("linux/seccomp/architectures/0", "x86_64",
     "linux.seccomp.architectures[0]: 'x86_64' is not one of ['SCMP_ARCH_X86', 'SCMP_ARCH_X86_64', "
     "'SCMP_ARCH_X32', 'SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64', "
     "'SCMP_ARCH_MIPS64N32', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL64N32', "
     "'SCMP_ARCH_PPC', 'SCMP_ARCH_PPC64', 'SCMP_ARCH_PPC64LE', 'SCMP_ARCH_S390', 'SCMP_ARCH_S390X', "
     "'SCMP_ARCH_PARISC', 'SCMP_ARCH_PARISC64', 'SCMP_ARCH_RISCV64', 'SCMP_ARCH_LOONGARCH64', "
     "'SCMP_ARCH_M68K', 'SCMP_ARCH_SH', 'SCMP_ARCH_SHEB']"),
    ("linux/seccomp/flags/0", "SECCOMP_FILTER_FLAG_NEW_LISTENER",
     "linux.seccomp.flags[0]: 'SECCOMP_FILTER_FLAG_NEW_LISTENER' is not one of ['SECCOMP_FILTER_FLAG_TSYNC', "
     "'SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW', 'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV']"),
    ("linux/seccomp/listenerPath", _DELETE, "linux.seccomp: 'listenerPath' is a dependency of 'listenerMetadata'"),
    ("linux/seccomp/syscalls/0/names", [], "linux.seccomp.syscalls[0].names: [] is too short"),
    ("linux/seccomp/syscalls/1/action", _DELETE, "linux.seccomp.syscalls[1]: 'action' is a required property"),
    ("linux/seccomp/syscalls/1/errnoRet", -1, "linux.seccomp.syscalls[1].errnoRet: -1 is less than the minimum of 0"),
    ("linux/seccomp/syscalls/3/args/1/op", "SCMP_CMP_IN",
     "linux.seccomp.syscalls[3].args[1].op: 'SCMP_CMP_IN' is not one of ['SCMP_CMP_NE', 'SCMP_CMP_LT', "
     "'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']"),
    ("linux/seccomp/syscalls/3/args/0/value", _DELETE,
     "linux.seccomp.syscalls[3].args[0]: 'value' is a required property"),
    ("linux/rootfsPropagation", "recursive",
     "linux.rootfsPropagation: 'recursive' is not one of ['shared', 'slave', 'private', 'unbindable', "
     "'rshared', 'rslave', 'rprivate', 'runbindable']"),
    ("linux/maskedPaths/0", "proc/kcore", "linux.maskedPaths[0]: 'proc/kcore' is not an absolute path"),
    ("linux/readonlyPaths", "/proc/sys", "linux.readonlyPaths: '/proc/sys' is not of type 'array'"),
    ("linux/mountLabel", [], "linux.mountLabel: [] is not of type 'string'"),
    ("linux/personality/domain", "LINUX64", "linux.personality.domain: 'LINUX64' is not one of ['LINUX', 'LINUX32']"),
    ("linux/personality/domain", _DELETE, "linux.personality: 'domain' is a required property"),
    ("linux", [], "linux: [] is not of type 'object'"),
]


@pytest.mark.parametrize(
    "path, value, expected", INVALID, ids=[f"{p}={'<del>' if v is _DELETE else v!r}" for p, v, _ in INVALID]
)
def test_invalid_config_message(path, value, expected):
    config = full_config()
    _set(path, value)(config)
    assert message(config) == expected


def test_ref_inlining_does_not_change_any_message():
    """The loader inlines $refs for speed; a plain validator must pick the same errors."""
    import jsonschema
    import referencing

    with open(os.path.join(SCHEMA_DIR, validate.CONFIG_SCHEMA), encoding="utf-8") as f:
        raw = jsonschema.Draft202012Validator(json.load(f), registry=referencing.Registry())
    fast = validate._validator(validate.CONFIG_SCHEMA)
    assert "$ref" not in json.dumps(fast.schema["properties"])
    for path, value, _ in INVALID[::2]:  # half the table keeps this test quick
        config = full_config()
        _set(path, value)(config)
        got = [jsonschema.exceptions.best_match(v.iter_errors(config)) for v in (raw, fast)]
        if got[0] is None:  # duplicate checks happen after the schema
            assert got[1] is None
            continue
        assert [validate._format_path(e.absolute_path, "config.json") + ": " + validate._problem(e) for e in got] == [
            validate._format_path(got[0].absolute_path, "config.json") + ": " + validate._problem(got[0])
        ] * 2


@pytest.mark.parametrize(
    "config, expected",
    [
        ([], "config.json: [] is not of type 'object'"),
        (None, "config.json: None is not of type 'object'"),
        ({}, "config.json: 'ociVersion' is a required property"),
        ({"ociVersion": "1.0.0"}, "config.json: 'root' is a required property"),
        (
            {"ociVersion": "1.1.0", "windows": {}, "process": {"cwd": "c:\\"}},
            "process: one of 'args' or 'commandLine' is required",
        ),
    ],
)
def test_invalid_document_message(config, expected):
    assert message(config) == expected


def test_shallowest_error_wins():
    config = full_config()
    config["linux"]["namespaces"][0]["type"] = "foo"
    del config["root"]
    assert message(config) == "config.json: 'root' is a required property"


def test_long_values_are_shortened():
    config = full_config()
    config["process"]["args"] = {"x" * 500: 1}
    text = message(config)
    assert text.startswith("process.args: {'xxxx")
    assert text.endswith("... is not of type 'array'")
    assert len(text) < 200


def test_error_is_a_config_error_subclass_of_oci_error():
    from ociruntime.errors import OCIError

    with pytest.raises(OCIError):
        validate_config({"ociVersion": "1.0.0"})


# --- state -----------------------------------------------------------------------------------


def typical_state():
    return {
        "ociVersion": "1.3.0",
        "id": "oci-container1",
        "status": "running",
        "pid": 4422,
        "bundle": "/containers/redis",
        "annotations": {"myKey": "myValue"},
    }


def state_message(state):
    with pytest.raises(ConfigError) as info:
        validate_state(state)
    return str(info.value)


@pytest.mark.parametrize("status", ["creating", "created", "running", "stopped", "paused"])
def test_state_statuses_pass(status):
    state = typical_state()
    state["status"] = status
    validate_state(state)


def test_state_pid_optional_when_not_created_or_running():
    state = typical_state()
    del state["pid"]
    for status in ("creating", "stopped"):
        state["status"] = status
        validate_state(state)


def test_state_extra_properties_allowed():
    state = typical_state()
    state["created"] = "2024-01-01T00:00:00Z"
    state["owner"] = ""
    del state["annotations"]
    validate_state(state)


@pytest.mark.parametrize(
    "change, expected",
    [
        ({"status": _DELETE}, "state.json: 'status' is a required property"),
        (
            {"status": "exploded"},
            "status: 'exploded' is not one of ['creating', 'created', 'running', 'stopped', 'paused']",
        ),
        ({"status": 1}, "status: 1 is not one of ['creating', 'created', 'running', 'stopped', 'paused']"),
        ({"pid": _DELETE}, "state.json: 'pid' is a required property"),
        ({"pid": -1}, "pid: -1 is less than the minimum of 0"),
        ({"id": ""}, "id: '' is too short"),
        ({"id": _DELETE}, "state.json: 'id' is a required property"),
        ({"bundle": "containers/redis"}, "bundle: 'containers/redis' is not an absolute path"),
        ({"ociVersion": "v1"}, "ociVersion: 'v1' is not a SemVer 2.0.0 version"),
        ({"annotations": {"k": 1}}, "annotations.k: 1 is not of type 'string'"),
    ],
)
def test_invalid_state_message(change, expected):
    state = typical_state()
    for key, value in change.items():
        if value is _DELETE:
            del state[key]
        else:
            state[key] = value
    assert state_message(state) == expected


# --- the lean checker agrees with jsonschema -----------------------------------------------


def _documents():
    """Every config of this file, valid and invalid, with a label."""
    yield "full", full_config()
    yield "minimal", minimal_config()
    for path, value, _ in INVALID:
        config = full_config()
        _set(path, value)(config)
        yield f"{path}={value!r}", config
    yield "not-an-object", []
    yield "empty", {}


def test_quick_checker_agrees_with_jsonschema_on_every_document():
    from ociruntime.spec.quickcheck import Checker

    with open(os.path.join(SCHEMA_DIR, validate.CONFIG_SCHEMA), encoding="utf-8") as f:
        quick = Checker(json.load(f))
    authority = validate._validator(validate.CONFIG_SCHEMA)
    disagreements = [label for label, config in _documents()
                     if quick.valid(config) != authority.is_valid(config)]
    assert disagreements == []


def test_quick_checker_knows_every_keyword_of_the_state_schema():
    from ociruntime.spec.quickcheck import Checker

    with open(os.path.join(SCHEMA_DIR, validate.STATE_SCHEMA), encoding="utf-8") as f:
        quick = Checker(json.load(f))
    assert quick.valid(typical_state())
    assert not quick.valid({})


def test_valid_config_does_not_need_jsonschema():
    code = ("import json, sys, ociruntime.spec.validate as v; "
            f"v.validate_config(json.loads({json.dumps(json.dumps(full_config()))})); "
            "print('jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the lean checker's pattern tests agree with re.search -----------------------------

def _pattern_corpus():
    import itertools
    import random

    fixed = ["", "\n", "1.0.0", "1.0.0\n", "1.0.0\n\n", "01.0.0", "1.0", "1.0.0-", "1.0.0-rc.1",
             "1.0.0-0.3.7", "1.0.0-01", "1.0.0-x-y.-z", "1.0.0+build.1", "1.0.0+", "1.0.0+a..b",
             "1.0.0-alpha+001", "1.2.3-rc1+build-5.x", "1.0.0+a+b", "1.0.0-é", "١.0.0",
             "0-3,7", "0-3,", ",1", "1--2", "1-2-3", "12", "CAP_SYS_ADMIN", "CAP_", "cap_x", "CAP_X\n",
             "CAP_X\nY", "RLIMIT_NOFILE", "RLIMIT_N0", "MB:0=20", "MB:0=20\nx", "L3:0=f", "2MB",
             "0MB", "1GB", "10KB", "2mB", "1B", "rwm", "rx", "/abs", "rel", "K=v", "=v", "K", "a\n=b",
             "PATH=/bin"]
    rng = random.Random(11)
    alphabet = "0123456789.-+,=/:\nACPMBKGTEIRLMTrwmxé_"
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(10))) for _ in range(3000)]
    semver_like = [".".join(p) for p in itertools.product(["0", "1", "01", "a", ""], repeat=3)]
    return fixed + fuzz + semver_like + [s + "-" + t for s in ("1.2.3",) for t in ("a.0", "0a", "-", "00")]


def test_pattern_tests_agree_with_re_search():
    import re

    from ociruntime.spec.quickcheck import _PREFIX, _WHOLE, pattern_test

    corpus = _pattern_corpus()
    for pattern in [*_WHOLE, *_PREFIX]:
        test = pattern_test(pattern)
        for text in corpus:
            assert test(text) == (re.search(pattern, text) is not None), (pattern, text)
