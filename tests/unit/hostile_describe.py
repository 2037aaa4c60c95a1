"""A kernel module whose import-time code forges the description its resolving process sends
back (naming no implementation), so that a judge that trusted it might import the module
itself to find out."""
import json

import torch.nn.functional as F

json.dumps = lambda *args, **kwargs: '["ok", {}]'


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
