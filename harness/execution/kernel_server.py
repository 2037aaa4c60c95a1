"""The kernel's process: it imports the implementation and calls it, nothing else.

It is started by a judge (kernel_client.KernelProcess), enters the sandbox before any
implementation's module is imported, and dies with its judge. Requests come pickled from the
judge (trusted); every answer goes back as JSON, tensors as raw bytes after it
(shared_tensors). It keeps the latest outputs alive, so that an honest kernel's next output
never lands where the judge saw the last one, and the graphs of calls that have a backward to
come.
"""
from __future__ import annotations

import gc
import itertools
import signal
from collections import OrderedDict
from pathlib import Path

from harness.execution.messages import say

KEPT = 4  # outputs kept alive after their reply
GRAPHS = 4  # forward calls whose graph waits for a backward


def _die_with_parent() -> None:
    """SIGKILL when the judge dies, whatever kills it (prctl PR_SET_PDEATHSIG)."""
    import ctypes
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def raised(exc: BaseException) -> dict:
    """An exception as data: its type's name, the names it is an instance of, its text."""
    names = [k.__name__ for k in type(exc).__mro__]
    if exc.__cause__ is not None:
        names.append(type(exc.__cause__).__name__)
    return {"type": type(exc).__name__, "kinds": names, "text": str(exc)[:2000]}


class Server:
    def __init__(self, conn):
        import torch
        from harness.execution.shared_tensors import Attached
        self.torch, self.conn = torch, conn
        self.attached = Attached()
        self.impls: dict = {}
        self.kept: OrderedDict = OrderedDict()  # id -> a returned tensor
        self.graphs: OrderedDict = OrderedDict()  # handle -> (output, leaves)
        self.ids = itertools.count(1)

    def bind(self, impl) -> None:
        from harness.plugins.deferred import live
        self.impls[impl.name] = live(impl)
        gc.freeze()  # what imports made: a collection (the memory property's) scans the rest
        say(self.conn, "bound")

    def call(self, ask: dict) -> None:
        from harness.checking.call import as_checked
        from harness.checking.captured import NOTES, captured
        torch, tensors = self.torch, []

        def real(value):
            from harness.execution.shared_tensors import Shared
            if isinstance(value, Shared):
                t = self.attached.tensor(value)
                tensors.append((t, value))
                return t
            return value
        args = [real(v) for v in ask["args"]]
        kwargs = {k: real(v) for k, v in ask["kwargs"].items()}
        fn, result = self.impls[ask["impl"]].fn, None
        try:  # a check's call and the judge's timed ones (`calls`, `threads`) take one path
            with as_checked(ask.get("threads")), captured(), \
                    torch.set_grad_enabled(ask["grad"]):
                for _ in range(ask.get("calls", 1)):
                    result = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - the kernel's own, judged by the judge
            self._written(tensors)
            say(self.conn, "raised", {**raised(exc), "notes": NOTES.drain()})
            return
        if "calls" in ask:  # timed by the judge: the reply is the clock's stop, nothing more
            say(self.conn, "ran")
            return
        self._written(tensors)
        handle = None
        first = result[0] if isinstance(result, tuple) and result else result
        if isinstance(first, torch.Tensor) and first.grad_fn is not None:
            handle = next(self.ids)
            leaves = [t for t, s in tensors if s.requires_grad]
            self.graphs[handle] = (first, leaves)
            while len(self.graphs) > GRAPHS:
                self.graphs.popitem(last=False)
        inputs = [t.untyped_storage().data_ptr() if t.numel() else -1 for t, _ in tensors]
        self._reply(result, {"handle": handle, "inputs": inputs, "notes": NOTES.drain()})

    def _written(self, tensors) -> None:
        for t, s in tensors:
            self.attached.written(t, s)

    def backward(self, ask: dict) -> None:
        torch = self.torch
        out, leaves = self.graphs.pop(ask["handle"], (None, None))
        if out is None:
            say(self.conn, "raised", {"type": "RuntimeError", "kinds": ["RuntimeError"],
                                       "text": "the graph of that call is no longer kept"})
            return
        grad = self.attached.tensor(ask["grad"])
        from harness.checking.call import as_checked
        from harness.checking.captured import NOTES, captured
        try:
            with as_checked(), captured():
                grads = torch.autograd.grad(out, leaves, grad, allow_unused=True)
        except BaseException as exc:  # noqa: BLE001
            say(self.conn, "raised", {**raised(exc), "notes": NOTES.drain()})
            return
        self._reply(tuple(grads), {"notes": NOTES.drain()})

    def again(self, ask: dict) -> None:
        """A kept output's bytes as they are now (has anything written it since its reply?)."""
        self._reply(self.kept.get(ask["kept"]), {})

    def _reply(self, result, extra: dict) -> None:
        from harness.execution.shared_tensors import layout_of
        torch, raws = self.torch, []

        def value(v):
            if isinstance(v, torch.Tensor) and v.layout == torch.strided:
                layout, raw = layout_of(v)
                kept = next(self.ids)
                self.kept[kept] = v
                raws.append(raw)
                return {"tensor": layout, "kept": kept}
            if isinstance(v, torch.Tensor):
                return {"type": f"Tensor(layout={v.layout})"}
            if isinstance(v, (tuple, list)) and len(v) <= 8:
                return {type(v).__name__: [value(e) for e in v]}
            return {"none": True} if v is None else {"type": type(v).__name__}
        try:
            described = value(result)
        except Exception as exc:  # noqa: BLE001 - a tensor whose bytes cannot be read
            described, raws = {"type": f"unreadable {type(result).__name__} ({exc})"}, []
        while len(self.kept) > KEPT:
            self.kept.popitem(last=False)
        say(self.conn, "returned", {"value": described, **extra})
        for raw in raws:
            self.conn.send_bytes(raw)

    def known(self, ask: dict) -> None:
        from harness.ops.cases import Case
        found = self.impls[ask["impl"]].known_failure(ask["prop"], Case.from_dict(ask["case"]))
        say(self.conn, "known", None if found is None else str(found.reason))

    def held(self, ask: dict) -> None:
        """Collect garbage and give freed heap pages back; CUDA's allocated bytes. The judge
        reads this process's resident set itself."""
        from harness.checking.held import held_bytes
        gc.collect()
        measured = held_bytes(ask["device"], collect=False)
        say(self.conn, "held", list(measured) if ask["device"] == "cuda" else [])

    def task(self, task) -> None:
        """A whole task run here (a timing: its loop must not cross a process per call)."""
        from dataclasses import asdict
        for record in task.execute(lambda case: say(self.conn, "case", case)):
            say(self.conn, "record", asdict(record))
        say(self.conn, "done")


def spawn(beat, scratch: str, keep_from_it=None):
    """(the kernel's process, the judge's end of its pipe). Forked from the judge when the
    judge has imported torch and what a kernel's process needs, and nothing else yet (no
    case, no answer, no thread): it starts in milliseconds, not a second of imports.
    `keep_from_it`: the judge's own pipe to its parent, closed in the kernel's process (as is
    the judge's end of the kernel's own pipe)."""
    import multiprocessing as mp
    import torch  # noqa: F401 - imported once, before the fork
    from harness.checking import call  # noqa: F401
    from harness.execution import sandbox, shared_tensors  # noqa: F401
    from harness.plugins import deferred  # noqa: F401
    mp.current_process().daemon = False  # a worker may start the kernel's process
    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    closed = [here.fileno()] + ([] if keep_from_it is None else [keep_from_it.fileno()])
    proc = ctx.Process(target=serve, args=(there, beat, scratch, closed), daemon=True)
    proc.start()
    there.close()
    beat[2] = proc.pid
    return proc, here


def serve(conn, beat, scratch: str, closed=()) -> None:
    """The kernel process's loop; `closed`: descriptors of the judge's it must not hold."""
    import os
    for fd in closed:
        os.close(fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    from harness.execution.sandbox import enter
    enter(Path(scratch))
    from harness.checking import call as check
    from harness.execution.messages import heartbeat
    check.CATCH_INTERRUPTS = True
    check.on_call(heartbeat(conn, beat))
    server = Server(conn)
    say(conn, "ready")
    while True:
        try:
            kind, ask = conn.recv()  # from the judge: trusted, so pickled
        except EOFError:
            return
        getattr(server, kind)(ask)
