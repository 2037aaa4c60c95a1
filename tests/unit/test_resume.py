"""Nothing lost: a run killed with SIGKILL keeps every complete record, and --resume finishes it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.cli import main
from harness.records import read_records
from harness.report import write_report

SUITE = "N,C,H,W,K,R,S,stride,pad,dilation,groups,count\n" + "".join(
    f"1,{c},12,12,{c},3,3,1,1,1,1,1\n" for c in (2, 4, 6, 8, 10, 12))
ARGS = ["bench", "--impl", "reference.conv2d", "--impl", "unfold_einsum.conv2d", "--pass",
        "forward,both", "--quick"]


def _keys(run_dir):
    return sorted(r.key() for r in read_records(run_dir))


def test_kill_then_resume_matches_an_uninterrupted_run(tmp_path, capsys):
    suite = tmp_path / "six.csv"
    suite.write_text(SUITE)
    whole = tmp_path / "whole"
    assert main(ARGS + ["--suite", str(suite), "--out", str(whole)]) == 0
    (whole_dir,) = whole.iterdir()

    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "harness", *ARGS, "--suite", str(suite),
                             "--out", str(out)], stdout=subprocess.DEVNULL,
                            cwd=Path(__file__).parents[2])
    deadline = time.time() + 120
    records = None
    while time.time() < deadline:
        found = list(out.glob("*/records.jsonl"))
        if found and found[0].read_text().count('"kind": "bench"') >= 5:
            records = found[0]
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert records is not None, "the run never got going"
    with open(records, "a") as handle:
        handle.write('{"kind": "bench", "impl": "torn')  # a line cut short by the kill
    partial = read_records(records.parent)
    assert 0 < len([r for r in partial if r.kind == "bench"]) < 24

    assert main(ARGS + ["--suite", str(suite), "--resume", str(records.parent)]) == 0
    assert _keys(records.parent) == _keys(whole_dir)
    assert write_report(records.parent).is_file()


def test_a_damaged_line_in_the_middle_is_an_error_not_skipped(tmp_path):
    import json
    import pytest
    from harness.records import NoRecords, Record
    good = Record(kind="check", impl="x", op="conv2d", prop="shape", status="pass").to_json()
    (tmp_path / "records.jsonl").write_text(f"{good}\n{{not json\n{good}\n")
    with pytest.raises(NoRecords, match=r"records.jsonl:2: not a record"):
        read_records(tmp_path)
    (tmp_path / "records.jsonl").write_text(f"{good}\n{good}\n{{torn")
    assert read_records(tmp_path) == [Record.from_dict(json.loads(good))] * 2
