#!/usr/bin/env python3
"""Start latency and footprint of OCI runtimes, side by side (run as root).

    benchmarks/bench.py [--runtime NAME_OR_PATH ...] [--reps N] [--json FILE]

Every measurement is interleaved across runtimes (ours, runc, crun, ours, ...) and reported as
the median of N repetitions, with ratios against runc and crun.  All runtimes get the same
bundle: the default config of `ociruntime spec` (without a terminal) running busybox `/bin/true`, each container
in a cgroup of its own under /ociruntime-bench (removed afterwards).

Measured:
  lifecycle  create + start + wait for exit + delete (three or four runtime invocations)
  run        a foreground `run` of the same container
  exec       a foreground `exec ID /bin/true` into a running container (busybox `sleep`)
  state      `state ID` with 100 created containers present
  list       `list` with 100 created containers present
  rss        peak RSS of each runtime process (create, state, start, delete; through GNU
             time), and the RSS of the container's init while it waits for `start`
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

CGROUP_PARENT = "ociruntime-bench"
PR_SET_CHILD_SUBREAPER = 36


def build_bundle(directory: str, args: tuple = ("/bin/true",)) -> str:
    """A busybox bundle with ociruntime's default config (ociVersion 1.0.2), running ``args``."""
    rootfs = os.path.join(directory, "rootfs")
    os.makedirs(os.path.join(rootfs, "bin"))
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for applet in ("sh", "true", "sleep"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    subprocess.run(["ociruntime", "spec", "--bundle", directory], check=True)
    path = os.path.join(directory, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["process"]["args"] = list(args)
    config["process"]["terminal"] = False  # detached containers, no console socket
    config["ociVersion"] = "1.0.2"  # crun 1.8 refuses newer versions; nothing here needs them
    with open(path, "w") as f:
        json.dump(config, f)
    return directory


def set_cgroup(bundle: str, name: str) -> None:
    """Each container gets its own absolute cgroupsPath (never the caller's cgroup)."""
    path = os.path.join(bundle, "config.json")
    with open(path) as f:
        config = json.load(f)
    config["linux"]["cgroupsPath"] = f"/{CGROUP_PARENT}/{name}"
    with open(path, "w") as f:
        json.dump(config, f)


class Runtime:
    def __init__(self, binary: str, workdir: str):
        self.binary = shutil.which(binary) or binary
        self.name = os.path.basename(self.binary)
        self.root = os.path.join(workdir, f"root-{self.name}")

    def call(self, *args: str) -> float:
        """Runs one command; returns its wall time in seconds and fails on error."""
        # a file, not a pipe: a created container's init inherits the runtime's stdio
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.run([self.binary, "--root", self.root, *args],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)
            elapsed = time.perf_counter() - start
            if proc.returncode != 0:
                err.seek(0)
                raise RuntimeError(f"{self.name} {' '.join(args)}: {err.read().decode().strip()}")
        return elapsed

    def peak_rss(self, *args: str) -> int:
        """Runs one command under GNU time and returns its peak RSS in KiB.  (The rusage of a
        child forked from this Python process would include the fork's copy of our memory.)"""
        with tempfile.NamedTemporaryFile("r") as out:
            subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, self.binary, "--root",
                            self.root, *args], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=True)
            return int(out.read().split()[-1])


def reap(pid: int) -> None:
    """Waits for a container init that was reparented to us (we are a subreaper)."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        while os.path.exists(f"/proc/{pid}"):
            time.sleep(0.001)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def lifecycle(rt: Runtime, bundle: str, cid: str) -> float:
    pid_file = os.path.join(bundle, f"{cid}.pid")
    set_cgroup(bundle, cid)
    start = time.perf_counter()
    rt.call("create", "--bundle", bundle, "--pid-file", pid_file, cid)
    rt.call("start", cid)
    reap(read_pid(pid_file))
    rt.call("delete", cid)
    return time.perf_counter() - start


def footprint(rt: Runtime, bundle: str, cid: str) -> dict[str, int]:
    """Peak RSS of each lifecycle command, and the init's RSS while it waits for start."""
    pid_file = os.path.join(bundle, f"{cid}.pid")
    set_cgroup(bundle, cid)
    peaks = [rt.peak_rss("create", "--bundle", bundle, "--pid-file", pid_file, cid)]
    pid = read_pid(pid_file)
    init = rss_kib(pid)
    peaks.append(rt.peak_rss("state", cid))
    peaks.append(rt.peak_rss("start", cid))
    reap(pid)
    peaks.append(rt.peak_rss("delete", cid))
    return {"runtime_rss_kib": max(peaks), "init_rss_kib": init}


def read_pid(pid_file: str) -> int:
    with open(pid_file) as f:
        return int(f.read())


def foreground_run(rt: Runtime, bundle: str, cid: str) -> float:
    set_cgroup(bundle, cid)
    return rt.call("run", "--bundle", bundle, cid)


def started(rt: Runtime, bundle: str, cid: str) -> int:
    """Creates and starts a container (that keeps running); returns its init's PID."""
    pid_file = os.path.join(bundle, f"{cid}.pid")
    set_cgroup(bundle, cid)
    rt.call("create", "--bundle", bundle, "--pid-file", pid_file, cid)
    rt.call("start", cid)
    return read_pid(pid_file)


def with_many(rt: Runtime, bundle: str, count: int, reps: int) -> dict[str, list[float]]:
    """state and list timings with ``count`` created containers present."""
    pids = []
    ids = [f"{rt.name}-many-{i}" for i in range(count)]
    try:
        for cid in ids:
            set_cgroup(bundle, cid)
            pid_file = os.path.join(bundle, f"{cid}.pid")
            rt.call("create", "--bundle", bundle, "--pid-file", pid_file, cid)
            pids.append(read_pid(pid_file))
        times = {"state": [], "list": []}
        for _ in range(reps):
            times["state"].append(rt.call("state", ids[count // 2]))
            times["list"].append(rt.call("list"))
        return times
    finally:
        for cid in ids:
            try:
                rt.call("delete", "--force", cid)
            except RuntimeError:
                pass
        for pid in pids:
            reap(pid)


def remove_cgroup_parent() -> None:
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        path = os.path.join("/sys/fs/cgroup", hierarchy, CGROUP_PARENT)
        if os.path.isdir(path):
            for child in os.listdir(path):
                child_path = os.path.join(path, child)
                if os.path.isdir(child_path):
                    os.rmdir(child_path)
            os.rmdir(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runtime", action="append", help="runtime binary (default: ociruntime runc crun)")
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--many", type=int, default=100, help="containers present for state/list")
    parser.add_argument("--json", help="also write the results as JSON to this file")
    args = parser.parse_args()
    names = args.runtime or [n for n in ("ociruntime", "runc", "crun") if shutil.which(n)]
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    workdir = tempfile.mkdtemp(prefix="ociruntime-bench-")
    try:
        bundle = build_bundle(os.path.join(workdir, "bundle"))
        runtimes = [Runtime(n, workdir) for n in names]
        results = {rt.name: {"lifecycle": [], "run": [], "exec": []} for rt in runtimes}
        sleeper = build_bundle(os.path.join(workdir, "sleeper"), ("sleep", "100000"))
        targets = {rt.name: started(rt, sleeper, f"{rt.name}-exec") for rt in runtimes}
        try:
            for rep in range(args.reps):
                for rt in runtimes:
                    results[rt.name]["lifecycle"].append(lifecycle(rt, bundle, f"{rt.name}-lc-{rep}"))
                    results[rt.name]["run"].append(foreground_run(rt, bundle, f"{rt.name}-run-{rep}"))
                    results[rt.name]["exec"].append(rt.call("exec", f"{rt.name}-exec", "/bin/true"))
        finally:
            for rt in runtimes:
                rt.call("delete", "--force", f"{rt.name}-exec")
                reap(targets[rt.name])
        for rt in runtimes:
            results[rt.name].update(with_many(rt, bundle, args.many, args.reps))
        rss = {rt.name: footprint(rt, bundle, f"{rt.name}-rss") for rt in runtimes}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        remove_cgroup_parent()
    report = summarize(results, rss)
    print_table(report, [rt.name for rt in runtimes])
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "reps": args.reps, "medians": report}, f, indent=2)
    return 0


def summarize(results: dict, rss: dict) -> dict:
    report = {}
    for name, measures in results.items():
        row = {key: statistics.median(values) * 1000 for key, values in measures.items()}
        report[name] = row | rss[name]
    return report


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "?")
    return f"{os.cpu_count()} x {model}, kernel {os.uname().release}"


def print_table(report: dict, names: list[str]) -> None:
    keys = [("lifecycle", "lifecycle ms"), ("run", "run ms"), ("exec", "exec ms"), ("state", "state ms"),
            ("list", "list ms"), ("runtime_rss_kib", "runtime peak RSS KiB"),
            ("init_rss_kib", "init RSS KiB (created)")]
    ours = names[0]
    others = names[1:]
    header = ["measure", *names, *[f"{ours}/{o}" for o in others]]
    rows = [header]
    for key, label in keys:
        values = [report[n][key] for n in names]
        ratios = [f"{report[ours][key] / report[o][key]:.2f}" if report[o][key] else "-" for o in others]
        rows.append([label, *[f"{v:.1f}" for v in values], *ratios])
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    print(f"machine: {machine()}")
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


if __name__ == "__main__":
    sys.exit(main())
