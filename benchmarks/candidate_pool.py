"""Write a pool of conv2d candidates to a folder, as a search loop would leave them: the 27 of
tests/unit/pool (fast, slow, wrong, crashing, hanging, hostile, refused), then variants of them
until there are --count (PyTorch's op through another layout, im2col with a matmul, outputs a
little off, a per-group loop).

    python benchmarks/candidate_pool.py cands --count 50
    convharness run --impl 'cands/*.py:conv2d' --op conv2d --suite resnet18 --batch 1 --quick
"""
import argparse
import shutil
from pathlib import Path

POOL = Path(__file__).resolve().parents[1] / "tests" / "unit" / "pool"

HEAD = "from _common import torch_conv2d\nimport torch\nimport torch.nn.functional as F\n\n\n"
SIGNATURE = "def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):\n"
ARGS = "bias, stride, padding, dilation, groups"
VARIANTS = {  # name: (what it is, body), each body formatted with {n}
    "channels_last": ("correct: PyTorch's op on a channels_last copy",
                      f"    x = input.contiguous(memory_format=torch.channels_last)\n"
                      f"    return torch_conv2d(x, weight, {ARGS}).contiguous()\n"),
    "scaled": ("wrong: every output {n} parts in 10,000 too large",
               f"    return torch_conv2d(input, weight, {ARGS}) * (1 + {{n}} / 10_000)\n"),
    "im2col": ("correct and slow: unfold and a matmul where it can, PyTorch's op elsewhere",
               "    if groups != 1 or isinstance(padding, str) or input.dim() != 4 or {n} < 0:\n"
               f"        return torch_conv2d(input, weight, {ARGS})\n"
               "    cols = F.unfold(input, weight.shape[-2:], dilation, padding, stride)\n"
               "    out = weight.flatten(1) @ cols\n"
               "    h = (input.shape[-2] + 2 * torch.nn.modules.utils._pair(padding)[0] - "
               "torch.nn.modules.utils._pair(dilation)[0] * (weight.shape[-2] - 1) - 1) // "
               "torch.nn.modules.utils._pair(stride)[0] + 1\n"
               "    out = out.unflatten(-1, (h, -1))\n"
               "    return out if bias is None else out + bias[:, None, None]\n"),
    "per_group": ("correct: one call of PyTorch's op per group",
                  "    if isinstance(padding, str) or groups == 1 or {n} < 0:\n"
                  f"        return torch_conv2d(input, weight, {ARGS})\n"
                  "    xs, ws = input.chunk(groups, 1), weight.chunk(groups, 0)\n"
                  "    bs = [None] * groups if bias is None else bias.chunk(groups)\n"
                  "    return torch.cat([torch_conv2d(x, w, b, stride, padding, dilation, 1)\n"
                  "                      for x, w, b in zip(xs, ws, bs)], 1)\n"),
}


def write(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(POOL / "_common.py", folder)
    written = [Path(shutil.copy(p, folder)) for p in sorted(POOL.glob("*.py"))
               if not p.name.startswith("_")][:count]
    names, n = list(VARIANTS), 0
    while len(written) < count:
        name = names[n % len(names)]
        about, body = VARIANTS[name]
        path = folder / f"variant_{name}_{n // len(names) + 1}.py"
        path.write_text(f'"""{about.format(n=n + 1)}"""\n' + HEAD + SIGNATURE +
                        body.format(n=n + 1))
        written.append(path)
        n += 1
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count={args.count}, but should be >= 1")
    written = write(Path(args.folder), args.count)
    print(f"{len(written)} candidates in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
