"""A pool of candidates (`--impl` a folder, file or glob): each candidate's own line, whatever it
does; the leaderboard ranks only conforming ones, and its fast_p is what each candidate is.

The pool is `tests/unit/pool/`: 26 conv2d candidates, each what KINDS says it is. The whole
pool runs in `test_the_whole_pool_ranks_as_each_candidate_is` (slow: tox -e slow); the default
run holds a pool of five and the leaderboard's arithmetic on records made by hand."""
import json
import math
import shutil
from pathlib import Path

import pytest

from harness.doors.cli import main
from harness.plugins.pool import expanded, is_pattern
from harness.records.errors import UsageError
from harness.records.record import Record, read_records
from harness.reports.leaderboard import board
from tests.unit.conftest import run_dirs

POOL = Path(__file__).parent / "pool"
LAYERS = POOL / "_layers.csv"  # two large-kernel layers: where the FFT is far faster
# what each candidate is: fast (FFT, 3x-25x PyTorch on LAYERS), same (PyTorch's own op),
# slow (a third of PyTorch's speed or less), and the rest never conform
KINDS = {
    "fast_fft_1": "fast", "fast_fft_2": "fast", "fast_fft_3": "fast", "fast_fft_declared": "fast",
    "same_as_torch_1": "same", "same_as_torch_2": "same",
    "slow_thrice": "slow", "slow_sleeps": "slow", "slow_padded": "same",  # padded: 2 calls
    "wrong_no_bias": "wrong", "wrong_flipped": "wrong", "wrong_dilation": "wrong",
    "wrong_bfloat16": "wrong", "wrong_fast_fft": "wrong", "wrong_mutates": "wrong",
    "wrong_dtype": "wrong", "wrong_gradient": "wrong",
    "crash_segfault": "crashed", "crash_raises": "wrong", "hangs": "timeout",
    "eats_memory": "oom", "hostile_kills_judge": "wrong", "hostile_rewrites_records": "wrong",
    "broken_import": "refused", "broken_signature": "refused", "broken_no_function": "refused",
    "broken_exits": "refused",
}
LIMITS = ("--timeout", "10", "--memory-limit", "4G", "--seed", "1", "--no-store")
# one thread: on a busy machine, threads that wait for a core leave their peers spinning


def _stem(impl: str) -> str:
    return "fast_fft_declared" if impl == "pool.fast_fft_declared" else \
        Path(impl.split(":")[0]).stem


def test_the_pool_folder_holds_what_kinds_says():
    files = {p.stem for p in POOL.glob("*.py") if not p.name.startswith("_")}
    assert files == set(KINDS) and len(files) >= 20


def test_a_folder_a_glob_and_a_file_expand_to_candidates(tmp_path):
    folder, _ = expanded([str(POOL)], "conv2d")
    globbed, pooled = expanded([f"{POOL}/fast_*.py:conv2d"], None)
    assert len(folder) == len(KINDS) and all(s.endswith(".py:conv2d") for s in folder)
    assert not any("/_" in s for s in folder)  # helpers (_common.py) are no candidates
    assert [Path(s.split(":")[0]).stem for s in globbed] == [
        "fast_fft_1", "fast_fft_2", "fast_fft_3", "fast_fft_declared"]
    assert pooled == set(globbed) and is_pattern(str(POOL))
    one, pooled = expanded([f"{POOL}/hangs.py:conv2d", "reference.conv2d"], None)
    assert one == [f"{POOL}/hangs.py:conv2d", "reference.conv2d"] and not pooled
    for spec, op, words in ((f"{tmp_path}/*.py:conv2d", None, "matches no candidate"),
                            (str(tmp_path), "conv2d", "a folder with no candidate"),
                            (f"{POOL}/nope.py:conv2d", None, "a file that does not exist"),
                            (str(POOL), None, "names files but no function")):
        with pytest.raises(UsageError, match=words):
            expanded([spec], op)


def test_a_candidate_that_cannot_be_run_is_refused_alone():
    from harness.execution.resolve import selected
    from harness.plugins.pool import refused
    specs, pooled = expanded([f"{POOL}/broken_*.py:conv2d", f"{POOL}/same_as_torch_1.py"],
                             "conv2d")
    found = {_stem(i.name): refused(i) for i in selected(specs, pooled, op="conv2d")}
    assert found.pop("same_as_torch_1") == ""
    assert "convharness_nonexistent_module" in found["broken_import"]
    assert "does not match the conv2d contract" in found["broken_signature"]
    assert "has no attribute 'conv2d'" in found["broken_no_function"]
    assert "killed the process (exit status 7)" in found["broken_exits"]


def _check(impl: str, prop: str, status: str, op="conv2d") -> Record:
    return Record("check", impl, op, prop, status, message=f"{prop} {status}")


def _timed(impl: str, layer: str, seconds: float, status="ok", op="conv2d") -> Record:
    case = {"label": layer, "input_shape": [1, 2, 8, 8], "weight_shape": [2, 2, 3, 3]}
    return Record("bench", impl, op, "forward", status, case=case, device="cpu",
                  dtype="float32", times=(seconds,) * 3 if seconds else (),
                  figures={"label": layer, "flops": 1e6, "bytes": 1e3})


def test_fast_p_and_the_ranking_are_kernelbenchs_by_hand():
    ref = "reference.conv2d"
    speeds = {"a": 4.0, "b": 2.0, "c": 1.5, "d": 1.2, "e": 0.5}  # reference time / its time
    records = [_timed(ref, layer, 1.0) for layer in ("L1", "L2")]
    for name, speed in speeds.items():
        records += [_check(name, "values", "pass"), _check(name, "gradients", "xfail")]
        records += [_timed(name, "L1", 1.0 / speed), _timed(name, "L2", 1.0 / speed)]
    records += [_check("f", "values", "fail"), _timed("f", "L1", 0.01, "nonconforming"),
                _timed("f", "L2", 0.01, "nonconforming"),  # fast, but it does not conform
                _check("g", "values", "pass"), _timed("g", "L1", 0.1),
                _timed("g", "L2", 0.1, "suspect"),  # conforms; a time not believed: unranked
                _check("h", "values", "pass"), _timed("h", "L1", 0.1),
                _timed("h", "L2", 0.1, "wrong"),  # a timed output wrong: does not conform
                Record("check", "i", "conv2d", "loads", "error", message="i cannot be run")]
    found = board(records)["ops"]["conv2d"]
    rows = {r["impl"]: r for r in found["rows"]}
    assert [r["impl"] for r in found["rows"][:5]] == ["a", "b", "c", "d", "e"]
    assert [rows[n]["rank"] for n in "abcde"] == [1, 2, 3, 4, 5]
    assert rows["b"]["speedup"] == pytest.approx(2.0) and rows["b"]["vs_best"] == 0.5
    assert rows["g"]["conforms"] and rows["g"]["rank"] is None
    assert "SUSPECT" in rows["g"]["unranked_because"]
    assert not rows["h"]["conforms"] and rows["h"]["first_failure"]["status"] == "wrong"
    assert not rows["f"]["conforms"] and rows["f"]["first_failure"]["property"] == "values"
    assert rows["i"]["first_failure"]["message"] == "i cannot be run"
    n = 9  # a-i; fast_p: conforms and more than p times as fast (strictly: b is not fast_2)
    assert found["fast_p"] == {"0": round(6 / n, 4), "1": round(4 / n, 4),
                               "1.5": round(2 / n, 4), "2": round(1 / n, 4)}
    assert found["candidates"] == n and found["conforming"] == 6 and found["layers"] == 2
    assert rows["e"]["slowest_layer"]["speedup"] == pytest.approx(0.5)


def _run(tmp_path, capsys, *impls, props="values", layers=LAYERS):
    argv = ["run", "--op", "conv2d", "--suite", str(layers), "--batch", "1", "--quick",
            "--threads", "1", "--property", props, "--out", str(tmp_path), *LIMITS]
    for impl in impls:
        argv += ["--impl", impl]
    code = main(argv)
    out = capsys.readouterr().out
    (run_dir,) = run_dirs(tmp_path)
    return code, out, run_dir, json.loads((run_dir / "leaderboard.json").read_text())


def _expected_fast_p(kinds: list) -> dict:
    """fast_p by hand, from what each candidate is: fast ones are 3x-25x PyTorch's speed."""
    n, fast, ok = len(kinds), kinds.count("fast"), sum(k in ("fast", "same", "slow")
                                                       for k in kinds)
    return {"0": round(ok / n, 4), "1.5": round(fast / n, 4), "2": round(fast / n, 4)}


def test_a_small_pool_runs_in_one_command(tmp_path, capsys):
    pool = tmp_path / "cands"
    pool.mkdir()
    for name in ("fast_fft_1", "slow_thrice", "wrong_no_bias", "broken_import", "_common"):
        shutil.copy(POOL / f"{name}.py", pool)
    layer = tmp_path / "layer.csv"  # the first layer alone: PyTorch's is 25x the FFT's time
    layer.write_text("\n".join(LAYERS.read_text().splitlines()[:2]) + "\n")
    code, out, run_dir, found = _run(tmp_path / "runs", capsys, str(pool), layers=layer)
    assert code == 1 and "leaderboard, conv2d: 2 of 4 candidate(s) conform" in out
    rows = found["ops"]["conv2d"]["rows"]
    assert [(_stem(r["impl"]), r["rank"]) for r in rows] == [
        ("fast_fft_1", 1), ("slow_thrice", 2), ("broken_import", None), ("wrong_no_bias", None)]
    assert rows[0]["speedup"] > 2 > 1 > rows[1]["speedup"]
    fast_p = found["ops"]["conv2d"]["fast_p"]
    assert fast_p == {**_expected_fast_p(["fast", "slow", "refused", "wrong"]),
                      "1": fast_p["1"]} and fast_p["1"] == 0.25
    assert "Leaderboard: conv2d" in (run_dir / "summary.md").read_text()
    assert "class='sortable'" in (run_dir / "index.html").read_text()
    assert main(["leaderboard", str(run_dir)]) == 0
    assert "fast_0 50%" in capsys.readouterr().out


def test_a_candidate_past_its_budget_keeps_what_it_finished(tmp_path, capsys):
    code = main(["check", "--impl", f"{POOL}/same_as_torch_1.py:conv2d", "--op", "conv2d",
                 "--property", "values,no_mutation,shape", "--budget", "0.5", "-j", "1",
                 "--out", str(tmp_path), *LIMITS])
    records = read_records(run_dirs(tmp_path)[0])
    assert code == 1 and [r.status for r in records] == ["pass", "over_budget", "over_budget"]
    assert "spent its budget of 0.5 s" in records[-1].message  # the first task ran whole


@pytest.mark.slow
def test_the_whole_pool_ranks_as_each_candidate_is(tmp_path, capsys):
    code, out, run_dir, found = _run(
        tmp_path, capsys, f"{POOL}/*.py:conv2d",
        props="values,dtype_device,no_mutation,gradients")
    op = found["ops"]["conv2d"]
    kinds = {_stem(r["impl"]): r for r in op["rows"]}
    assert set(kinds) == set(KINDS) and code == 1
    for name, row in kinds.items():
        assert row["conforms"] == (KINDS[name] in ("fast", "same", "slow")), (name, row)
        failure = row["first_failure"] or {}
        if KINDS[name] == "refused":
            assert failure["property"] == "loads", (name, row)
        elif KINDS[name] in ("crashed", "timeout", "oom"):
            assert failure["status"] == KINDS[name], (name, row)
    ranked = [r for r in op["rows"] if r["rank"]]
    assert {_stem(r["impl"]) for r in ranked} == {n for n, k in KINDS.items() if k in (
        "fast", "same", "slow")}
    order = [KINDS[_stem(r["impl"])] for r in ranked]
    assert order == sorted(order, key=["fast", "same", "slow"].index), order
    assert all(r["speedup"] > 2 for r in ranked if KINDS[_stem(r["impl"])] == "fast")
    assert all(r["speedup"] < 1 for r in ranked if KINDS[_stem(r["impl"])] == "slow")
    expected = _expected_fast_p([KINDS[n] for n in kinds])
    assert {p: op["fast_p"][p] for p in expected} == expected
    fast, same = (sum(k == w for k in KINDS.values()) for w in ("fast", "same"))
    n = len(KINDS)  # the JSON's shares are rounded to 4 places: so are the bounds
    assert round(fast / n, 4) <= op["fast_p"]["1"] <= round((fast + same) / n, 4)
    assert math.isclose(ranked[0]["vs_best"], 1.0)
    text = (run_dir / "summary.md").read_text()
    assert "Leaderboard: conv2d" in text and "fast_0" in text


def test_the_pytest_door_takes_a_pool(pytester):
    result = pytester.runpytest_subprocess(
        "--pyargs", "harness.conformance", "--convharness-impl", f"{POOL}/broken_*.py:conv2d",
        "--convharness-impl", f"{POOL}/same_as_torch_1.py:conv2d", "--convharness-op", "conv2d",
        "--convharness-out", "out", "-k", "loads or examples", "-p", "no:cacheprovider",
        timeout=600)
    result.assert_outcomes(passed=1, failed=4)  # one test each refused, with the reason
    result.stdout.fnmatch_lines(["*broken_import.py:conv2d / loads (ERROR): cannot be run: *"
                                 "convharness_nonexistent_module*"])


def test_a_hang_in_the_worked_examples_is_the_candidates_timeout(tmp_path, capsys):
    code = main(["check", "--impl", f"{POOL}/hangs.py:conv2d", "--op", "conv2d", "--property",
                 "examples,shape", "--timeout", "3", "--out", str(tmp_path), "--no-store"])
    records = {r.prop: r.status for r in read_records(run_dirs(tmp_path)[0])}
    assert code == 1 and records["examples"] == "timeout"  # not a fault of the harness's
    assert records["shape"] in ("timeout", "not_run")  # begun before the hang was seen, or not
