"""execution.sandbox: a kernel's process writes only to its scratch directory, opens no TCP
connection and signals no process outside it; the run says whether kernels were sandboxed."""
import json
import multiprocessing as mp
import os
import socket
import threading
from pathlib import Path

import pytest

from harness.doors import cli
from harness.execution import sandbox
from harness.records.record import read_records
from tests.unit import hostile, hostile_clock, hostile_judge
from tests.unit.conftest import run_dirs

LANDLOCK = pytest.mark.skipif(sandbox.abi() < 6, reason="needs Landlock ABI 6 (Linux 6.12)")


def _attempts(scratch, outside, port, parent, answers):
    """In a sandboxed child: what each attempt came to ('ok' or the error's name)."""
    sandbox.enter(scratch)
    attempts = {"write inside": lambda: (scratch / "x").write_text("x"),
                "temporary file": lambda: __import__("tempfile").mkstemp(),
                "write outside": lambda: (outside / "x").write_text("x"),
                "connect": lambda: socket.create_connection(("127.0.0.1", port), timeout=5),
                "signal the parent": lambda: os.kill(parent, 0)}
    for what, attempt in attempts.items():
        try:
            attempt()
            answers.put((what, "ok"))
        except OSError as exc:
            answers.put((what, type(exc).__name__))


@LANDLOCK
def test_a_sandboxed_process_writes_only_to_its_scratch_and_reaches_no_one(tmp_path):
    scratch, outside = tmp_path / "scratch", tmp_path / "outside"
    scratch.mkdir()
    outside.mkdir()
    listener = socket.create_server(("127.0.0.1", 0))
    ctx = mp.get_context("spawn")
    answers = ctx.Queue()
    child = ctx.Process(target=_attempts, args=(scratch, outside, listener.getsockname()[1],
                                                os.getpid(), answers))
    child.start()
    seen = dict(answers.get(timeout=120) for _ in range(5))
    child.join(timeout=60)
    listener.close()
    assert seen == {"write inside": "ok", "temporary file": "ok",
                    "write outside": "PermissionError", "connect": "PermissionError",
                    "signal the parent": "PermissionError"}, seen
    assert not list(outside.iterdir())


def test_without_landlock_the_run_says_kernels_are_not_sandboxed(monkeypatch):
    monkeypatch.setattr(sandbox, "abi", lambda: 0)
    assert sandbox.describe().startswith("kernels not sandboxed")
    assert sandbox.enter(sandbox.Path("/nonexistent")).startswith("kernels not sandboxed")


def _check(tmp_path, monkeypatch, kernel: str, **more) -> tuple[int, str]:
    monkeypatch.chdir(tmp_path)
    lines = []
    code = cli.check(impl=[f"tests.unit.hostile:{kernel}"], op="conv2d", properties="values",
                     out=lines.append, **more)
    return code, "\n".join(lines)


@LANDLOCK
def test_a_kernel_cannot_rewrite_the_records_of_its_run(tmp_path, monkeypatch):
    monkeypatch.setenv(hostile.TARGET, str(tmp_path))
    code, text = _check(tmp_path, monkeypatch, "rewrites_records")
    assert code == 1 and "kernels sandboxed" in text.splitlines()[0], text
    (run,) = run_dirs(tmp_path / "reports")
    assert [r.status for r in read_records(run) if r.kind == "check"] == ["fail"]
    assert json.loads((run / "run.json").read_text())["sandbox"].startswith("kernels sandboxed")
    assert not (tmp_path / "written-by-the-kernel.txt").exists()


@LANDLOCK
def test_a_kernel_cannot_kill_the_judge(tmp_path, monkeypatch):
    code, text = _check(tmp_path, monkeypatch, "kills_the_judge")
    assert code == 1 and "FAIL" in text, text


@LANDLOCK
def test_a_kernel_cannot_send_what_it_saw_over_the_network(tmp_path, monkeypatch):
    listener = socket.create_server(("127.0.0.1", 0))
    got = []

    def serve():
        listener.settimeout(None)
        try:
            conn, _ = listener.accept()
            got.append(conn.recv(100))
        except OSError:
            pass
    server = threading.Thread(target=serve, daemon=True)
    server.start()
    monkeypatch.setenv(hostile.TARGET, f"127.0.0.1:{listener.getsockname()[1]}")
    code, text = _check(tmp_path, monkeypatch, "phones_home")
    listener.close()
    server.join(timeout=10)
    assert code == 1 and not got, (got, text)


def test_in_this_process_the_run_says_kernels_are_not_sandboxed(tmp_path, monkeypatch):
    code, text = _check(tmp_path, monkeypatch, "rewrites_records", isolate=False)
    assert "[kernels not sandboxed]" in text.splitlines()[0], text


@LANDLOCK
@pytest.mark.parametrize("verb", ["check", "bench"])
def test_the_judge_never_imports_a_module_attr_kernel(tmp_path, monkeypatch, tiny_suite, verb):
    """Its import-time code runs only in sandboxed processes: what the judge learns of it (its
    op, signature, declarations, revision) comes back as plain data."""
    import sys
    monkeypatch.setenv(hostile.TARGET, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    lines = []
    kernel = "tests.unit.hostile_import:conv2d"
    if verb == "check":
        code = cli.check(impl=[kernel], op="conv2d", properties="values", seed=1,
                         out=lines.append)
    else:
        cli.bench(impl=[kernel], op="conv2d", suite=[tiny_suite], quick=True, out=lines.append)
        code = 0
    assert code == 0, "\n".join(lines)
    assert "tests.unit.hostile_import" not in sys.modules
    assert not (tmp_path / "written-at-import.txt").exists()
    (run,) = run_dirs(tmp_path / "reports")
    revisions = json.loads((run / "revisions.json").read_text())
    assert revisions[kernel]["revision"]
    statuses = {r.status: r.message for r in read_records(run) if r.impl == kernel}
    # it hands every call to F.conv2d: PyTorch's own bfloat16 bugs are inherited, never its own
    assert set(statuses) <= ({"pass", "inherited"} if verb == "check" else {"ok"}), statuses
    assert statuses, lines


def test_a_forged_description_is_an_error_and_never_an_import(tmp_path, monkeypatch, capsys):
    import sys
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--impl", "tests.unit.hostile_describe:conv2d", "--op", "conv2d",
                     "--property", "shape"]) == 2
    assert "impl='tests.unit.hostile_describe:conv2d' was not described as expected" in \
        capsys.readouterr().err
    assert "tests.unit.hostile_describe" not in sys.modules


def test_what_a_kernel_sends_up_its_pipe_is_never_unpickled_by_the_judge(tmp_path, monkeypatch):
    monkeypatch.setenv(hostile.TARGET, str(tmp_path))
    code, text = _check(tmp_path, monkeypatch, "forges_messages")
    assert code == 1 and ("not a message of the harness's" in text or "values (FAIL)" in text), text
    assert not (tmp_path / "unpickled-by-the-judge").exists()


def test_a_kernel_cannot_reach_the_judge_s_answers_or_verdicts(tmp_path, monkeypatch):
    """Each cheat fails on its own values (each passed when the judge shared its process); the
    honest control, judged on the same cases in the same run, passes."""
    monkeypatch.chdir(tmp_path)
    lines = []
    kernels = [f"tests.unit.hostile_judge:{k}" for k in hostile_judge.CHECK_CHEATS + ("honest",)]
    code = cli.check(impl=kernels, op="conv2d", properties="values,no_mutation", seed=1,
                     out=lines.append)
    (run,) = run_dirs(tmp_path / "reports")
    values = {r.impl.rsplit(":", 1)[-1]: r.status for r in read_records(run)
              if r.kind == "check" and r.prop == "values"}
    assert code == 1 and values == {**{k: "fail" for k in hostile_judge.CHECK_CHEATS},
                                     "honest": "pass"}, "\n".join(lines)


def test_through_the_pytest_door_too(pytester):
    """The same cheats in one pytest session: each fails its values test, the control passes."""
    pytester.makepyfile(hostilejudge=Path(hostile_judge.__file__).read_text())
    pytester.syspathinsert()
    kernels = [a for k in hostile_judge.CHECK_CHEATS + ("honest",)
               for a in ("--convharness-impl", f"hostilejudge:{k}")]
    result = pytester.runpytest_subprocess(
        "--pyargs", "harness.conformance", *kernels, "--convharness-op", "conv2d",
        "--convharness-out", "out", "-p", "no:cacheprovider", "-k", "values and not special",
        "--convharness-seed", "1", timeout=900)
    result.assert_outcomes(passed=1, failed=len(hostile_judge.CHECK_CHEATS))
    assert "hostilejudge:honest-values" not in result.stdout.str()  # no failure of its own


def test_a_kernel_cannot_be_timed_faster_than_it_runs(tmp_path, monkeypatch, tiny_suite):
    """A kernel that slows its own process's clocks, runs fast only with a timer among its
    callers, or answers an input it has seen from memory, is never ranked faster than it runs:
    suspect beside the judge's own clock (or, where it did not manage to look faster, timed at
    its honest speed); the honest control is ranked. One thread: the judge's clock does not
    count what a busy machine kept the kernel waiting."""
    monkeypatch.chdir(tmp_path)
    lines = []
    kernels = [f"tests.unit.hostile_clock:{k}" for k in hostile_clock.CLOCK_CHEATS + ("honest",)]
    one = tmp_path / "one.csv"  # one layer: a kernel that slows its clock times for long
    one.write_text("\n".join(Path(tiny_suite).read_text().splitlines()[:2]) + "\n")
    cli.bench(impl=kernels, op="conv2d", suite=[str(one)], quick=True, threads=1,
              out=lines.append)
    (run,) = run_dirs(tmp_path / "reports")
    records = [r for r in read_records(run) if r.kind == "bench"]
    def of(kernel):
        return [r for r in records if r.impl.endswith(f":{kernel}")]
    assert of("honest") and {r.status for r in of("honest")} == {"ok"}, "\n".join(lines)
    for kernel in hostile_clock.CLOCK_CHEATS:
        assert "suspect" in {r.status for r in of(kernel)}, "\n".join(lines)
        assert all(r.status == "suspect" or r.median >= hostile_clock.SLOW_S
                   for r in of(kernel)), "\n".join(lines)
    assert all(r.figures["judge_clock_s"] > 0 for r in records)
