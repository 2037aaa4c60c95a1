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

import os
import random
import re
import signal
from contextlib import contextmanager
from dataclasses import replace
from typing import Callable

import torch

from harness.checking.captured import NOTES
from harness.execution.shared_tensors import Arena, NotALayout, nbytes_of, read_from, rebuilt
from harness.plugins.registry import Implementation

READY_S = 600.0  # starting the kernel's process: slow on a loaded machine
POLL_S = 0.05  # how often a waiting judge looks whether the kernel's process still lives
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]{0,79}$")


class KernelGone(Exception):
    """The kernel's process died or broke the protocol (kind: 'died' or 'garbled')."""

    def __init__(self, kind: str, detail: str):
        super().__init__(detail)
        self.kind, self.detail = kind, detail


class KernelProcess:
    """A sandboxed process that imports implementations and calls them for this judge.
    `timeout`: seconds one call of the kernel's may take, timed by this process's clock from
    the changes of the kernel's call counter (where a whole task runs there)."""

    def __init__(self, beat, scratch: str, on_fault: Callable[[KernelGone], object],
                 spawned: tuple = (None, None, None), timeout: float = 60.0):
        self.beat, self.scratch, self.on_fault, self.timeout = beat, scratch, on_fault, timeout
        self.proc, self.conn, self.seq = spawned
        self.ready = False
        self.readable = False  # whether this process may read the kernel process's memory
        self.bound: set = set()
        self.arena = Arena(spill=scratch)
        self._counted = (None, 0.0, 0.0)  # (the count last seen, when, the kernel's waits then)

    def start(self) -> None:
        """Start the kernel's process, unless `spawned` (kernel_server.spawn) did already."""
        from harness.execution.kernel_server import spawn
        self.proc, self.conn, self.seq = spawn(self.beat, self.scratch)
        self.ready = False

    def bind(self, impl: Implementation) -> Implementation:
        """`impl` as the judge calls it: its function a Remote of this process."""
        if self.proc is None:
            self.start()
        if not self.ready:
            self.readable = _can_read(self.proc.pid, self.expect("ready"))
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
        """The kernel process's next message; on_fault where it died, garbled or hung."""
        from harness.execution.messages import describe_exit, heard
        try:
            while not self.conn.poll(POLL_S):
                if not self.proc.is_alive():
                    raise EOFError
                self._watch()
            kind, payload = heard(self.conn.recv_bytes())
        except (EOFError, OSError):
            self.proc.join(timeout=5)
            return self._gone("died", describe_exit(self.proc.exitcode))
        if kind == "garbled":
            return self._gone("garbled", f"{payload!r}")
        return kind, payload

    def _watch(self) -> None:
        """A call the kernel's counter says is running, and has run past the time limit by
        this process's clock (less the kernel's waits for a CPU): hung."""
        import time
        from harness.execution.messages import run_delay
        count, now = self.seq.value, time.monotonic()
        seen, since, waited = self._counted
        if count != seen:
            self._counted = (count, now, run_delay(self.proc.pid))
        elif count & 1 and now - since - (run_delay(self.proc.pid) - waited) > self.timeout:
            self.proc.kill()
            self._gone("hung", f"no return within the time limit of {self.timeout:g} s per call")

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
                raw = self.raw() if "at" not in described else self._read(described)
                out = rebuilt(described["tensor"], raw)
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

    def _read(self, described: dict) -> bytes:
        """An output's bytes read from the kernel process's memory where it said they are
        (NotALayout where they cannot be read: not an output)."""
        at = described["at"]
        if not isinstance(at, int) or isinstance(at, bool):
            raise NotALayout(f"not an address: {at!r:.100}")
        try:
            return read_from(self.proc.pid, at, nbytes_of(described["tensor"]))
        except OSError as exc:
            raise NotALayout(f"its output could not be read where its process said: {exc}") \
                from None

    @contextmanager
    def stopped(self):
        """The kernel's process stopped (SIGSTOP: every thread of it) while the judge reads."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            _until_stopped(self.proc.pid)
            yield
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)

    def close(self) -> None:
        self.arena.close()
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(timeout=5)
            self.proc = None


def _until_stopped(pid: int, most_s: float = 5.0) -> None:
    import time
    end = time.monotonic() + most_s
    while time.monotonic() < end:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in "tTXZ":
                    return
        except (OSError, IndexError):
            return
        time.sleep(1e-4)


def _can_read(pid: int, ready) -> bool:
    """Whether this process may read the kernel process's memory: it reads the bytes that
    process said it holds, before any kernel was imported there."""
    try:
        want = ready["holds"].encode()
        return read_from(pid, int(ready["probe"]), len(want)) == want
    except (OSError, KeyError, TypeError, ValueError, AttributeError):
        return False


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
        payload = _answered(self.kernel, kind, payload)
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
        return self.kernel.value(_answered(self.kernel, kind, payload).get("value"))

    def again(self, out: torch.Tensor) -> torch.Tensor:
        """`out` read again from the kernel's process, as the kernel left it since its reply."""
        with _kernels_time("reading its output again"):
            _, payload = self.kernel.ask("again", {"kept": getattr(out, "convharness_kept",
                                                                   None)})
        return self.kernel.value(payload.get("value") if isinstance(payload, dict) else None)

    def timed(self, sets: list, kwargs: dict, threads: int, grads: list = (),
              read: int = 4) -> tuple:
        """(seconds, {call: its outputs}): one call per set of inputs, back to back in the
        kernel's process (with `grads`, each call's backward for its grad_output too), timed by
        this process's clock from the request to the reply. Then `read` of the calls, drawn
        here after the reply, have their outputs read by this process from the kernel process's
        memory, that process stopped (nothing copied in the window, and a kernel that would
        compute only when asked has no time to); where the system does not let it, the kernel's
        process sends every output's bytes inside the window. The calls take the path every
        checked call takes there, so the kernel cannot tell them from its checks."""
        import time
        from harness.checking.call import calling
        kernel = self.kernel
        shared = _shared_once(kernel.arena, [*(t for s in sets for t in s), *grads])
        ask = {"impl": self.name, "sets": [[shared.get(id(t), t) for t in s] for s in sets],
               "kwargs": kwargs, "threads": threads, "grad": bool(grads),
               "grads": [shared[id(g)] for g in grads], "read": kernel.readable}
        with calling(f"{len(sets)} calls timed by the judge"):
            started = time.perf_counter()
            kernel.conn.send(("call", ask))
            if kernel.readable:
                kind, payload = kernel.answer()
                took = time.perf_counter() - started
                described = _ran(kernel, kind, payload, len(sets))
                drawn = random.SystemRandom().sample(range(len(sets)), min(read, len(sets)))
                with kernel.stopped():
                    return took, {i: kernel.value(described[i]) for i in sorted(drawn)}
            outputs = [kernel.value(_answered(kernel, *kernel.answer()).get("value"))
                       for _ in sets]
            return time.perf_counter() - started, dict(enumerate(outputs))

    def held(self, device: str, collect: bool = False) -> tuple:
        """The kernel process's memory: its resident set read here (after it collected its
        garbage and gave freed pages back), CUDA's bytes asked."""
        from harness.checking.held import resident
        with _kernels_time("collecting its garbage"):
            _, payload = self.kernel.ask("held", {"device": device})
        cuda = tuple(int(v) for v in payload if isinstance(v, int)) if isinstance(
            payload, list) else ()
        return cuda if device == "cuda" else (resident(self.pid),)


def _ran(kernel: KernelProcess, kind: str, payload, calls: int) -> list:
    """The outputs a timed batch described (raising the kernel's exception where it raised)."""
    if kind == "raised" and isinstance(payload, dict):
        raise exception(payload)
    outputs = payload.get("outputs") if isinstance(payload, dict) else None
    if kind != "ran" or not isinstance(outputs, list) or len(outputs) != calls:
        kernel._gone("garbled", f"{kind}: {payload!r:.200}")
    return outputs


def _answered(kernel: KernelProcess, kind: str, payload) -> dict:
    """A call's reply: its notes kept, the kernel's exception raised where it raised, garbled
    where it is neither."""
    if kind not in ("raised", "returned") or not isinstance(payload, dict):
        kernel._gone("garbled", f"{kind}: {payload!r:.200}")
    _noted(payload.get("notes"))
    if kind == "raised":
        raise exception(payload)
    return payload


def _shared_once(arena: Arena, tensors: list) -> dict:
    """{id(tensor): Shared} for the tensors among `tensors`, each storage copied into its
    file once (windows of one buffer share it, at their own offsets)."""
    by_storage, out = {}, {}
    for t in tensors:
        if not isinstance(t, torch.Tensor) or id(t) in out:
            continue
        key = t.untyped_storage().data_ptr()
        if key not in by_storage:
            by_storage[key] = arena.shared(t)
        out[id(t)] = replace(by_storage[key], shape=tuple(t.shape), stride=tuple(t.stride()),
                             offset=t.storage_offset(), requires_grad=t.requires_grad)
    return out


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
