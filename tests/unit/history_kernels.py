"""A conv2d whose speed and correctness the environment sets, so that successive runs of one
implementation can be made slower (HISTORY_SLEEP seconds added to each call) or wrong
(HISTORY_WRONG=1: every output off by one), as a change to a kernel between revisions would."""
import os
import time

import torch.nn.functional as F


def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out = F.conv2d(input, weight, bias, stride, padding, dilation, groups)
    pause = float(os.environ.get("HISTORY_SLEEP", "0"))
    if pause:
        time.sleep(pause)
    return out + 1 if os.environ.get("HISTORY_WRONG") else out
