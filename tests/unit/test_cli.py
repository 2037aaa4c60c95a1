"""cli: list, check (exit 0, 1 on failure, 2 on usage errors), run directories and records."""
import shlex

import pytest

from harness.doors.cli import main
from harness.records.record import read_records
from tests.unit.conftest import run_dirs

BROKEN = "tests.unit.broken:conv_zeros"


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_shows_builtins(capsys):
    code, out, _ = run(capsys, "list")
    assert code == 0 and "loops.conv2d" in out and "differentiable" in out


def test_check_passes_and_writes_records(capsys, tmp_path):
    code, out, _ = run(capsys, "check", "--impl", "reference.avg_pool2d", "--out", str(tmp_path))
    assert code == 0, out
    assert "coverage" in out and "report: " in out and "left" in out  # progress with an ETA
    (run_dir,) = run_dirs(tmp_path)
    records = read_records(run_dir)
    assert "Conformance" in (run_dir / "index.html").read_text()
    assert {r.prop for r in records} >= {"values", "gradients", "examples"}


def test_check_failure_exits_1_with_a_reproduction_that_reproduces_it(capsys, tmp_path):
    code, out, _ = run(capsys, "check", "--impl", BROKEN, "--op", "conv2d", "--property",
                       "values", "--out", str(tmp_path / "first"))
    assert code == 1
    assert "FAIL" in out and "minimal case:" in out and "reproduce: convharness check" in out
    (first,) = read_records(run_dirs(tmp_path / "first")[0])
    argv = shlex.split(first.repro)[1:]  # the line as a shell would split it
    code, out, _ = run(capsys, *argv, "--op", "conv2d", "--out", str(tmp_path / "again"))
    (again,) = read_records(run_dirs(tmp_path / "again")[0])
    assert code == 1 and (again.prop, again.status, again.case) == ("values", "fail", first.case)
    assert again.message == first.message  # the same elements off by the same amounts


def test_a_fault_of_the_harness_exits_3(capsys, tmp_path, monkeypatch):
    from harness.checking import call as check_mod

    def broken_oracle(case, tensors, **extra):
        raise check_mod.HarnessError("the oracle broke")
    monkeypatch.setattr(check_mod, "oracle", broken_oracle)
    code, out, _ = run(capsys, "check", "--impl", "reference.avg_pool2d", "--property", "values",
                       "--no-isolate", "--out", str(tmp_path))  # in this process: patched
    assert code == 3 and "HARNESS" in out and "the oracle broke" in out


@pytest.mark.parametrize("argv, message", [
    (["check", "--impl", "nope.conv2d"], "impl='nope.conv2d' is not a registered"),
    (["check", "--impl", "no_such_mod:f", "--op", "conv2d"], "does not import"),
    (["check", "--op", "conv4d"], "--op='conv4d'"),
    (["check", "--dtypes", "float8"], "float8 unknown"),
    (["check", "--profile", "slow"], "--profile='slow'"),
    (["check", "--seed", "-3"], "--seed='-3'"),
    (["check", "--property", "speed"], "--property='speed'"),
    (["check", "--case", "{not json"], "--case="),
    (["check", "--device", "tpu"], "--device='tpu'"),
])
def test_usage_errors_exit_2_with_one_clear_message(capsys, argv, message, tmp_path):
    code, _, err = run(capsys, *argv, "--out", str(tmp_path))
    assert code == 2
    assert message in err and "Traceback" not in err


def test_two_runs_get_two_directories(capsys, tmp_path):
    for _ in range(2):
        run(capsys, "check", "--impl", "reference.adaptive_avg_pool2d", "--property", "shape",
            "--out", str(tmp_path))
    assert len(run_dirs(tmp_path)) == 2  # beside history.db


@pytest.mark.parametrize("argv, message", [
    (["bench", "--resume", "/no/such/run"], "--resume='/no/such/run' does not exist"),
    (["bench", "--pass", "sideways"], "--pass='sideways'"),
    (["bench", "--dtype", "int8"], "--dtype='int8'"),
    (["bench", "--forward-only", "--pass", "both"], "--forward-only conflicts with --pass"),
    (["bench", "--batch", "0"], "--batch=0"),
    (["check", "--timeout", "0"], "--timeout=0"),
    (["check", "--memory-limit", "lots"], "--memory-limit='lots'"),
    (["bench", "--threads", "0"], "--threads=0, but should be >= 1"),
    (["check", "--op", "max_pool2d", "--case",
      '{"op": "conv2d", "input_shape": [1, 1, 3, 3], "weight_shape": [1, 1, 2, 2]}'],
     "--op='max_pool2d' conflicts with --case"),
    (["compare", "/no/a", "/no/b"], "has no records.jsonl"),
])
def test_more_usage_errors_exit_2(capsys, argv, message, tmp_path):
    if argv[0] != "compare":
        argv = argv + ["--out", str(tmp_path)]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_cuda_where_there_is_none(capsys, tmp_path):
    code, _, err = run(capsys, "check", "--device", "cuda", "--out", str(tmp_path))
    assert code == 2 and "torch.cuda.is_available() is False" in err


def test_module_in_the_working_directory_is_found(capsys, tmp_path, monkeypatch):
    """`convharness check --impl mykernels:f` from the directory holding mykernels.py."""
    import sys
    (tmp_path / "cwd_kernels.py").write_text(
        "import torch.nn.functional as F\n"
        "def pool(input, output_size):\n    return F.adaptive_avg_pool2d(input, output_size)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    code, out, err = run(capsys, "check", "--impl", "cwd_kernels:pool", "--op",
                         "adaptive_avg_pool2d", "--property", "shape", "--no-isolate", "--out",
                         str(tmp_path / "out"))
    assert code == 0, err
    sys.modules.pop("cwd_kernels", None)


def test_check_resume_adds_only_what_is_missing(capsys, tmp_path):
    run(capsys, "check", "--impl", "reference.avg_pool2d", "--out", str(tmp_path), "--property",
        "shape,values")
    (run_dir,) = run_dirs(tmp_path)
    records = run_dir / "records.jsonl"
    first = records.read_text().splitlines()[0]
    records.write_text(first + "\n")  # as if killed after its first record
    code, out, _ = run(capsys, "check", "--resume", str(run_dir))
    assert code == 0
    assert sorted(r.prop for r in read_records(run_dir)) == ["shape", "values"]
    assert records.read_text().splitlines()[0] == first  # kept, not measured again


def test_a_run_without_a_seed_draws_one_prints_it_and_resumes_with_it(capsys, tmp_path):
    """One seed for every implementation of the run (they share their cases), shown so that
    `--seed N` draws them again, and kept in the plan so a resumed run draws the same."""
    import json
    import re
    code, out, _ = run(capsys, "check", "--impl", "reference.avg_pool1d", "--out",
                       str(tmp_path), "--property", "shape,values")
    assert code == 0
    seed = int(re.search(r"profile quick, seed (\d+),", out).group(1))
    (run_dir,) = run_dirs(tmp_path)
    assert json.loads((run_dir / "plan-check.json").read_text())["seed"] == seed
    records = run_dir / "records.jsonl"
    records.write_text(records.read_text().splitlines()[0] + "\n")
    code, out, _ = run(capsys, "check", "--resume", str(run_dir))
    assert code == 0 and f"seed {seed}," in out


def test_a_seed_draws_the_same_cases_on_every_run():
    """--seed makes a random profile reproducible (tox's conformance run relies on it)."""
    from harness.checking.driver import CheckOptions, check_property
    from harness.checking.properties import properties_for
    from harness.plugins.registry import load
    prop = next(p for p in properties_for("max_pool2d") if p.name == "values")

    def drawn(seed):
        seen = []
        check_property(load("reference.max_pool2d"), prop,
                       CheckOptions(seed=seed, dtypes=("float32",)), on_case=seen.append)
        return seen
    assert drawn(5) == drawn(5)
    assert drawn(5) != drawn(6)


def test_help_says_what_the_tool_does_and_where_to_start(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    assert text.index("Conformance and benchmark harness") < text.index("positional arguments")
    for start in ("convharness run", "convharness check --impl", "tox", "reports/"):
        assert start in text, start
    assert "argparse" not in text
