"""module:attr kernels resolved in a sandboxed process of their own (their import-time code runs
there), described back as plain data: the judge's process never imports them."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

from harness.execution.messages import describe_exit, heard, say
from harness.plugins.registry import ImplementationError, select
from harness.records.errors import UsageError

RESOLVE_S = 600.0  # importing torch and the kernels' modules: slow on a loaded machine
ERRORS = {"ImplementationError": ImplementationError, "UsageError": UsageError}


def selected(specs=(), pooled=frozenset(), **how) -> list:
    """registry.select(specs, **how), with each module:attr spec resolved elsewhere and its
    implementations' functions deferred (plugins.deferred); built-ins (trusted) here. The
    candidates of a pool (`pooled`) are resolved each in a process of its own, all at once: one
    that fails to import, hangs or kills its process is refused with the reason, alone."""
    from harness.plugins.deferred import rebuilt
    from harness.plugins.registry import refused_candidate
    outside = [s for s in specs if ":" in s]
    together = [s for s in outside if s not in pooled]
    found = _resolve(together, how) if together else {}
    found.update(_resolve_each([s for s in outside if s in pooled], how))
    impls = []
    for spec in specs:
        if spec not in outside:
            impls += select([spec], **how)
        elif isinstance(found.get(spec), str):
            impls.append(refused_candidate(spec, how.get("op"), found[spec]))
        else:
            try:
                impls += [rebuilt(spec, how, data) for data in found[spec]]
            except (KeyError, TypeError, ValueError) as exc:
                raise ImplementationError(f"impl={spec!r} was not described as expected "
                                          f"({type(exc).__name__}: {exc})") from None
    return impls if specs else select(**how)


def _start(specs: list, how: dict):
    """A sandboxed process describing `specs`: (process, our end of its pipe, its scratch)."""
    forked = threading.active_count() == 1  # a fork is safe, and skips importing torch again
    ctx = mp.get_context("fork" if forked else "spawn")
    here, there = ctx.Pipe()
    scratch = tempfile.mkdtemp(prefix="convharness-resolve-")
    proc = ctx.Process(target=_describe, args=(there, specs, json.dumps(how), scratch, forked),
                       daemon=True)
    proc.start()
    there.close()
    return proc, here, scratch


def _reply(proc, here, scratch, deadline: float) -> tuple:
    """What the process said by `deadline` (time.monotonic): ("ok", found), ("error", [type,
    message]), ("timeout", None) or ("died", None); the process is gone after."""
    try:  # JSON, never a pickle: the process ran the user's code
        left = max(0.0, deadline - time.monotonic())
        reply = heard(here.recv_bytes()) if here.poll(left) else ("timeout", None)
    except (EOFError, OSError):
        reply = ("died", None)
    finally:
        proc.kill()
        proc.join(timeout=5)
        here.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return reply


def _why(reply, proc) -> str:
    """Why a reply holds no description, in words."""
    if reply[0] == "error" and isinstance(reply[1], list) and len(reply[1]) == 2:
        return str(reply[1][1])
    what = {"timeout": f"ran past {RESOLVE_S:g} s", "died":
            f"killed the process ({describe_exit(proc.exitcode)})"}.get(
        reply[0], f"sent what is not a description ({reply[1]!r:.100})")
    return f"importing it {what}; expected a module that imports"


def _resolve(specs: list, how: dict) -> dict:
    """{spec: [described implementation]} from a sandboxed process; its error re-raised."""
    proc, here, scratch = _start(specs, how)
    reply = _reply(proc, here, scratch, time.monotonic() + RESOLVE_S)
    if reply[0] == "ok" and isinstance(reply[1], dict):
        return reply[1]
    if reply[0] == "error" and isinstance(reply[1], list) and len(reply[1]) == 2:
        raise ERRORS.get(reply[1][0], ImplementationError)(str(reply[1][1]))
    raise ImplementationError(f"impl={', '.join(specs)!r}: {_why(reply, proc)}")


def _resolve_each(specs: list, how: dict) -> dict:
    """{spec: [described implementation], or the reason it cannot be used}, each spec from a
    process of its own, started together and waited for until one shared deadline."""
    started = [(spec, *_start([spec], how)) for spec in specs]
    deadline, found = time.monotonic() + RESOLVE_S, {}
    for spec, proc, here, scratch in started:
        reply = _reply(proc, here, scratch, deadline)
        ok = reply[0] == "ok" and isinstance(reply[1], dict) and spec in reply[1]
        found[spec] = reply[1][spec] if ok else _why(reply, proc)
    return found


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
    except BaseException as exc:  # noqa: BLE001 - the user's module may raise anything
        say(conn, "error", [type(exc).__name__, str(exc)])
