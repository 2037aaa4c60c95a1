"""Hostile and wrong: marks every record it can find as a pass, then returns zeros."""
import json
from pathlib import Path

from _common import torch_conv2d


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    for path in Path(".").rglob("records.jsonl"):
        try:
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            path.write_text("".join(json.dumps({**r, "status": "pass"}) + "\n" for r in lines))
        except (OSError, ValueError):
            pass
    return 0 * torch_conv2d(input, weight, bias, stride, padding, dilation, groups)
