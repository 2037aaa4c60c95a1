"""The fast built-ins on the cases they are for: Winograd and FFT on 3x3 / large stride-1 kernels,
and the Triton kernel through Triton's CPU interpreter."""
import importlib.util
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checking.call import forward_values
from harness.checking.properties.gradients import prop_gradients
from harness.ops.cases import DISTRIBUTIONS, Case
from harness.plugins.registry import load


@st.composite
def stride_one(draw, kernel=st.just(3)):
    """conv2d cases with a square kernel, stride 1 and dilation 1, built by construction."""
    k = draw(kernel)
    groups = draw(st.sampled_from([1, 2]))
    c, out = groups * draw(st.integers(1, 4)), groups * draw(st.integers(1, 4))
    pad = draw(st.sampled_from([0, 1, 2, "same", "valid"]))
    p = 0 if isinstance(pad, str) else pad
    h = max(1, k - 2 * p) + draw(st.integers(0, 6))
    w = max(1, k - 2 * p) + draw(st.integers(0, 6))
    return Case("conv2d", (draw(st.integers(1, 2)), c, h, w), (out, c // groups, k, k),
                bias=draw(st.booleans()), kwargs={"padding": pad, "groups": groups},
                dtype=draw(st.sampled_from(["float64", "float32", "float16", "bfloat16"])),
                dist=draw(st.sampled_from(DISTRIBUTIONS)), seed=draw(st.integers(0, 2**20)))


@pytest.mark.parametrize("name", ["winograd.conv2d", "im2col.conv2d", "fft.conv2d"])
@settings(max_examples=60, deadline=None, derandomize=True)
@given(case=stride_one())
def test_three_by_three_stride_one(name, case):
    impl = load(name)
    forward_values(impl, case)
    prop_gradients(impl, case)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(case=stride_one(st.sampled_from([7, 9, 11])))
def test_fft_on_large_kernels(case):
    forward_values(load("fft.conv2d"), case)


def test_fft_declines_a_call_past_its_workspace_limit_before_transforming_anything():
    """ResNet-50's 512>256 1x1 layer on a 28x28 plane: the kernel's spectra at the plane's size
    would take 1.4 GiB; declined (unsupported in the check and the bench), not a 3 s call."""
    import torch
    x, w = torch.empty(1, 512, 28, 28), torch.empty(256, 512, 1, 1)
    with pytest.raises(NotImplementedError, match=r"1\.4 GiB of spectra .* limit of 1 GiB"):
        load("fft.conv2d").fn(x, w)


SMALL_TILE = "triton.conv2d[BLOCK_M=16,BLOCK_N=16,BLOCK_K=16,num_warps=4,num_stages=3]"


def _interpreted(tmp_path, *args) -> str:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    result = subprocess.run([sys.executable, "-m", "harness", "check", *args, "--seed", "0",
                             "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    return result.stdout


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_triton_kernel_in_the_interpreter(tmp_path):
    """TRITON_INTERPRET=1 registers triton.conv2d for the CPU: the kernel's own code runs, in
    the tile small problems take, on four properties."""
    out = _interpreted(tmp_path, "--impl", SMALL_TILE, "--dtypes", "float32,float16",
                       "--property", "examples,values,layouts,invalid_args", "--no-covering")
    assert SMALL_TILE in out


@pytest.mark.slow  # every configuration in the interpreter; the default one is checked above
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_every_autotune_configuration_of_the_triton_kernel_conforms(tmp_path):
    """Each of the autotuner's tiles, pinned, on the drawn values in every dtype it declares
    (small shapes, so every tile is all tail in the interpreter); on a GPU the shipped suite
    draws them all."""
    out = _interpreted(tmp_path, "--impl", "triton.conv2d", "--property", "values",
                       "--no-covering")  # the interpreter: minutes for the rows of 9 tiles
    assert "triton.conv2d: all 9 configurations conform" in out, out


def _interpreter_dot_errors() -> dict:
    """{dtype: largest error of tl.dot on a 16x16 tile} under Triton's interpreter."""
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run([sys.executable, "-m", "tests.unit.triton_probe"], env=env,
                          capture_output=True, text=True, timeout=300, check=True)
    return {name: float(err) for name, err in (line.split() for line in done.stdout.split("\n")
                                               if line)}


@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="needs triton")
def test_bfloat16_is_left_out_on_the_interpreter_only_while_its_dot_is_wrong():
    """triton.conv2d does not declare bfloat16 on the interpreter, whose tl.dot gets bfloat16
    wrong (not the kernel: a three-line kernel shows it). Once the interpreter is right, this
    fails: declare bfloat16 there again. On a GPU it is declared."""
    errors = _interpreter_dot_errors()
    assert errors["float32"] < 1e-4 and errors["float16"] < 1e-4, errors
    assert errors["bfloat16"] > 1, f"the interpreter's bfloat16 dot is right now: {errors}"
    env = dict(os.environ)
    for interpret in ("1", "0"):
        env["TRITON_INTERPRET"] = interpret
        code = "from implementations.triton_conv import DTYPES; print(','.join(DTYPES))"
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                              text=True, check=True)
        assert ("bfloat16" in done.stdout) == (interpret == "0"), (interpret, done.stdout)


@pytest.mark.parametrize("name", ["strided_pools.max_pool2d", "unfold_einsum.max_pool2d",
                                  "loops.max_pool2d"])
def test_max_pool_routes_the_gradient_of_an_all_infinite_window_to_the_input(name):
    """Found by a random draw of special_gradients: a window whose input elements are all -inf
    ties with its -inf padding; the gradient must reach the input element, as torch's does."""
    import torch
    import torch.nn.functional as F
    x = torch.tensor([[[[float("-inf")]], [[1.0]], [[float("-inf")]]]], dtype=torch.float64)
    kw = dict(kernel_size=2, stride=1, padding=1)
    grads = []
    for fn in (F.max_pool2d, load(name).fn):
        leaf = x.clone().requires_grad_()
        out, where = fn(leaf, return_indices=True, **kw)
        out.backward(torch.arange(1.0, 1 + out.numel(), dtype=torch.float64).view(out.shape))
        grads.append((leaf.grad, where))
    torch.testing.assert_close(grads[1][0], grads[0][0])
    assert torch.equal(grads[1][1], grads[0][1])
