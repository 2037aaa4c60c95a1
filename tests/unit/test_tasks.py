"""The task runner: shards are deterministic and disjoint, merge joins them and refuses repeats."""
import pytest

from harness.doors.cli import main
from harness.execution.tasks import ShardError, parse_shard, shard_of
from harness.records.record import read_records
from tests.unit.conftest import run_dirs

BENCH = ["bench", "--impl", "reference.conv2d", "--impl", "im2col.conv2d", "--quick"]


def _keys(run_dir, kinds=("bench",)):
    return sorted(r.key() for r in read_records(run_dir) if r.kind in kinds)


def _one(root):
    (run,) = run_dirs(root)
    return run


def test_shards_split_every_task_once():
    class T:
        def __init__(self, key):
            self.key = key
    tasks = [T(f"k{i}") for i in range(11)]
    parts = [shard_of(tasks, (i, 3)) for i in (1, 2, 3)]
    keys = sorted(t.key for part in parts for t in part)
    assert keys == sorted(t.key for t in tasks) and all(parts)
    assert [t.key for t in shard_of(tasks, (2, 3))] == [t.key for t in parts[1]]  # stable
    with pytest.raises(ShardError, match="--shard='3/2'"):
        parse_shard("3/2")


def test_shards_merged_equal_the_unsharded_run(tmp_path, capsys, tiny_suite):  # noqa: F811
    suite = ["--suite", tiny_suite]
    assert main(BENCH + suite + ["--out", str(tmp_path / "whole")]) == 0
    for i in (1, 2):
        assert main(BENCH + suite + ["--shard", f"{i}/2", "--out", str(tmp_path / f"s{i}")]) == 0
    halves = [_keys(_one(tmp_path / f"s{i}")) for i in (1, 2)]
    assert halves[0] and halves[1] and not set(halves[0]) & set(halves[1])
    assert main(["merge", str(_one(tmp_path / "s1")), str(_one(tmp_path / "s2")), "--out",
                 str(tmp_path / "merged")]) == 0
    assert _keys(_one(tmp_path / "merged")) == _keys(_one(tmp_path / "whole"))
    assert (_one(tmp_path / "merged") / "index.html").is_file()


def test_merge_refuses_duplicate_records(tmp_path, capsys, tiny_suite):  # noqa: F811
    assert main(BENCH[:3] + ["--quick", "--suite", tiny_suite, "--out", str(tmp_path / "a")]) == 0
    run = str(_one(tmp_path / "a"))
    assert main(["merge", run, run, "--out", str(tmp_path / "m")]) == 2
    assert "duplicate record 'bench|" in capsys.readouterr().err
    assert not (tmp_path / "m").exists() or not any((tmp_path / "m").iterdir())
