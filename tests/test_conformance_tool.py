"""Fast tests of the conformance tool itself (conformance/): case registry,
-k selection, TAP/JSON output, the baseline and exit-status logic.  No
container is run here."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance import registry, report  # noqa: E402
from conformance.runner import Result, outcome  # noqa: E402


@pytest.fixture(scope="module")
def cases():
    return registry.load_cases()


def run_tool(*args):
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


# -- the registry ---------------------------------------------------------------

def test_list_has_at_least_150_cases():
    cp = run_tool("--list")
    assert cp.returncode == 0, cp.stderr
    last = cp.stdout.strip().splitlines()[-1]
    assert last.endswith(" cases")
    assert int(last.split()[0]) >= 150
    assert len(cp.stdout.strip().splitlines()) == int(last.split()[0]) + 1


def test_cases_cite_a_section_and_level(cases):
    ids = [c.id for c in cases]
    assert len(ids) == len(set(ids))
    for c in cases:
        doc, _, anchor = c.section.partition("#")
        assert doc in ("runtime.md", "config.md", "config-linux.md", "runtime-linux.md"), c.id
        assert anchor and anchor == anchor.lower() and " " not in anchor, c.id
        assert c.level in registry.LEVELS, c.id
        assert c.summary, f"{c.id} has no docstring summary"
        for name, why in c.deviations.items():
            assert "/" not in name and why.strip(), c.id


def test_every_area_of_the_issue_is_covered(cases):
    prefixes = {c.id.split(".")[0] for c in cases}
    for area in ("lifecycle", "state", "errors", "kill", "delete", "hooks", "process", "root",
                 "mounts", "ns", "userns", "uts", "devices", "devcg", "paths", "sysctl",
                 "seccomp", "cgroups", "pidfile", "annotations"):
        assert area in prefixes, area
    hooks = " ".join(c.id for c in cases if c.id.startswith("hooks."))
    for stage in ("prestart", "createruntime", "createcontainer", "startcontainer",
                  "poststart", "poststop"):
        assert stage in hooks, stage
    assert "timeout" in hooks and "failure" in hooks


def test_registering_a_duplicate_id_fails(cases):
    with pytest.raises(ValueError):
        registry.case(cases[0].id, "config.md#process")(lambda t: None)
    with pytest.raises(ValueError):
        registry.case("x.bad-section", "not a section")


# -- -k ---------------------------------------------------------------------------

def test_k_substring_glob_and_section(cases):
    sel = registry.select(cases, ["seccomp"])
    assert sel and all("seccomp" in c.id or "seccomp" in c.section for c in sel)
    sel = registry.select(cases, ["hooks.*-failure"])
    assert sel and all(c.id.startswith("hooks.") and c.id.endswith("-failure") for c in sel)
    sel = registry.select(cases, ["config-linux.md#sysctl"])
    assert sel and all(c.section == "config-linux.md#sysctl" for c in sel)
    assert registry.select(cases, ["no-such-thing-at-all"]) == []
    both = registry.select(cases, ["uts.", "sysctl."])
    assert {c.id.split(".")[0] for c in both} == {"uts", "sysctl"}
    assert registry.select(cases, []) == list(cases)


def test_k_on_the_command_line():
    cp = run_tool("--list", "-k", "uts.")
    assert cp.returncode == 0
    lines = cp.stdout.strip().splitlines()
    assert all(ln.startswith("uts.") for ln in lines[:-1])
    assert lines[-1] == f"{len(lines) - 1} cases"


def test_cli_needs_a_runtime():
    cp = run_tool()
    assert cp.returncode == 2
    assert "--runtime" in cp.stderr


# -- fake results -------------------------------------------------------------------

class FakeRuntime:
    def __init__(self, name):
        self.name, self.path, self.version = name, f"/usr/bin/{name}", f"{name} 1.0"


def fake(cases_and_statuses):
    """[(case_id, {runtime: status})] -> (cases, results)."""
    cases, results = [], {}
    for i, (cid, statuses) in enumerate(cases_and_statuses):
        c = registry.Case(cid, "config.md#process", "MUST", None, f"summary {i}", {}, i)
        cases.append(c)
        for rt, st in statuses.items():
            results[(cid, rt)] = Result(cid, rt, st, "" if st == "pass" else f"why {cid}",
                                        f"detail {cid}", 0.1)
    return cases, results


FAKE = [
    ("a.pass", {"uut": "pass", "ref": "pass"}),
    ("b.fail-ref-pass", {"uut": "fail", "ref": "pass"}),
    ("c.fail-ref-fail", {"uut": "fail", "ref": "fail"}),
    ("d.xfail", {"uut": "xfail", "ref": "pass"}),
    ("e.skip", {"uut": "skip", "ref": "skip"}),
    ("f.baseline-now-passing", {"uut": "pass", "ref": "pass"}),
    ("g.xpass", {"uut": "xpass", "ref": "pass"}),
]


def test_evaluate_without_baseline_counts_failures_a_reference_passes():
    cases, results = fake(FAKE)
    v = report.evaluate(results, cases, "uut", ["ref"])
    assert v["counted"] == ["b.fail-ref-pass"]
    assert v["known"] == ["c.fail-ref-fail"]
    assert v["fixed"] == []


def test_evaluate_without_references_counts_every_failure():
    cases, results = fake(FAKE)
    v = report.evaluate(results, cases, "uut", [])
    assert v["counted"] == ["b.fail-ref-pass", "c.fail-ref-fail"]


def test_evaluate_with_baseline():
    cases, results = fake(FAKE)
    baseline = ["b.fail-ref-pass", "f.baseline-now-passing", "z.not-selected"]
    v = report.evaluate(results, cases, "uut", ["ref"], baseline)
    # c fails, is not in the baseline: it counts even though the reference fails it too
    assert v["counted"] == ["c.fail-ref-fail"]
    assert v["known"] == ["b.fail-ref-pass"]
    assert v["fixed"] == ["f.baseline-now-passing"]
    v = report.evaluate(results, cases, "uut", [], ["b.fail-ref-pass", "c.fail-ref-fail"])
    assert v["counted"] == []


def test_baseline_roundtrip(tmp_path):
    cases, results = fake(FAKE)
    path = tmp_path / "baseline.json"
    ids = report.write_baseline(path, results, cases, "uut")
    assert ids == ["b.fail-ref-pass", "c.fail-ref-fail"]
    assert report.load_baseline(path) == ids
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"a": 1}))
    with pytest.raises(ValueError):
        report.load_baseline(bad)


def test_shipped_baseline_names_existing_cases(cases):
    path = ROOT / "conformance" / "baseline-ociruntime.json"
    ids = {c.id for c in cases}
    for cid in report.load_baseline(path):
        assert cid in ids, f"{cid} in the baseline is not a case"


def test_summary_line_prefix():
    cases, results = fake(FAKE)
    line = report.summary_line(report.counts(results, cases, "uut"))
    assert line.startswith("2 passed, 2 failed")
    assert "1 xfailed" in line and "1 xpassed" in line and "1 skipped" in line


def test_tap_shape():
    cases, results = fake(FAKE)
    rts = [FakeRuntime("uut"), FakeRuntime("ref")]
    lines = report.tap(results, cases, rts).splitlines()
    assert lines[0] == "TAP version 13"
    assert lines[1] == f"1..{len(cases) * 2}"
    points = [ln for ln in lines if ln.startswith(("ok ", "not ok "))]
    assert len(points) == len(cases) * 2
    numbers = [int(ln.split()[1] if ln.startswith("ok") else ln.split()[2]) for ln in points]
    assert numbers == list(range(1, len(points) + 1))
    assert points[0].startswith("ok 1 - a.pass [uut]")
    fail = next(i for i, ln in enumerate(lines) if ln.startswith("not ok 3 "))
    assert lines[fail + 1] == "  ---" and lines[fail + 2].startswith("  message: ")
    assert lines[fail + 3] == "  ..."
    assert any("# TODO" in ln and "d.xfail [uut]" in ln and ln.startswith("not ok") for ln in points)
    assert any("# SKIP" in ln and "e.skip [uut]" in ln and ln.startswith("ok") for ln in points)


def test_json_shape():
    cases, results = fake(FAKE)
    rts = [FakeRuntime("uut"), FakeRuntime("ref")]
    v = report.evaluate(results, cases, "uut", ["ref"])
    doc = report.json_report(results, cases, rts, {"uut": 1.0, "ref": 2.0}, v, [], 1, 0.0)
    doc = json.loads(json.dumps(doc))
    assert [r["role"] for r in doc["runtimes"]] == ["under test", "reference"]
    assert doc["runtimes"][0]["counts"] == {"pass": 2, "fail": 2, "xfail": 1, "xpass": 1, "skip": 1}
    assert len(doc["cases"]) == len(cases)
    c = doc["cases"][1]
    assert set(c) >= {"id", "section", "level", "summary", "deviations", "results"}
    assert c["results"]["uut"]["status"] == "fail"
    assert set(c["results"]["uut"]) == {"status", "reason", "detail", "duration"}
    assert doc["summary"]["exit_status"] == 1
    assert doc["summary"]["counted_failures"] == ["b.fail-ref-pass"]


def test_table_and_details():
    cases, results = fake(FAKE)
    rts = [FakeRuntime("uut"), FakeRuntime("ref")]
    text = report.table(results, cases, rts).splitlines()
    head = [h.strip() for h in text[0].strip("|").split("|")]
    assert head == ["case", "spec section", "level", "uut", "ref"]
    assert len(text) == len(cases) + 2
    assert "FAIL" in text[3] and "pass" in text[3]
    det = report.details(results, cases, rts)
    assert "FAIL  b.fail-ref-pass [uut]: why b.fail-ref-pass" in det
    assert "(observed: detail d.xfail)" in det


# -- deviations and leftovers ----------------------------------------------------------

def test_outcome_deviation_and_leftovers():
    c = registry.Case("x.y", "config.md#process", "MUST", None, "s", {"dev": "known reason"}, 0)
    assert outcome(c, "dev", "fail", "boom", []) == ("xfail", "known reason", "boom")
    assert outcome(c, "dev", "pass", "", []) == ("xpass", "known reason", "")
    assert outcome(c, "other", "fail", "boom", []) == ("fail", "boom", "boom")
    assert outcome(c, "dev", "skip", "no feature", []) == ("skip", "no feature", "no feature")
    st, reason, _ = outcome(c, "dev", "pass", "", ["cgroups left: /x"])
    assert st == "fail" and "leftovers: cgroups left: /x" in reason
    st, reason, _ = outcome(c, "dev", "fail", "boom", ["state left"])
    assert st == "fail" and reason.startswith("boom; leftovers:")


@pytest.mark.skipif(os.geteuid() == 0, reason="checks the refusal for non-root users")
def test_refuses_to_run_without_root():
    cp = run_tool("--runtime", "/bin/true")
    assert cp.returncode == 2 and "root" in cp.stderr


def test_leak_relevant_ignores_other_peoples_mounts():
    from conformance.bundle import leak_relevant
    run = "/tmp/ocic-abc"
    assert leak_relevant(("/tmp/ocic-abc/runc/0001-x/b1/rootfs/proc", "/", "proc", "proc", "0:1"), run)
    assert leak_relevant(("/mnt/a", "/", "tmpfs", "tmpfs", "0:2"), run)
    assert leak_relevant(("/proc/sys", "/sys", "proc", "proc", "0:3"), run)
    assert not leak_relevant(("/tmp/ocit-other/t1/mnt", "/", "tmpfs", "tmpfs", "0:4"), run)
    assert not leak_relevant(("/run/containerd/s/x", "/", "tmpfs", "tmpfs", "0:5"), run)
