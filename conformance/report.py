"""Output (table, TAP, JSON), the baseline and the exit status."""

from __future__ import annotations

import json
import os
import platform
import time

PASSING = ("pass", "xpass")
CELL = {"pass": "pass", "fail": "FAIL", "xfail": "xfail", "xpass": "XPASS", "skip": "skip"}


def counts(results, cases, runtime):
    c = {k: 0 for k in ("pass", "fail", "xfail", "xpass", "skip")}
    for case in cases:
        r = results.get((case.id, runtime))
        if r is not None:
            c[r.status] += 1
    return c


def summary_line(c):
    """The closing line: `N passed, N failed` first, as CI looks for it."""
    return (f"{c['pass']} passed, {c['fail']} failed, {c['xfail']} xfailed, "
            f"{c['xpass']} xpassed, {c['skip']} skipped")


def evaluate(results, cases, uut, refs, baseline=None):
    """Decide what the runtime under test's results mean for the exit status.

    A failure of the runtime under test counts against it unless
      * a baseline is given and lists the case (a known failure), or
      * no baseline is given, references were run, and none of them passed
        the case (nobody passes it: not a regression of the runtime).
    Returns {"counted": [...], "known": [...], "fixed": [...],
             "ref_passes": [...]} (case ids)."""
    counted, known, fixed, ref_passes = [], [], [], []
    base = set(baseline) if baseline is not None else None
    for case in cases:
        r = results.get((case.id, uut))
        if r is None:
            continue
        ref_ok = any(results.get((case.id, ref)) is not None
                     and results[(case.id, ref)].status in PASSING for ref in refs)
        if r.status == "fail":
            if ref_ok:
                ref_passes.append(case.id)
            if base is not None:
                (known if case.id in base else counted).append(case.id)
            elif refs:
                if ref_ok:
                    counted.append(case.id)
                else:
                    known.append(case.id)
            else:
                counted.append(case.id)
        elif r.status in PASSING and base is not None and case.id in base:
            fixed.append(case.id)
    return {"counted": counted, "known": known, "fixed": fixed, "ref_passes": ref_passes}


def _cut(text, width):
    return text if len(text) <= width else text[:width - 1] + "…"


def table(results, cases, runtimes):
    """The side-by-side table (plain text, also valid Markdown)."""
    names = [rt.name for rt in runtimes]
    head = ["case", "spec section", "level"] + names
    rows = [[c.id, c.section, c.level]
            + [CELL[results[(c.id, n)].status] if (c.id, n) in results else "-" for n in names]
            for c in cases]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    for row in rows:
        out.append("| " + " | ".join(str(x).ljust(w) for x, w in zip(row, widths)) + " |")
    return "\n".join(out)


def details(results, cases, runtimes):
    """One line per result that is not a plain pass."""
    out = []
    for c in cases:
        for rt in runtimes:
            r = results.get((c.id, rt.name))
            if r is None or r.status == "pass":
                continue
            text = r.reason
            if r.status == "xfail" and r.detail and r.detail != r.reason:
                text += f" (observed: {r.detail})"
            out.append(f"{CELL[r.status]:5} {c.id} [{rt.name}]: {_cut(text, 500)}")
    return "\n".join(out)


def text_report(results, cases, runtimes, times, verdict, problems):
    uut = runtimes[0].name
    lines = [table(results, cases, runtimes), ""]
    d = details(results, cases, runtimes)
    if d:
        lines += [d, ""]
    for i, rt in enumerate(runtimes):
        role = "under test" if i == 0 else "reference"
        lines.append(f"{rt.name} ({role}, {rt.version or rt.path}): "
                     f"{summary_line(counts(results, cases, rt.name))} in {times.get(rt.name, 0):.1f}s")
    if verdict["known"]:
        lines.append(f"known failures of {uut} (not counted): {len(verdict['known'])}")
    if verdict["fixed"]:
        lines.append("fixed (in the baseline, passing now; shrink the baseline): "
                     + ", ".join(verdict["fixed"]))
    if verdict["counted"]:
        lines.append(f"failures of {uut} that count: " + ", ".join(verdict["counted"]))
    for p in problems:
        lines.append(f"run problem: {p}")
    return "\n".join(lines)


def tap(results, cases, runtimes):
    """TAP version 13, one test point per case and runtime."""
    out = ["TAP version 13", f"1..{len(cases) * len(runtimes)}"]
    n = 0
    for c in cases:
        for rt in runtimes:
            n += 1
            r = results.get((c.id, rt.name))
            desc = f"{c.id} [{rt.name}] ({c.section} {c.level})"
            if r is None:
                out.append(f"not ok {n} - {desc} # SKIP not run")
            elif r.status == "pass":
                out.append(f"ok {n} - {desc}")
            elif r.status == "skip":
                out.append(f"ok {n} - {desc} # SKIP {r.reason}")
            elif r.status == "xfail":
                out.append(f"not ok {n} - {desc} # TODO {r.reason}")
            elif r.status == "xpass":
                out.append(f"ok {n} - {desc} # TODO deviation not observed: {r.reason}")
            else:
                out.append(f"not ok {n} - {desc}")
                out.append("  ---")
                out.append(f"  message: {json.dumps(r.reason)}")
                out.append("  ...")
    return "\n".join(out)


def json_report(results, cases, runtimes, times, verdict, problems, exit_status, started):
    return {
        "suite": "ociruntime-conformance",
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "duration": round(time.time() - started, 2),
        "host": {"kernel": platform.release(), "machine": platform.machine()},
        "runtimes": [{"name": rt.name, "path": rt.path, "version": rt.version,
                      "role": "under test" if i == 0 else "reference",
                      "wall_time": round(times.get(rt.name, 0.0), 2),
                      "counts": counts(results, cases, rt.name)}
                     for i, rt in enumerate(runtimes)],
        "cases": [{"id": c.id, "section": c.section, "level": c.level, "summary": c.summary,
                   "deviations": c.deviations,
                   "results": {rt.name: {"status": r.status, "reason": r.reason,
                                         "detail": r.detail, "duration": r.duration}
                               for rt in runtimes
                               if (r := results.get((c.id, rt.name))) is not None}}
                  for c in cases],
        "summary": {**counts(results, cases, runtimes[0].name),
                    "counted_failures": verdict["counted"], "known_failures": verdict["known"],
                    "fixed": verdict["fixed"], "run_problems": problems,
                    "exit_status": exit_status},
    }


def load_baseline(path):
    with open(path) as f:
        data = json.load(f)
    if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
        raise ValueError(f"{path}: a baseline is a JSON list of case ids")
    return data


def write_baseline(path, results, cases, uut):
    ids = sorted(c.id for c in cases
                 if (r := results.get((c.id, uut))) is not None and r.status == "fail")
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(ids, f, indent=1)
        f.write("\n")
    os.replace(tmp, path)
    return ids
