"""What crosses a pipe from a process that ran the user's code: JSON messages [kind, payload],
read as data and never unpickled; and the heartbeat by which a worker's calls are timed."""
from __future__ import annotations

import json
import signal
import time


def describe_exit(code) -> str:
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"


def heartbeat(conn, beat):
    """The worker's side of the per-call clock: beat[0] is when the running call started (0
    between calls), beat[1] when the last one ended; a call's name crosses the pipe only when
    it changes, so a timing loop of one call pays two stores a call, not a message."""
    last = [None]

    def on_call(what: str | None) -> None:
        if what is None:
            beat[1], beat[0] = time.monotonic(), 0.0
            return
        if what != last[0]:
            say(conn, "call", what)
            last[0] = what
        beat[0] = time.monotonic()
    return on_call


def counting(conn, seq):
    """The kernel process's side of the per-call clock: `seq` (a shared integer its judge
    reads) odd while a call runs, a new odd number for each call, even between calls. The
    judge times the changes with its own clock: the kernel's clocks are the kernel's to
    break, and a count it forges can only hide a hang from the finer limit, never from the
    judge's own limit on the whole request."""
    last = [None]

    def on_call(what: str | None) -> None:
        if what is None:
            seq.value += seq.value & 1
            return
        if what != last[0]:
            say(conn, "call", what)
            last[0] = what
        seq.value += 2 - (seq.value & 1)
    return on_call


def run_delay(pid: int) -> float:
    """Seconds the process's main thread has spent runnable but waiting for a CPU (the second
    field of /proc/<pid>/schedstat): time a busy machine took from it. 0 where unreadable."""
    try:
        with open(f"/proc/{pid}/schedstat") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def say(conn, kind: str, payload=None) -> None:
    """A message to the parent, as JSON: the parent never unpickles what a process that ran
    the user's code sends."""
    conn.send_bytes(json.dumps([kind, payload], default=repr).encode())


def heard(raw: bytes) -> tuple:
    """A message from a worker: (kind, payload), or ("garbled", what it was)."""
    try:
        kind, payload = json.loads(raw)
        if isinstance(kind, str):
            return kind, payload
    except (ValueError, TypeError):
        pass
    return "garbled", raw[:200]
