"""Nothing lost: a run killed with SIGKILL keeps every complete record, and --resume finishes it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.doors.cli import main
from harness.records.record import read_records
from harness.reports.report import write_report
from tests.unit.conftest import run_dirs

SUITE = "N,C,H,W,K,R,S,stride,pad,dilation,groups,count\n" + "".join(
    f"1,{c},12,12,{c},3,3,1,1,1,1,1\n" for c in (2, 4))
ARGS = ["bench", "--impl", "reference.conv2d", "--impl", "unfold_einsum.conv2d", "--pass",
        "forward,both", "--quick"]


def _keys(run_dir):
    return sorted(r.key() for r in read_records(run_dir))


def _killed_after(args, out: Path, kind: str, count: int) -> Path:
    """Run `convharness args --out out` and SIGKILL it once `count` records of `kind` are in
    (waiting for that event, however long a busy machine takes); its run directory."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", *args, "--out", str(out)],
                            stdout=subprocess.DEVNULL, cwd=Path(__file__).parents[2])
    records = None
    while proc.poll() is None:
        found = list(out.glob("*/records.jsonl"))
        if found and found[0].read_text().count(f'"kind": "{kind}"') >= count:
            records = found[0]
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert records is not None, "the run ended before it could be killed"
    with open(records, "a") as handle:
        handle.write(f'{{"kind": "{kind}", "impl": "torn')  # a line cut short by the kill
    return records.parent


def test_kill_then_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    """--resume alone finishes the run it names, with that run's own plan."""
    suite = tmp_path / "two.csv"
    suite.write_text(SUITE)
    args = ARGS + ["--suite", str(suite)]
    whole = tmp_path / "whole"
    assert main(args + ["--out", str(whole)]) == 0
    (whole_dir,) = run_dirs(whole)

    run = _killed_after(args, tmp_path / "killed", "bench", 3)
    assert 0 < len([r for r in read_records(run) if r.kind == "bench"]) < 8
    assert main(["bench", "--resume", str(run)]) == 0
    assert "timing 2 implementation(s) on 2 case(s)" in capsys.readouterr().out
    assert _keys(run) == _keys(whole_dir)
    assert write_report(run).is_file()


CHECK = ["check", "--impl", "reference", "--property", "shape,dtype_device,no_mutation",
         "--profile", "ci", "--dtypes", "float32"]


def test_a_killed_check_resumes_to_the_keys_of_a_whole_one(tmp_path, capsys):
    whole = tmp_path / "whole"
    assert main(CHECK + ["--out", str(whole)]) == 0
    (whole_dir,) = run_dirs(whole)
    run = _killed_after(CHECK, tmp_path / "killed", "check", 2)
    assert 0 < len(read_records(run)) < len(read_records(whole_dir))
    assert main(["check", "--resume", str(run)]) == 0
    assert _keys(run) == _keys(whole_dir)


def test_options_that_contradict_the_resumed_plan_are_refused(tmp_path, capsys):
    import pytest

    from harness.doors.options import UsageError
    assert main(CHECK[:-2] + ["--property", "shape", "--out", str(tmp_path)]) == 0
    (run,) = run_dirs(tmp_path)
    assert main(["check", "--resume", str(run), "--profile", "thorough"]) == 2
    err = capsys.readouterr().err
    assert "--profile='thorough' conflicts with the run being resumed" in err
    assert "--profile='ci'" in err
    assert main(["check", "--resume", str(run), "--profile", "ci", "--timeout", "90"]) == 0
    with pytest.raises(UsageError):
        from harness.doors.cli import check
        check(resume=str(run), impl=["loops"])


def test_a_damaged_line_in_the_middle_is_an_error_not_skipped(tmp_path):
    import json

    import pytest

    from harness.records.record import NoRecords, Record
    good = Record(kind="check", impl="x", op="conv2d", prop="shape", status="pass").to_json()
    (tmp_path / "records.jsonl").write_text(f"{good}\n{{not json\n{good}\n")
    with pytest.raises(NoRecords, match=r"records.jsonl:2: not a record"):
        read_records(tmp_path)
    (tmp_path / "records.jsonl").write_text(f"{good}\n{good}\n{{torn")
    assert read_records(tmp_path) == [Record.from_dict(json.loads(good))] * 2


def test_a_shard_resumes_as_the_same_shard(tmp_path, capsys):
    """A shard's plan holds its share: --resume alone does not widen it to the whole run, and
    another share is refused."""
    args = CHECK[:2] + ["reference.conv2d", "--property", "shape,dtype_device", "--dtypes",
                        "float32", "--shard", "1/2", "--out", str(tmp_path)]
    assert main(args) == 0
    (run,) = run_dirs(tmp_path)
    mine = _keys(run)
    assert len(mine) == 1  # one of the two properties
    assert main(["check", "--resume", str(run)]) == 0
    assert _keys(run) == mine
    assert main(["check", "--resume", str(run), "--shard", "2/2"]) == 2
    assert "--shard='2/2' conflicts with the run being resumed" in capsys.readouterr().err


def test_a_resumed_bench_of_convharness_run_times_the_same_cases(tmp_path):
    """`convharness run` benches a few layers of each suite (quick=RUN_QUICK, a count): its
    resumed bench plans the same cases, not those of --quick (True)."""
    from harness.doors import cli
    from harness.doors import options as opt
    from harness.timing.bench import plan_bench
    given = dict(device=["cpu"], suite=list(cli.RUN_SUITES), batch=1, quick=cli.RUN_QUICK)
    cli._save_plan(tmp_path, "bench", given)
    resumed = cli.planned("bench", {"resume": str(tmp_path)}, opt.BENCH_OPTIONS)

    def labels(raw):
        return [sc.label for sc in plan_bench(opt.values(raw, opt.BENCH_OPTIONS))[1]]
    assert labels(resumed) == labels(given)
    assert len(labels(given)) < len(labels(dict(given, quick=True)))
