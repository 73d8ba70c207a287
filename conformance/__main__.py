"""python -m conformance --runtime PATH [--runtime PATH2 ...] [-k PATTERN] ...

Runs every case against each runtime (the first one is the runtime under
test, the others are references) and prints a side-by-side table and a
closing `N passed, N failed` line for the runtime under test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import registry, report


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="python -m conformance",
        description="OCI runtime-spec conformance suite for runtimes with runc's command line.")
    p.add_argument("--runtime", action="append", default=[], metavar="PATH",
                   help="runtime binary; repeatable: the first is the runtime under test, "
                        "the others are references")
    p.add_argument("-k", action="append", default=[], metavar="PATTERN", dest="patterns",
                   help="only cases whose id or spec section contains PATTERN or matches it "
                        "as a glob (repeatable: any of them)")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument("--tap", action="store_true", help="print TAP instead of the table")
    p.add_argument("--json", metavar="FILE", help="write a JSON report to FILE ('-': stdout)")
    p.add_argument("--baseline", metavar="FILE",
                   help="JSON list of case ids the runtime under test is known to fail")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="write the ids of the cases the runtime under test failed to FILE")
    p.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                   help="run N cases at a time (default 1)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="SECONDS",
                   help="timeout of every runtime call (default 10)")
    p.add_argument("--workdir", metavar="DIR", help="where the run directory is created (/tmp)")
    p.add_argument("--keep", action="store_true", help="keep the run directory")
    p.add_argument("-v", "--verbose", action="store_true", help="print each result as it comes")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error("--jobs must be at least 1")
    if not args.list and not args.runtime:
        p.error("at least one --runtime is needed")
    return args


def list_cases(cases, out):
    for c in cases:
        dev = "".join(f"  [deviation {k}: {v}]" for k, v in sorted(c.deviations.items()))
        print(f"{c.id:48} {c.section:45} {c.level:6} {c.summary}{dev}", file=out)
    print(f"{len(cases)} cases", file=out)



def _progress(r) -> None:
    """--verbose: one line per result as it comes."""
    print(f"{r.status:5} {r.case} [{r.runtime}] {r.duration:.2f}s {r.reason[:200]}",
          file=sys.stderr, flush=True)

def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    cases = registry.select(registry.load_cases(), args.patterns)
    if args.list:
        list_cases(cases, sys.stdout)
        return 0
    if not cases:
        print("no case matches", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("the conformance suite creates containers: run it as root", file=sys.stderr)
        return 2

    from . import runner
    try:
        runtimes = [runner.Runtime(p) for p in args.runtime]
    except ValueError as e:
        print(e, file=sys.stderr)
        return 2
    names = [rt.name for rt in runtimes]
    if len(set(names)) != len(names):
        print(f"runtimes need distinct names (basenames): {names}", file=sys.stderr)
        return 2
    baseline = None
    if args.baseline:
        try:
            baseline = report.load_baseline(args.baseline)
        except (OSError, ValueError) as e:
            print(f"--baseline: {e}", file=sys.stderr)
            return 2

    started = time.time()
    run = runner.Run(workdir=args.workdir, jobs=args.jobs, timeout=args.timeout, keep=args.keep)
    try:
        results, times = runner.run_all(run, cases, runtimes, _progress if args.verbose else None)
    finally:
        problems = run.finish()
    if args.keep:
        print(f"run directory kept: {run.dir}", file=sys.stderr)

    uut, refs = names[0], names[1:]
    verdict = report.evaluate(results, cases, uut, refs, baseline)
    status = 1 if (verdict["counted"] or problems) else 0
    summary = report.summary_line(report.counts(results, cases, uut))
    to_stdout = not args.tap and args.json != "-"
    if args.tap:
        print(report.tap(results, cases, runtimes))
    if args.json:
        doc = report.json_report(results, cases, runtimes, times, verdict, problems, status, started)
        if args.json == "-":
            json.dump(doc, sys.stdout, indent=1)
            print()
        else:
            with open(args.json, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
    if to_stdout:
        print(report.text_report(results, cases, runtimes, times, verdict, problems))
    if args.write_baseline:
        ids = report.write_baseline(args.write_baseline, results, cases, uut)
        print(f"baseline with {len(ids)} case(s) written to {args.write_baseline}", file=sys.stderr)
    # the closing line, for the runtime under test (stderr when stdout is TAP/JSON)
    print(summary, file=sys.stdout if to_stdout else sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
