"""judge_clock: the worker's own clock on a kernel in its own process; what it times is read by
the worker from the kernel process's memory and verified, a lazy output is caught."""
import multiprocessing as mp

import pytest
import torch.nn.functional as F

from harness.checking.call import PropertyFailed
from harness.execution.kernel_client import KernelProcess
from harness.ops.cases import Case
from harness.plugins.registry import Implementation
from harness.timing import judge_clock
from tests.unit import hostile_clock, kernel_bugs

CASE = Case("conv2d", (2, 4, 9, 9), (6, 4, 3, 3), kwargs={"padding": 1})


@pytest.fixture
def kernel(tmp_path):
    def gone(what):
        raise AssertionError(f"the kernel's process {what.kind}: {what.detail}")
    process = KernelProcess(mp.get_context("spawn").Array("d", 3, lock=False), str(tmp_path),
                            gone)
    yield process
    process.close()


def remote(kernel, fn):
    return kernel.bind(Implementation(f"kernel_bugs.{fn.__name__}", "conv2d", fn)).fn


def test_a_batch_is_read_from_the_kernels_memory_and_verified(kernel):
    honest = remote(kernel, hostile_clock.honest)
    assert kernel.readable  # this Linux lets a process read its child's memory
    x, w, _ = CASE.tensors()
    xs = [x + k for k in range(3)]
    seconds, outputs = honest.timed([[xi, w] for xi in xs], {"padding": 1}, threads=1, read=2)
    assert seconds > 0 and len(outputs) == 2
    for i, out in outputs.items():
        assert out.equal(F.conv2d(xs[i], w, padding=1))
    for pass_ in ("forward", "backward", "both"):
        seen = judge_clock.per_call(honest, CASE, pass_, threads=1, seed=0)
        assert seen.seconds >= 0 and seen.calls >= 1 and seen.wall_s > 0


def test_an_output_finished_after_the_reply_is_wrong_when_the_judge_reads_it(kernel):
    """The worker stops the kernel's process and reads at once: a thread that would finish
    the output later never gets to."""
    lazy = remote(kernel, kernel_bugs.conv_lazy)
    with pytest.raises(PropertyFailed, match="an output the judge timed"):
        judge_clock.per_call(lazy, CASE, "forward", threads=1, seed=0)


def test_too_many_cores_and_too_busy_are_decided_with_margins():
    quiet = judge_clock.Clocked(1e-3, cpu_s=0.3, wall_s=0.1, calls=100, busy=0.05)
    assert not quiet.too_many_cores(threads=2) and quiet.too_many_cores(threads=1)
    assert not quiet.too_busy(threads=2)
    crowded = judge_clock.Clocked(1e-3, cpu_s=0.1, wall_s=0.1, calls=100, busy=0.5)
    assert crowded.too_busy(threads=2) and not crowded.too_busy(threads=1)


def test_a_process_s_cpu_time_counts_the_processes_it_started():
    import os
    import signal
    import subprocess
    import sys
    child = subprocess.Popen([sys.executable, "-c", "import os, time\n"
                              "pid = os.fork()\n"
                              "end = time.process_time() + 0.3\n"
                              "while time.process_time() < end: pass\n"
                              "os.write(1, b'done\\n')\n"
                              "time.sleep(60)"], stdout=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        assert child.stdout.readline() == "done\n"  # one of the two spent its 0.3 s of CPU
        assert child.stdout.readline() == "done\n"  # and the other
        ran, _, _ = judge_clock.scheduled(child.pid)
        assert ran >= 0.55
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
