"""The judge's side of the kernel's process: a stand-in for the kernel's function.

A worker (isolate) judges; the kernel runs in a process of its own, started by the worker
(kernel_server). The properties call `Remote`, which has the kernel's signature: it shares the
inputs (shared_tensors.Arena), asks the kernel's process to call, reads back what the kernel
left in the inputs, and rebuilds what it returned as the judge's own tensors; where the output
has a graph, its backward asks the kernel's process too. The kernel's declared failures are
asked of it, as data. A timing runs whole in the kernel's process (`run_task`).

A kernel's process that dies, or sends what is not an answer, ends the worker: `on_fault`
tells the parent what happened and in which call, as a crash of the worker used to.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Callable

import torch

from harness.checking.captured import NOTES
from harness.execution.shared_tensors import Arena, NotALayout, rebuilt
from harness.plugins.registry import Implementation

READY_S = 600.0  # starting the kernel's process: slow on a loaded machine
BATCH_S = 0.03  # a batch of calls timed by the judge lasts about this long
POLL_S = 0.05  # how often a waiting judge looks whether the kernel's process still lives
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,79}$")


class KernelGone(Exception):
    """The kernel's process died or broke the protocol (kind: 'died' or 'garbled')."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class KernelProcess:
    """A sandboxed process that imports implementations and calls them for this judge."""

    def __init__(self, beat, scratch: str, on_fault: Callable[[KernelGone], object],
                 spawned: tuple = (None, None)):
        self.beat, self.scratch, self.on_fault = beat, scratch, on_fault
        self.proc, self.conn = spawned
        self.ready = False
        self.bound: set = set()
        self.arena = Arena(spill=scratch)

    def start(self) -> None:
        """Start the kernel's process, unless `spawned` (kernel_server.spawn) did already."""
        from harness.execution.kernel_server import spawn
        self.proc, self.conn = spawn(self.beat, self.scratch)
        self.ready = False

    def bind(self, impl: Implementation) -> Implementation:
        """`impl` as the judge calls it: its function a Remote of this process."""
        if self.proc is None:
            self.start()
        if not self.ready:
            self.expect("ready")
            self.ready = True
        if impl.name not in self.bound:
            self.conn.send(("bind", impl))  # unpickled there: the module is imported there
            self.expect("bound")
            self.bound.add(impl.name)
        return replace(impl, fn=Remote(self, impl.name),
                       known_failures=(Declared(self, impl.name),))

    def ask(self, kind: str, payload) -> tuple:
        self.conn.send((kind, payload))
        return self.answer()

    def answer(self) -> tuple:
        """The kernel process's next message; on_fault where it died or garbled it."""
        from harness.execution.messages import describe_exit, heard
        try:
            while not self.conn.poll(POLL_S):
                if not self.proc.is_alive():
                    raise EOFError
            kind, payload = heard(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.proc.join(timeout=5)
            return self._gone("died", describe_exit(self.proc.exitcode))
        if kind == "garbled":
            return self._gone("garbled", f"{payload!r}")
        return kind, payload

    def raw(self) -> bytes:
        try:
            return self.conn.recv_bytes(maxlength=2**36)
        except (EOFError, OSError):
            from harness.execution.messages import describe_exit
            self.proc.join(timeout=5)
            return self._gone("died", describe_exit(self.proc.exitcode))

    def expect(self, kind: str):
        got, payload = self.answer()
        if got == "raised" and kind == "bound":
            raise RuntimeError(f"the implementation could not be loaded in its process: "
                               f"{payload.get('type')}: {payload.get('text')}")
        if got != kind:
            self._gone("garbled", f"{got}: {payload!r:.200} (expected {kind})")
        return payload

    def _gone(self, kind: str, detail: str):
        self.on_fault(KernelGone(kind, detail))
        raise KernelGone(kind, detail)  # where on_fault returns (tests)

    def value(self, described):
        """What the kernel returned, rebuilt from its description and the raw bytes after it."""
        if not isinstance(described, dict) or len(described) > 2:
            self._gone("garbled", f"not a value: {described!r:.200}")
        if "tensor" in described:
            try:
                out = rebuilt(described["tensor"], self.raw())
            except NotALayout as exc:
                return self._gone("garbled", str(exc))
            out.convharness_kept = described.get("kept")
            return out
        for kind, build in (("tuple", tuple), ("list", list)):
            if isinstance(described.get(kind), list):
                return build(self.value(v) for v in described[kind])
        if described.get("none"):
            return None
        return foreign(described.get("type"))()

    def close(self) -> None:
        self.arena.close()
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(timeout=5)
            self.proc = None


def foreign(name) -> type:
    """A stand-in class for a returned value that is not a tensor: its name is all we keep."""
    name = name if isinstance(name, str) and _NAME.match(name.replace("(", "_").replace(
        ")", "").replace("=", "_")) else "object"
    return type(name, (), {})


def exception(info) -> BaseException:
    """The kernel's exception, rebuilt from its description: the judge's verdicts ask what it
    is an instance of (NotImplementedError, MemoryError, SystemExit, ...) and its name."""
    kinds = info.get("kinds", []) if isinstance(info, dict) else []
    name = info.get("type") if isinstance(info, dict) else None
    name = name if isinstance(name, str) and _NAME.match(name) else "Exception"
    base = next((b for k, b in (("NotImplementedError", NotImplementedError),
                                ("OutOfMemoryError", MemoryError), ("MemoryError", MemoryError),
                                ("SystemExit", SystemExit), ("KeyboardInterrupt", KeyboardInterrupt))
                 if k in kinds), Exception)
    exc = type(name, (base,), {})(str(info.get("text", ""))[:2000] if isinstance(info, dict)
                                 else "")
    if "FailOnRecompileLimitHit" in kinds:
        exc.__cause__ = type("FailOnRecompileLimitHit", (Exception,), {})()
    return exc


class Remote:
    """The kernel's function as the judge calls it."""

    def __init__(self, kernel: KernelProcess, name: str):
        self.kernel, self.name = kernel, name
        self.convharness_remote = self  # how the properties know it (integrity.remote_of)

    @property
    def pid(self) -> int:
        return self.kernel.proc.pid

    def __call__(self, *args, **kwargs):
        arena, shared = self.kernel.arena, []

        def share(v):
            if isinstance(v, torch.Tensor):
                s = arena.shared(v)
                shared.append((v, s))
                return s
            return v
        ask = {"impl": self.name, "args": [share(v) for v in args],
               "kwargs": {k: share(v) for k, v in kwargs.items()}, "grad": torch.is_grad_enabled()}
        kind, payload = self.kernel.ask("call", ask)
        for t, s in shared:
            arena.read_back(t, s)
        if kind not in ("raised", "returned") or not isinstance(payload, dict):
            return self.kernel._gone("garbled", f"{kind}: {payload!r:.200}")
        _noted(payload.get("notes"))
        if kind == "raised":
            raise exception(payload)
        result = self.kernel.value(payload.get("value"))
        pointers = payload.get("inputs") or []
        for (t, _), pointer in zip(shared, pointers):
            if isinstance(pointer, int):
                t.convharness_storage = pointer
        handle = payload.get("handle")
        leaves = tuple(t for t, s in shared if s.requires_grad)
        if isinstance(handle, int) and leaves and torch.is_grad_enabled():
            return _attached(self, handle, result, leaves)
        return result

    def backward(self, handle: int, grad: torch.Tensor) -> tuple:
        s = self.kernel.arena.shared(grad.contiguous())
        kind, payload = self.kernel.ask("backward", {"handle": handle, "grad": replace(
            s, requires_grad=False)})
        if not isinstance(payload, dict):
            return self.kernel._gone("garbled", f"{kind}: {payload!r:.200}")
        _noted(payload.get("notes"))
        if kind == "raised":
            raise exception(payload)
        return self.kernel.value(payload.get("value"))

    def again(self, out: torch.Tensor) -> torch.Tensor:
        """`out` read again from the kernel's process, as the kernel left it since its reply."""
        with _kernels_time("reading its output again"):
            _, payload = self.kernel.ask("again", {"kept": getattr(out, "convharness_kept",
                                                                   None)})
        return self.kernel.value(payload.get("value") if isinstance(payload, dict) else None)

    def per_call(self, args: tuple, kwargs: dict, threads: int) -> float:
        """Seconds a call takes by this process's clock: batches of calls back to back in
        the kernel's process on the same inputs, request to reply, the best of three, less an
        empty batch's round trip (the channel), over the number of calls. They take the path
        every checked call takes there, so the kernel cannot tell them from its checks."""
        import time
        from harness.checking.call import calling
        shared = [self.kernel.arena.shared(a) if isinstance(a, torch.Tensor) else a
                  for a in args]
        shared = [replace(s, requires_grad=False) if hasattr(s, "slot") else s for s in shared]

        def batch(calls: int) -> float:
            ask = {"impl": self.name, "args": shared, "kwargs": kwargs, "calls": calls,
                   "threads": threads, "grad": False}
            with calling(f"{calls} calls timed by the judge"):
                started = time.perf_counter()
                kind, payload = self.kernel.ask("call", ask)
                took = time.perf_counter() - started
            if kind == "raised":
                raise exception(payload)
            if kind != "ran":
                self.kernel._gone("garbled", f"{kind}: {payload!r:.200}")
            return took
        empty = min(batch(0) for _ in range(3))
        one = max(min(batch(1) for _ in range(2)) - empty, 1e-6)
        calls = max(1, min(200, int(BATCH_S / one)))
        return max(min(batch(calls) for _ in range(3)) - empty, 0.0) / calls

    def held(self, device: str, collect: bool = False) -> tuple:
        """The kernel process's memory: its resident set read here (after it collected its
        garbage and gave freed pages back), CUDA's bytes asked."""
        from harness.checking.held import resident
        with _kernels_time("collecting its garbage"):
            _, payload = self.kernel.ask("held", {"device": device})
        cuda = tuple(int(v) for v in payload if isinstance(v, int)) if isinstance(
            payload, list) else ()
        return cuda if device == "cuda" else (resident(self.pid),)


def _kernels_time(what: str):
    """A request the kernel's own code answers: under the per-call time limit, as a call."""
    from harness.checking.call import calling
    return calling(what)


def _noted(notes) -> None:
    for note in notes if isinstance(notes, list) else ():
        NOTES.add(str(note))


class Declared:
    """The kernel's declared failures, asked of its process case by case (KnownFailure's
    interface: `matches`, then `reason`)."""

    props = ()

    def __init__(self, kernel: KernelProcess, name: str):
        self.kernel, self.name, self.reason = kernel, name, ""

    def matches(self, prop: str, case) -> bool:
        with _kernels_time("its declared failures"):
            kind, reason = self.kernel.ask("known", {"impl": self.name, "prop": prop,
                                                     "case": case.to_dict()})
        self.reason = str(reason)[:500] if isinstance(reason, str) else ""
        return kind == "known" and isinstance(reason, str)


class _Attached(torch.autograd.Function):
    """Connects an output the kernel's process computed to the judge's inputs: its backward
    asks that process for the gradients of the call's graph."""

    @staticmethod
    def forward(ctx, remote, handle, outputs, *leaves):
        ctx.remote, ctx.handle = remote, handle
        ctx.mark_non_differentiable(*outputs[1:])
        return outputs if len(outputs) > 1 else outputs[0]

    @staticmethod
    def backward(ctx, grad, *rest):
        got = ctx.remote.backward(ctx.handle, grad)
        got = tuple(got) if isinstance(got, (tuple, list)) else ()
        return (None, None, None, *got)


def _attached(remote: Remote, handle: int, result, leaves: tuple):
    outputs = tuple(result) if isinstance(result, tuple) else (result,)
    if not all(isinstance(o, torch.Tensor) for o in outputs):
        return result
    marks = [{k: getattr(o, k) for k in ("convharness_kept", "convharness_storage")
              if hasattr(o, k)} for o in outputs]
    joined = _Attached.apply(remote, handle, outputs, *leaves)
    joined = joined if isinstance(joined, tuple) else (joined,)
    for o, mark in zip(joined, marks):
        for k, v in mark.items():
            setattr(o, k, v)
    return joined if isinstance(result, tuple) else joined[0]
