"""Case registration.

A case is a function taking a runner.CaseContext, registered with::

    @case("process.cwd", "config.md#process", "MUST",
          deviations={"someruntime": "why it deviates"})
    def _(t):
        "The process runs in process.cwd."          # the one-line summary
        b = t.bundle()
        b.process["cwd"] = "/tmp"
        t.check(b, "cwd=/tmp")

The function raises t.fail(...)/t.skip(...) (or lets a runner helper do so)
and otherwise passes.  ``deviations`` names runtimes (the binary's basename)
known to deviate from the statement the case checks: their failure is
reported as xfail and does not count, a pass as xpass.
"""

from __future__ import annotations

import fnmatch
import importlib
import pkgutil
from dataclasses import dataclass, field

LEVELS = ("MUST", "SHOULD", "MAY")


@dataclass
class Case:
    id: str
    section: str
    level: str
    func: object
    summary: str = ""
    deviations: dict = field(default_factory=dict)
    order: int = 0

    def matches(self, pattern):
        """-k: a substring of, or a glob matching, the id or the section."""
        for text in (self.id, self.section):
            if pattern in text or fnmatch.fnmatchcase(text, pattern):
                return True
        return False


CASES: dict[str, Case] = {}


def case(case_id, section, level="MUST", deviations=None):
    if level not in LEVELS:
        raise ValueError(f"{case_id}: level must be one of {LEVELS}")
    if "#" not in section or not section.split("#")[0].endswith(".md"):
        raise ValueError(f"{case_id}: section must look like 'config.md#process'")

    def register(func):
        if case_id in CASES:
            raise ValueError(f"duplicate case id {case_id}")
        summary = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""
        CASES[case_id] = Case(case_id, section, level, func, summary,
                              dict(deviations or {}), len(CASES))
        return func

    return register


def process_case(case_id, section, summary, process, *checks, level="MUST"):
    """A case that only sets fields of the default config's ``process`` and expects the
    in-container checker's ``checks`` to pass."""
    def run(t):
        b = t.bundle()
        b.process.update(process)
        t.check(b, *checks)

    run.__doc__ = summary
    case(case_id, section, level)(run)


def load_cases():
    """Import every module of conformance.cases; returns the cases in
    registration order."""
    from . import cases as pkg
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        importlib.import_module(f"{pkg.__name__}.{info.name}")
    return sorted(CASES.values(), key=lambda c: c.order)


def select(cases, patterns):
    if not patterns:
        return list(cases)
    return [c for c in cases if any(c.matches(p) for p in patterns)]
