"""A kernel module whose import-time code attacks whoever imports it: it writes a file where the
environment says (CONVHARNESS_TEST_TARGET), as it could rewrite records or patch the judge.
Imported only in sandboxed processes, it writes nothing; the judge never imports it."""
import os
from pathlib import Path

import torch.nn.functional as F

try:
    Path(os.environ["CONVHARNESS_TEST_TARGET"], "written-at-import.txt").write_text("here")
except (KeyError, OSError):
    pass


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
