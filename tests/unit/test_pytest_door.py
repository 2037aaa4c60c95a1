"""The pytest door is as safe as `check`: kernels that crash, hang, eat memory or exit fail their
own tests, in worker processes, and the session goes on, writes its records and report, and ends."""
import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.execution import sandbox

KERNELS = textwrap.dedent("""
    import ctypes
    import os
    import pathlib
    import time

    import torch
    import torch.nn.functional as F

    _KEPT = []

    def good(input, output_size):
        return F.adaptive_avg_pool2d(input, output_size)

    def zeros(input, output_size):
        return 0 * F.adaptive_avg_pool2d(input, output_size)

    def segfault(input, output_size):
        ctypes.string_at(0)

    def hangs(input, output_size):
        time.sleep(3600)

    def slow_on_large(input, output_size):
        if input.numel() >= 2**15:  # a kernel looping in Python takes minutes there
            time.sleep(3600)
        return F.adaptive_avg_pool2d(input, output_size)

    def eats_memory(input, output_size):
        while True:
            _KEPT.append(torch.ones(2**26))  # 256 MiB a step, resident

    def exits(input, output_size):
        os._exit(3)

    def system_exit(input, output_size):
        raise SystemExit(1)

    def declines(input, output_size):
        raise NotImplementedError("not written yet")

    def rewrites_records(input, output_size):
        for path in pathlib.Path(".").rglob("records.jsonl"):
            try:
                path.write_text(path.read_text().replace('"fail"', '"pass"'))
            except OSError:
                pass
        try:
            pathlib.Path("written-by-the-kernel.txt").write_text("I was here")
        except OSError:
            pass
        return 0 * F.adaptive_avg_pool2d(input, output_size)
    """)
FAULTY = ("good", "segfault", "hangs", "eats_memory", "exits", "system_exit", "declines")
PROPS = ("shape", "dtype_device")
# The time limit is per call of the kernel: only `hangs` comes near it, however busy the machine.
LIMITS = ("--convharness-timeout", "8", "--convharness-memory-limit", "1500M")
SESSION_S = 900  # a session that does not end by then is a failure of the door


@pytest.fixture
def kernels(pytester):
    pytester.makepyfile(mykernels=KERNELS)
    pytester.syspathinsert()
    return pytester


def _session(pytester, names, *extra, cache=False):
    impls = [a for name in names for a in ("--convharness-impl", f"mykernels:{name}")]
    return pytester.runpytest_subprocess(
        "--pyargs", "harness.conformance", *impls, "--convharness-op", "adaptive_avg_pool2d",
        "--convharness-out", "out", *LIMITS, *([] if cache else ["-p", "no:cacheprovider"]),
        *extra, timeout=SESSION_S)


def _records(pytester) -> dict:
    (run,) = (pytester.path / "out").iterdir()
    assert (run / "index.html").is_file()
    rows = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    return {(r["impl"].split(":")[-1], r["prop"]): r for r in rows if r["kind"] == "check"}


def _junit(path: Path) -> dict:
    cases = ET.parse(path).getroot().iter("testcase")
    return {c.get("name"): "failed" if c.find("failure") is not None else "passed" for c in cases}


EXPECTED = {"good": "pass", "segfault": "crashed", "exits": "crashed", "eats_memory": "oom",
            "system_exit": "fail", "declines": "unsupported"}


# Under xdist, the kinds of fault that cost a worker's restart each are left to the in-process
# session (each restart imports torch again): a crash and a hang show the door holds there too.
@pytest.mark.parametrize("workers, faulty", [([], FAULTY),
                                             (["-n", "2"], ("good", "segfault", "hangs", "declines"))],
                         ids=["in-process", "xdist"])
def test_faulty_kernels_fail_their_own_tests_and_the_session_goes_on(kernels, workers, faulty):
    result = _session(kernels, faulty, "-k", " or ".join(PROPS), "--junitxml", "junit.xml",
                      *workers)
    assert result.ret == 1, result.stdout.str()
    records = _records(kernels)
    status = {key: r["status"] for key, r in records.items()}
    left = [status["hangs", p] for p in PROPS].count("not_run")  # skipped after the hang
    result.assert_outcomes(passed=2, skipped=2 + left, failed=2 * (len(faulty) - 2) - left)
    for kind in set(faulty) - {"hangs"}:
        assert [status[kind, prop] for prop in PROPS] == [EXPECTED[kind]] * len(PROPS), kind
    hang = [status["hangs", p] for p in PROPS]
    assert "timeout" in hang and set(hang) <= {"timeout", "not_run"}
    if not workers:  # one process: the second property is not run, at once
        assert hang == ["timeout", "not_run"]
    assert "SIGSEGV" in records["segfault", "shape"]["message"]
    assert records["segfault", "shape"]["case"], "a crash names the case it was running"
    assert "adaptive_avg_pool2d" in records["hangs", "shape"]["message"], "and the call"
    junit = _junit(kernels.path / "junit.xml")
    assert len(junit) == len(faulty) * len(PROPS)
    assert [n for n, v in junit.items() if v == "passed" and "declines" not in n
            and "hangs" not in n] == [
        f"test_conforms[mykernels:good-{p}]" for p in PROPS] or workers
    result.stdout.fnmatch_lines([  # declining everything checks nothing: the session fails
        "convharness: profile quick, seed * (--convharness-seed * draws these cases again); "
        "kernels *sandboxed*",
        "*mykernels:declines: UNCHECKED: nothing was checked*",
        "*convharness: records *records.jsonl; report: *index.html"])


@pytest.mark.skipif(sandbox.abi() < 1, reason="needs Landlock")
def test_a_kernel_cannot_rewrite_the_records_of_its_session(kernels):
    result = _session(kernels, ["rewrites_records"], "-k", "shape or values and not special")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["convharness: profile *; kernels sandboxed (Landlock ABI *)*"])
    assert _records(kernels)["rewrites_records", "values"]["status"] == "fail"
    assert not (kernels.path / "written-by-the-kernel.txt").exists()


def test_a_hang_under_no_isolate_is_for_debugging_only(kernels):
    """--convharness-no-isolate runs in this process (pdb works); a good kernel passes there."""
    result = _session(kernels, ["good"], "-k", "shape", "--convharness-no-isolate")
    result.assert_outcomes(passed=1)
    assert _records(kernels)["good", "shape"]["status"] == "pass"


def test_slow_on_large_inputs_is_not_wrong(kernels):
    """A timeout on a large tier: that property again, and the next, without the large tiers."""
    result = _session(kernels, ["slow_on_large"], "-k", "sizes or gradients and not special",
                      "--convharness-dtypes", "float32")
    result.assert_outcomes(passed=2)
    records = _records(kernels)
    for prop in ("sizes", "gradients"):
        assert "too slow, not wrong" in records["slow_on_large", prop]["message"]


def test_exitfirst_stops_after_the_first_failure_and_still_reports(kernels):
    result = _session(kernels, ["segfault", "good"], "-x", "-q", "-k", " or ".join(PROPS))
    assert result.ret == 1
    # a kernel in a process of its own takes its tests one after another, by name: good's two
    # first, then segfault's first, which stops the session
    result.assert_outcomes(failed=1, passed=2)
    assert set(_records(kernels)) == {("good", "shape"), ("good", "dtype_device"),
                                      ("segfault", "shape")}


def test_last_failed_reruns_only_the_failures(kernels):
    first = _session(kernels, ["good", "zeros"], "-k", "values and not special", cache=True)
    first.assert_outcomes(passed=1, failed=1)
    again = _session(kernels, ["good", "zeros"], "-k", "values and not special", "--lf",
                     cache=True)
    outcomes = again.parseoutcomes()
    assert outcomes.get("failed") == 1 and "passed" not in outcomes, outcomes
    again.stdout.fnmatch_lines(["*reproduce: convharness check --impl mykernels:zeros*"])
