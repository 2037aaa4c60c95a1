"""module:attr kernels resolved in a sandboxed process of their own (their import-time code runs
there), described back as plain data: the judge's process never imports them."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
from pathlib import Path

from harness.execution.messages import describe_exit, heard, say
from harness.plugins.registry import ImplementationError, select
from harness.records.errors import UsageError

RESOLVE_S = 600.0  # importing torch and the kernels' modules: slow on a loaded machine
ERRORS = {"ImplementationError": ImplementationError, "UsageError": UsageError}


def selected(specs=(), **how) -> list:
    """registry.select(specs, **how), with each module:attr spec resolved elsewhere and its
    implementations' functions deferred (plugins.deferred); built-ins (trusted) here."""
    from harness.plugins.deferred import rebuilt
    outside = [s for s in specs if ":" in s]
    found = _resolve(outside, how) if outside else {}
    impls = []
    for spec in specs:
        if spec not in outside:
            impls += select([spec], **how)
            continue
        try:
            impls += [rebuilt(spec, how, data) for data in found[spec]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ImplementationError(f"impl={spec!r} was not described as expected "
                                      f"({type(exc).__name__}: {exc})") from None
    return impls if specs else select(**how)


def _resolve(specs: list, how: dict) -> dict:
    """{spec: [described implementation]} from a sandboxed process; its error re-raised."""
    forked = threading.active_count() == 1  # a fork is safe, and skips importing torch again
    ctx = mp.get_context("fork" if forked else "spawn")
    here, there = ctx.Pipe()
    scratch = tempfile.mkdtemp(prefix="convharness-resolve-")
    proc = ctx.Process(target=_describe, args=(there, specs, json.dumps(how), scratch, forked),
                       daemon=True)
    proc.start()
    there.close()
    try:  # JSON, never a pickle: the process ran the user's code
        reply = heard(here.recv_bytes()) if here.poll(RESOLVE_S) else ("timeout", None)
    except (EOFError, OSError):
        reply = ("died", None)
    finally:
        proc.kill()
        proc.join(timeout=5)
        shutil.rmtree(scratch, ignore_errors=True)
    if reply[0] == "ok" and isinstance(reply[1], dict):
        return reply[1]
    names = ", ".join(specs)
    if reply[0] == "error" and isinstance(reply[1], list) and len(reply[1]) == 2:
        raise ERRORS.get(reply[1][0], ImplementationError)(str(reply[1][1]))
    what = {"timeout": f"ran past {RESOLVE_S:g} s", "died":
            f"killed the process ({describe_exit(proc.exitcode)})"}.get(
        reply[0], f"sent what is not a description ({reply[1]!r:.100})")
    raise ImplementationError(f"impl={names!r}: importing it {what}; expected a module that "
                              f"imports")


def _describe(conn, specs: list, how: str, scratch: str, forked: bool) -> None:
    """In the sandboxed process: each spec's implementations as plain data, or the error.
    Forked, it first closes every descriptor of the judge's it inherited but its pipe."""
    if forked:
        os.closerange(3, conn.fileno())
        os.closerange(conn.fileno() + 1, 1 << 16)
    from harness.execution.sandbox import enter
    from harness.plugins.deferred import described
    enter(Path(scratch))
    try:
        found = {spec: [described(i) for i in select([spec], **json.loads(how))]
                 for spec in specs}
        say(conn, "ok", found)
    except Exception as exc:  # noqa: BLE001 - the user's module may raise anything
        say(conn, "error", [type(exc).__name__, str(exc)])
