"""How often PyTorch's own CPU bugs in bfloat16 show, and what convharness says of a kernel that
hands every call to PyTorch: tests judge "inherited" by a stand-in that fails on every call
(tests/unit/standin_torch.py), since these bugs read memory PyTorch never wrote and show on some
calls only. This prints, per known case, how many of N calls in a fresh process were wrong or
killed it, then the verdicts of seeded checks of F.conv2d-as-a-kernel (exit 0: never blamed).

    python benchmarks/pytorch_own_bugs.py [--calls 50] [--seeds 1 2 3]
"""
import argparse
import subprocess
import sys
import tempfile

from harness.ops.cases import Case

# Found by this harness with torch 2.13 (each also in implementations/reference.py):
CASES = {
    "NaN near special values": Case("conv2d", (2, 1, 3, 4), (1, 1, 3, 3), bias=True,
                                    dtype="bfloat16", dist="special"),
    "strided single column": Case("conv2d", (1, 1, 12, 3), (1, 1, 3, 3),
                                  kwargs={"stride": (1, 2)}, dtype="bfloat16"),
    "depthwise channels_last crash": Case(
        "conv2d", (1, 4, 6, 1), (8, 1, 1, 1), kwargs={"stride": (1, 2), "padding": (1, 1),
                                                      "dilation": 2, "groups": 4},
        dtype="bfloat16", layout="channels_last"),
}

KERNEL = "tests.unit.draw_bugs:conv2d_via_pytorch"
CALLS = """
import sys, torch
from harness.ops.cases import Case
case = Case.from_json(sys.argv[1])
tensors = case.tensors()
want = case.spec.reference(*(t.double() if t is not None else t for t in tensors),
                           **case.kwargs)
wrong = 0
for _ in range(int(sys.argv[2])):
    got = case.spec.reference(*tensors, **case.kwargs).double()
    wrong += not torch.allclose(got, want, rtol=0.05, atol=0.05, equal_nan=True)
print(wrong)
"""


def shows(case: Case, calls: int) -> str:
    """'wrong k of n' or 'killed the process (signal)' for n calls in a fresh process."""
    done = subprocess.run([sys.executable, "-c", CALLS, case.to_json(), str(calls)],
                          capture_output=True, text=True)
    if done.returncode < 0:
        return f"killed the process (signal {-done.returncode})"
    if done.returncode:
        return f"error: {done.stderr.strip().splitlines()[-1]}"
    return f"wrong on {done.stdout.strip()} of {calls} calls"


def verdicts(seed: int) -> str:
    """The exit status of a seeded bfloat16 check of F.conv2d as a kernel, and its lines."""
    from harness.doors import cli
    lines = []
    with tempfile.TemporaryDirectory() as tmp:
        code = cli.check(impl=[KERNEL], op="conv2d",
                         properties="special_values,sizes,layouts", dtypes="bfloat16",
                         seed=str(seed), run_dir=tmp, out=lines.append)
    text = "\n".join(lines).splitlines()
    head = next((line for line in text if line.startswith("property")), "")
    row = next((line for line in text if line.startswith(KERNEL + " ")), "")
    return f"exit {code}\n  {head}\n  {row}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    args = parser.parse_args()
    for name, case in CASES.items():
        print(f"{name:32} {shows(case, args.calls)}", flush=True)
    for seed in args.seeds:
        print(f"check --seed {seed}: {verdicts(seed)}", flush=True)


if __name__ == "__main__":
    main()
