"""Helpers the unit tests share: a verdict on one property of a function, a tiny suite, a bench."""
import contextlib
import os
import subprocess
import sys

import pytest

from harness.checking.driver import CheckOptions, check_property
from harness.checking.properties import PROPERTIES, Property
from harness.execution.runs import run_bench
from harness.plugins.registry import Implementation
from harness.records.record import RecordWriter
from harness.timing.bench import BenchOptions
from harness.timing.suites import load as load_suite
from harness.timing.timers import QUICK

OPTIONS = CheckOptions(profile="ci")
PROPS = {p.name: p for p in PROPERTIES}
HOSTILE = "<script>alert(1)</script>.conv2d"  # an implementation name a report must escape
TINY = "N,C,H,W,K,R,S,stride,pad,dilation,groups,count\n1,4,8,8,4,3,3,1,1,1,1,1\n1,8,6,6,8,1,1,1,0,1,1,1\n"


def verdict(fn, op, prop, options=OPTIONS, **declared):
    """The record of property `prop` (a name or a Property) of `fn` as an implementation of op."""
    impl = Implementation(f"{fn.__module__.rsplit('.', 1)[-1]}.{fn.__name__}", op, fn,
                          **declared)
    return check_property(impl, prop if isinstance(prop, Property) else PROPS[prop], options)


@pytest.fixture(autouse=True)
def _no_kept_answers():
    """Each test starts with no oracle answers kept from another (a test may patch the oracle)."""
    from harness.checking import answers
    answers.forget()


@pytest.fixture
def tiny_suite(tmp_path):
    path = tmp_path / "tiny.csv"
    path.write_text(TINY)
    return str(path)


def bench_run(tmp_path, impls, suite, passes=("forward",)):
    """A quick bench of `impls` over `suite` into tmp_path/run; the run directory."""
    run_dir = tmp_path / "run"
    options = BenchOptions(passes=passes, budget=QUICK, threads=1)
    with RecordWriter(run_dir / "records.jsonl") as writer:
        run_bench(impls, load_suite(suite), options, writer.write)
    return run_dir


@contextlib.contextmanager
def crowded_cpu(burners: int):
    """This process and what it starts pinned to one CPU beside `burners` busy loops: each gets
    a small share of that core, whatever the machine had free. Everything is undone after."""
    saved = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(saved)})
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
             for _ in range(burners)]
    try:
        yield
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
        os.sched_setaffinity(0, saved)


def run_dirs(root) -> list:
    """The run directories under `root` (where a run's results store, history.db, also is)."""
    from pathlib import Path
    return sorted(p for p in Path(root).iterdir() if p.is_dir())
