"""bench -> records -> report end to end, compare with a known slowdown, CUDA timing when present."""
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import pandas as pd
import pytest
import torch

from harness.doors.cli import main
from harness.execution.runs import run_bench
from harness.plugins.registry import Implementation, load
from harness.records.record import Record, RecordWriter, read_records
from harness.reports.compare import compare, regressions
from harness.reports.report import write_report
from harness.timing.bench import BenchOptions, bench_case
from harness.timing.suites import load as load_suite
from harness.timing.timers import QUICK
from tests.unit import broken
from tests.unit.conftest import HOSTILE
from tests.unit.conftest import bench_run as _bench
from tests.unit.conftest import run_dirs


class _Refs(HTMLParser):
    """Files a page refers to (src, href), its links within the page (#id) and its ids."""

    def __init__(self):
        super().__init__()
        self.refs, self.links, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("src", "href"):
                (self.links if value.startswith("#") else self.refs).append(value)
            elif key == "id":
                self.ids.add(value)


def test_bench_then_report(tmp_path, tiny_suite):
    hostile = Implementation(HOSTILE, "conv2d", broken.conv_zeros)
    impls = [load("reference.conv2d"), load("unfold_einsum.conv2d"), hostile]
    run_dir = _bench(tmp_path, impls, tiny_suite, passes=("forward", "both"))
    index = write_report(run_dir)
    frame = pd.read_csv(run_dir / "results.csv")
    assert len(frame) == 3 * 2 * 2
    assert {"impl", "case", "pass", "median_s", "iqr_s", "gflops", "speedup", "noisy"} <= set(frame)
    assert pd.read_parquet(run_dir / "results.parquet").shape == frame.shape
    ok = frame[frame["impl"] == "unfold_einsum.conv2d"]
    assert (ok["status"] == "ok").all() and (ok["gflops"] > 0).all()
    wrong = frame[frame["impl"] == HOSTILE]
    assert (wrong["status"] == "wrong").all() and wrong["speedup"].isna().all()
    pngs = list(run_dir.glob("*.png"))
    assert pngs and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert matplotlib.image.imread(pngs[0]).ndim == 3
    text = index.read_text()
    assert "<script>alert" not in text and "&lt;script&gt;" in text
    refs = _Refs()
    refs.feed(text)
    assert refs.refs and all((run_dir / r).is_file() for r in refs.refs), refs.refs
    assert "<nav class='toc'>" in text and len(refs.links) >= 4  # every section, in contents
    assert {link[1:] for link in refs.links} <= refs.ids, (refs.links, refs.ids)
    assert "| case |" in (run_dir / "summary.md").read_text()


def test_slow_implementation_is_skipped_for_budget_not_dropped(tmp_path, tiny_suite):
    slow = Implementation("slow", "conv2d", broken.conv_flipped, max_flops=1.0)
    (sc,) = load_suite(tiny_suite)[:1]
    records = list(bench_case(slow, sc, "cpu", BenchOptions(budget=QUICK)))
    assert [r.status for r in records] == ["skipped"] and "budget" in records[0].message


def test_backward_of_forward_only_is_unsupported(tmp_path, tiny_suite):
    impl = Implementation("fwd", "conv2d", broken.conv_forward_only)
    (sc,) = load_suite(tiny_suite)[:1]
    (record,) = bench_case(impl, sc, "cpu", BenchOptions(passes=("backward",), budget=QUICK))
    assert record.status == "unsupported"


def _synthetic(run_dir: Path, scale: float, seed: int):
    gen = torch.Generator().manual_seed(seed)
    with RecordWriter(run_dir / "records.jsonl") as writer:
        for i, factor in enumerate((1.0, scale)):
            times = (1e-3 * factor * (1 + 0.01 * torch.rand(30, generator=gen))).tolist()
            writer.write(Record("bench", "impl", "conv2d", "forward", "ok",
                                case={"label": f"c{i}", "seed": i}, device="cpu", dtype="float32",
                                figures={"label": f"c{i}", "flops": 1e6}, times=tuple(times)))


def test_compare_finds_the_known_slowdown(tmp_path, capsys):
    _synthetic(tmp_path / "a", 1.0, 0)
    _synthetic(tmp_path / "b", 1.5, 1)
    table = compare(tmp_path / "a", tmp_path / "b")
    marks = dict(zip(table["case"], table["mark"]))
    assert marks == {"c0": "unchanged", "c1": "slower"}
    assert len(regressions(table, 1.1)) == 1 and len(regressions(table, 2.0)) == 0
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 1
    assert main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--factor", "2"]) == 0
    assert (tmp_path / "b" / "compare-a.csv").is_file()


def test_report_of_missing_run_is_a_usage_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "has no records.jsonl" in capsys.readouterr().err


def test_bench_cli_writes_run_json_and_report(tmp_path, tiny_suite, capsys):
    assert main(["bench", "--impl", "reference.conv2d", "--suite", tiny_suite, "--quick",
                 "--out", str(tmp_path / "out")]) == 0
    run_dir = run_dirs(tmp_path / "out")[0]
    env = json.loads((run_dir / "run.json").read_text())
    assert {"torch", "cpu", "threads", "git_commit", "command"} <= set(env)
    assert env["allocator"].startswith("warm: freed memory stays in the process")
    assert main(["report", str(run_dir)]) == 0
    assert re.search(r"report: .*index.html", capsys.readouterr().out)
    assert "allocator warm: " in (run_dir / "index.html").read_text()
    assert "Timed with the CPU allocator warm: " in (run_dir / "summary.md").read_text()


@pytest.mark.parametrize("alloc", ["warm", "as-is"])
def test_every_timing_records_the_allocator_state_it_was_taken_in(tmp_path, tiny_suite, alloc):
    assert main(["bench", "--impl", "reference.conv2d", "--suite", tiny_suite, "--quick",
                 "--alloc", alloc, "--out", str(tmp_path)]) == 0
    run_dir = run_dirs(tmp_path)[0]
    records = [r for r in read_records(run_dir) if r.kind == "bench"]
    assert records and {r.figures["alloc"] for r in records} == {alloc}
    glibc = records[0].figures["malloc"].startswith("glibc")
    settings = {"mmap_max": 0, "trim_threshold": 2**31 - 1} if glibc and alloc == "warm" else {}
    assert all(r.figures["alloc_settings"] == settings for r in records)
    assert set(pd.read_csv(run_dir / "results.csv")["alloc"]) == {alloc}
    assert json.loads((run_dir / "run.json").read_text())["allocator"].startswith(alloc + ":")


def test_an_unknown_allocator_state_is_named(tmp_path, tiny_suite, capsys):
    assert main(["bench", "--suite", tiny_suite, "--alloc", "jemalloc", "--out",
                 str(tmp_path)]) == 2
    assert "--alloc='jemalloc', but should be one of warm, as-is" in capsys.readouterr().err


def test_bad_suite_file_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("N,C,H,W,K,R,S,stride,pad\n1,4,8,8,4,3,x,1,1\n")
    assert main(["bench", "--suite", str(bad), "--out", str(tmp_path)]) == 2
    assert "line 2: field S='x'" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_bench_times_with_events(tmp_path, tiny_suite):
    run_dir = tmp_path / "run"
    options = BenchOptions(devices=("cuda",), budget=QUICK)
    with RecordWriter(run_dir / "records.jsonl") as writer:
        run_bench([load("reference.conv2d")], load_suite(tiny_suite), options, writer.write)
    records = [r for r in read_records(run_dir) if r.kind == "bench"]
    assert all(r.status == "ok" and r.device == "cuda" and len(r.times) >= 5 for r in records)


def test_many_ops_are_grouped_by_family_with_a_nested_table_of_contents(tmp_path):
    records = [Record("check", f"reference.{op}", op, prop, status, counts={"pass": 1})
               for op in ("conv1d", "conv2d", "max_pool3d", "adaptive_max_pool1d")
               for prop, status in (("values", "pass"), ("shape", "pass"))]
    records.append(Record("check", "mine.conv3d", "conv3d", "values", "fail", "out: wrong"))
    writer = RecordWriter(tmp_path / "records.jsonl")
    for record in records:
        writer.write(record)
    writer.close()
    page = write_report(tmp_path).read_text()
    titles = re.findall(r"<h3 id='[^']*'>([^<]*)</h3>", page)
    assert titles[:3] == ["Conformance: conv (conv1d, conv2d, conv3d)",
                          "Conformance: max_pool (max_pool3d)",
                          "Conformance: adaptive_max_pool (adaptive_max_pool1d)"]
    toc = page[page.index("<nav class='toc'>"):page.index("</nav>")]
    assert toc.index("Conformance</a>") < toc.index("<ul><li><a href='#s-conformance--conv")
    refs = _Refs()
    refs.feed(page)
    assert set(link[1:] for link in refs.links) <= refs.ids
