"""The one table of statuses a record may carry: its mark, whether it is a problem, its exit code."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    name: str
    mark: str  # how the matrix and the summary show it
    problem: bool  # a finding against the implementation (or the harness): listed, coloured
    exit_code: int  # what `check` (or `bench`) exits with when this is the worst status seen

    @property
    def css(self) -> str:
        """The class of its cells in index.html (coloured by html_report.STYLE)."""
        return self.name


TABLE = (
    Status("pass", "pass", False, 0),
    Status("nondeterministic", "pass (nondet)", False, 0),  # within tolerance, bits differ
    Status("xfail", "XFAIL", False, 0),  # a failure the implementation declares, with reason
    # PyTorch's own op fails the same way on the same case: not the kernel's (--strict: fail)
    Status("inherited", "XFAIL (torch)", False, 0),
    Status("unsupported", "unsup", False, 0),
    Status("undefined", "undef", False, 0),
    Status("unchecked", "UNCHECKED", True, 1),  # declined every drawn case: nothing was checked
    Status("fail", "FAIL", True, 1),
    Status("error", "ERROR", True, 1),
    Status("timeout", "TIMEOUT", True, 1),
    Status("crashed", "CRASH", True, 1),
    Status("oom", "OOM", True, 1),
    Status("not_run", "not run", True, 1),
    # not run: its implementation (a candidate) spent the time budget it was given (--budget)
    Status("over_budget", "OVER BUDGET", True, 1),
    Status("harness_error", "HARNESS", True, 3),
    # benchmark measurements
    Status("ok", "ok", False, 0),
    Status("wrong", "WRONG", True, 1),
    Status("suspect", "SUSPECT", True, 1),
    # timed and verified, but the implementation failed conformance in the same run: not ranked
    Status("nonconforming", "does not conform", True, 1),
    Status("skipped", "skipped", False, 0),
)
STATUSES = {s.name: s for s in TABLE}
MARKS = {s.name: s.mark for s in TABLE}
PROBLEMS = tuple(s.name for s in TABLE if s.problem)
PASSING = ("pass", "nondeterministic", "xfail", "inherited")
LISTED = PROBLEMS + ("xfail", "inherited")  # shown with their message, minimal case and reproduction


def exit_code(statuses) -> int:
    """The worst exit code among `statuses` (0 where there are none)."""
    return max((STATUSES[s].exit_code for s in statuses if s in STATUSES), default=0)
