"""The kernel's process: it imports the implementation and calls it, nothing else.

It is started by a judge (kernel_client.KernelProcess), enters the sandbox before any
implementation's module is imported, and dies with its judge. Requests come pickled from the
judge (trusted); every answer goes back as JSON, tensors as raw bytes after it
(shared_tensors). It keeps the latest outputs alive, so that an honest kernel's next output
never lands where the judge saw the last one, and the graphs of calls that have a backward to
come.
"""
from __future__ import annotations

import ctypes
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
        """One call (`args`), or the judge's timed batch: a call per set of `sets`, each on
        contents of its own, and with `grads` its backward too, every output in the reply. A
        check's call and a timed one take one path: nothing here tells them apart."""
        from harness.checking.captured import NOTES
        torch, tensors = self.torch, []
        self.timed = None

        def real(value):
            from harness.execution.shared_tensors import Shared
            if isinstance(value, Shared):
                t = self.attached.tensor(value)
                tensors.append((t, value))
                return t
            return value
        sets = [[real(v) for v in args] for args in ask.get("sets", [ask.get("args")])]
        kwargs = {k: real(v) for k, v in ask["kwargs"].items()}
        grads = [real(g) for g in ask.get("grads", ())]
        results = self._called(self.impls[ask["impl"]].fn, sets, kwargs, grads, ask)
        if results is None:
            self._written(tensors)
            return
        if "sets" in ask and ask.get("read"):  # timed: the reply stops the judge's clock
            self.timed = results  # alive until the judge has read them from this memory
            say(self.conn, "ran", {"outputs": [self._located(r) for r in results]})
            return
        if "sets" in ask:  # the judge cannot read this memory: bytes inside its window
            for result in results:
                self._reply(result, {})
            return
        self._written(tensors)
        result, handle = results[0], None
        first = result[0] if isinstance(result, tuple) and result else result
        if isinstance(first, torch.Tensor) and first.grad_fn is not None:
            handle = next(self.ids)
            leaves = [t for t, s in tensors if s.requires_grad]
            self.graphs[handle] = (first, leaves)
            while len(self.graphs) > GRAPHS:
                self.graphs.popitem(last=False)
        inputs = [t.untyped_storage().data_ptr() if t.numel() else -1 for t, _ in tensors]
        self._reply(result, {"handle": handle, "inputs": inputs, "notes": NOTES.drain()})

    def _called(self, fn, sets: list, kwargs: dict, grads: list, ask: dict) -> list | None:
        """The kernel's results, one per set (with grads: the output and its gradients), or
        None where it raised (the judge was told)."""
        from harness.checking.call import as_checked
        from harness.checking.captured import captured
        torch, results = self.torch, []
        try:
            with as_checked(ask.get("threads")), captured(), \
                    torch.set_grad_enabled(ask["grad"]):
                for i, args in enumerate(sets):
                    result = fn(*args, **kwargs)
                    if grads:
                        leaves = [t for t in (*args, *kwargs.values())
                                  if isinstance(t, torch.Tensor) and t.requires_grad]
                        result = (result, *torch.autograd.grad(result, leaves, grads[i],
                                                               allow_unused=True))
                    results.append(result)
        except BaseException as exc:  # noqa: BLE001 - the kernel's own, judged by the judge
            self._raised(exc)
            return None
        return results

    def _raised(self, exc: BaseException) -> None:
        from harness.checking.captured import NOTES
        say(self.conn, "raised", {**raised(exc), "notes": NOTES.drain()})

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
            self._raised(exc)
            return
        self._reply(tuple(grads), {"notes": NOTES.drain()})

    def again(self, ask: dict) -> None:
        """A kept output's bytes as they are now (has anything written it since its reply?)."""
        self._reply(self.kept.get(ask["kept"]), {})

    def _reply(self, result, extra: dict) -> None:
        raws: list = []
        try:
            described = self._described(result, raws)
        except Exception as exc:  # noqa: BLE001 - a tensor whose bytes cannot be read
            described, raws = {"type": f"unreadable {type(result).__name__} ({exc})"}, []
        say(self.conn, "returned", {"value": described, **extra})
        for raw in raws:
            self.conn.send_bytes(raw)

    def _located(self, result) -> dict:
        try:
            return self._described(result, None)
        except Exception as exc:  # noqa: BLE001 - a tensor that has no bytes to read
            return {"type": f"unreadable {type(result).__name__} ({exc})"}

    def _described(self, v, raws: list | None) -> dict:
        """A returned value as data: each tensor's layout, with its bytes copied into `raws`,
        or (raws None) with the address where the judge reads them."""
        from harness.execution.shared_tensors import layout_at, layout_of
        torch = self.torch
        if isinstance(v, torch.Tensor) and v.layout == torch.strided:
            if raws is None:
                if v.device.type != "cpu":
                    return {"type": f"Tensor(device={v.device})"}
                layout, at = layout_at(v)
                return {"tensor": layout, "at": at}
            layout, raw = layout_of(v)
            kept = next(self.ids)
            self.kept[kept] = v
            while len(self.kept) > KEPT:
                self.kept.popitem(last=False)
            raws.append(raw)
            return {"tensor": layout, "kept": kept}
        if isinstance(v, torch.Tensor):
            return {"type": f"Tensor(layout={v.layout})"}
        if isinstance(v, (tuple, list)) and len(v) <= 8:
            return {type(v).__name__: [self._described(e, raws) for e in v]}
        return {"none": True} if v is None else {"type": type(v).__name__}

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
    """(the kernel's process, the judge's end of its pipe, its call counter: a shared integer
    that process counts its calls in, messages.counting). Forked from the judge when the
    judge has imported torch and what a kernel's process needs, and nothing else yet (no
    case, no answer, no thread): it starts in milliseconds, not a second of imports.
    `keep_from_it`: the judge's own pipe to its parent, closed in the kernel's process (as is
    the judge's end of the kernel's own pipe); `beat`, the judge's heartbeat, unmapped there."""
    import ctypes
    import mmap
    import multiprocessing as mp
    import torch  # noqa: F401 - imported once, before the fork
    from harness.checking import call  # noqa: F401
    from harness.execution import sandbox, shared_tensors  # noqa: F401
    from harness.plugins import deferred  # noqa: F401
    mp.current_process().daemon = False  # a worker may start the kernel's process
    ctx = mp.get_context("fork")
    here, there = ctx.Pipe()
    seq = ctypes.c_int64.from_buffer(mmap.mmap(-1, mmap.PAGESIZE))  # shared by the fork
    closed = [here.fileno()] + ([] if keep_from_it is None else [keep_from_it.fileno()])
    proc = ctx.Process(target=serve, args=(there, beat, seq, scratch, closed), daemon=True)
    proc.start()
    there.close()
    return proc, here, seq


def _unmap(array) -> None:
    """The memory of a multiprocessing array gone from this process (the whole arena it was
    cut from), its addresses kept unusable (a fresh mapping there would take its writes): the
    judge's heartbeat, which the kernel must not be able to write."""
    import ctypes
    try:
        arena, start, _ = array._wrapper._state[0]
    except AttributeError:
        return  # not a multiprocessing array (a test's stand-in)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    base = ctypes.addressof(array) - start
    none, private_anonymous_fixed = 0, 0x02 | 0x20 | 0x10
    if libc.mmap(base, arena.size, none, private_anonymous_fixed, -1, 0) != base:
        raise OSError(ctypes.get_errno(), "could not unmap the judge's heartbeat")


# Bytes the judge reads from this process's memory once, before any kernel is imported: can it?
PROBE = ctypes.create_string_buffer(b"convharness: the judge reads this process's memory")


def serve(conn, beat, seq, scratch: str, closed=()) -> None:
    """The kernel process's loop; `closed`: descriptors of the judge's it must not hold."""
    import os
    for fd in closed:
        os.close(fd)
    _unmap(beat)
    del beat
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    from harness.execution.sandbox import enter
    enter(Path(scratch))
    from harness.checking import call as check
    from harness.execution.messages import counting
    check.CATCH_INTERRUPTS = True
    check.on_call(counting(conn, seq))
    server = Server(conn)
    say(conn, "ready", {"probe": ctypes.addressof(PROBE), "holds": PROBE.value.decode()})
    while True:
        try:
            kind, ask = conn.recv()  # from the judge: trusted, so pickled
        except EOFError:
            return
        getattr(server, kind)(ask)
