"""The report in a real browser (headless Chromium): the page renders, every image loads."""
import shutil
import subprocess

import matplotlib.image
import pytest

from harness.checking.driver import CheckOptions
from harness.execution.runs import run_checks
from harness.plugins.registry import Implementation, load
from harness.records.record import RecordWriter
from harness.reports.report import write_report
from tests.unit import broken
from tests.unit.conftest import HOSTILE
from tests.unit.conftest import bench_run as _bench

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--allow-file-access-from-files"]


def _chromium(tmp_path, *args) -> str:
    profile = tmp_path / "chromium-profile"
    result = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", *args],
                            capture_output=True, text=True, timeout=300)
    return result.stdout


@pytest.mark.skipif(BROWSER is None, reason="no chromium here (apt-get install chromium)")
def test_the_report_renders_with_every_image(tmp_path, tiny_suite):  # noqa: F811
    hostile = Implementation(HOSTILE, "conv2d", broken.conv_zeros)
    run_dir = _bench(tmp_path, [load("reference.conv2d"), load("im2col.conv2d"), hostile],
                     tiny_suite)
    with RecordWriter(run_dir / "records.jsonl") as writer:
        run_checks([load("reference.adaptive_avg_pool2d"), hostile],
              CheckOptions(properties=("shape", "values"), dtypes=("float32",)), writer.write)
    index = write_report(run_dir)
    dom = _chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", index.as_uri())
    loaded, total = dom.split('data-images="', 1)[1].split('"', 1)[0].split("/")
    assert int(total) > 0 and loaded == total, f"{loaded} of {total} images loaded"
    assert "<script>alert(1)</script>" not in dom  # the hostile name stays text
    shot = tmp_path / "page.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", index.as_uri())
    pixels = matplotlib.image.imread(shot)
    assert pixels.std() > 0.05, "the page rendered blank"
