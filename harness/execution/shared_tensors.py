"""Tensors between the judge and the kernel's process.

Inputs live in memory the judge owns: a file in /dev/shm per input storage, mapped by both
sides. The kernel's process sees views of it with the judge's shapes, strides and offsets (guard
bands included); after the reply the judge copies the storage back into its own tensors, so a
write the kernel made, in the view or outside it, is what the judge reads. The same judge
storage maps to the same file, hence the same address in the kernel's process, call after call.

Outputs cross the pipe as raw bytes with their layout as JSON, copied in the kernel's process
when the call has returned; the judge checks the layout against the bytes before it builds a
tensor of its own from them. Nothing the kernel's process sends is unpickled.
"""
from __future__ import annotations

import itertools
import mmap
import os
import re
from collections import OrderedDict
from dataclasses import dataclass

import torch

SHM_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None
DTYPES = {str(d).removeprefix("torch."): d for d in (
    torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.int64, torch.int32,
    torch.int16, torch.int8, torch.uint8, torch.bool, torch.complex64, torch.complex128)}
SLOTS = 64  # input storages whose files a judge keeps mapped (the latest ones)
SLOT_BYTES = 1 << 30  # and at most so many bytes of them, past the latest few (RAM, in /dev/shm)
KEEP = 4  # the latest files, kept whatever their size: one call's inputs and its grad_output
_counter = itertools.count()


@dataclass(frozen=True)
class Shared:
    """An input tensor as the kernel's process rebuilds it: a view of the file at `slot`."""

    slot: str
    nbytes: int
    dtype: str
    shape: tuple
    stride: tuple
    offset: int
    device: str
    requires_grad: bool


def span(shape, stride) -> int:
    """Elements from a tensor's first to its last (0 when empty)."""
    if any(size == 0 for size in shape):
        return 0
    return 1 + sum((size - 1) * step for size, step in zip(shape, stride))


def _bytes_of(storage: torch.UntypedStorage, nbytes: int) -> torch.Tensor:
    return torch.empty(0, dtype=torch.uint8, device=storage.device).set_(storage, 0, (nbytes,),
                                                                         (1,))


class Arena:
    """The judge's side of the input files: one per input storage, reused while it lives; in
    /dev/shm, or in `spill` (a directory on disk) where /dev/shm has no room (a container's
    is often 64 MiB). The space is reserved when the file is made, so a full /dev/shm is an
    error of the harness's then, never a SIGBUS in the middle of a call."""

    def __init__(self, spill: str | None = None):
        self.spill = spill
        self._slots: OrderedDict = OrderedDict()  # (data_ptr, nbytes) -> (path, mmap, bytes)
        self._keys: dict = {}  # path -> its key in _slots

    def shared(self, t: torch.Tensor) -> Shared:
        """`t`'s whole storage copied into its file; what the kernel's process needs to see it."""
        storage = t.untyped_storage()
        host = storage if t.device.type == "cpu" else storage.cpu()
        nbytes = storage.nbytes()
        name, _, view = self._slot((storage.data_ptr(), nbytes, str(t.device)), nbytes)
        if nbytes:
            view.copy_(_bytes_of(host, nbytes))
        return Shared(name, nbytes, str(t.dtype).removeprefix("torch."), tuple(t.shape),
                      tuple(t.stride()), t.storage_offset(), str(t.device), t.requires_grad)

    def read_back(self, t: torch.Tensor, shared: Shared) -> None:
        """What the kernel's process left in the file, into `t`'s storage (its writes)."""
        *_, view = self._slots[self._keys[shared.slot]]
        if not shared.nbytes:
            return
        _bytes_of(t.untyped_storage(), shared.nbytes).copy_(view)

    def _slot(self, key, nbytes: int):
        if key in self._slots:
            self._slots.move_to_end(key)
            return self._slots[key]
        name = f"convharness-{os.getpid()}-{next(_counter)}"
        for where in (SHM_DIR, self.spill):
            if where is None:
                continue
            path = os.path.join(where, name)
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            except OSError:
                continue
            try:
                os.posix_fallocate(fd, 0, max(nbytes, 1))
                mapped = mmap.mmap(fd, max(nbytes, 1))
                break
            except OSError:
                os.unlink(path)
            finally:
                os.close(fd)
        else:
            raise OSError(f"no room for an input of {nbytes} bytes in {SHM_DIR} or {self.spill}")
        view = torch.frombuffer(mapped, dtype=torch.uint8)[:nbytes]
        self._slots[key], self._keys[path] = (path, mapped, view), key
        while len(self._slots) > KEEP and (len(self._slots) > SLOTS or sum(
                v[2].numel() for v in self._slots.values()) > SLOT_BYTES):
            self._drop(self._slots.popitem(last=False)[1])
        return self._slots[key]

    def _drop(self, slot) -> None:
        path, *_ = slot
        self._keys.pop(path, None)
        try:
            os.unlink(path)
        except OSError:
            pass  # the mapping stays valid until the last view of it goes

    def close(self) -> None:
        for slot in self._slots.values():
            self._drop(slot)
        self._slots.clear()


class Attached:
    """The kernel process's side of the input files: each mapped once, viewed per call."""

    def __init__(self):
        self._maps: OrderedDict = OrderedDict()

    def tensor(self, s: Shared) -> torch.Tensor:
        if s.slot in self._maps:
            self._maps.move_to_end(s.slot)
        else:
            fd = os.open(s.slot, os.O_RDWR)
            try:
                self._maps[s.slot] = mmap.mmap(fd, max(s.nbytes, 1))
            finally:
                os.close(fd)
            while len(self._maps) > KEEP and (len(self._maps) > SLOTS or sum(
                    len(m) for m in self._maps.values()) > SLOT_BYTES):
                self._maps.popitem(last=False)
        flat = torch.frombuffer(self._maps[s.slot], dtype=torch.uint8)[:s.nbytes]
        if s.device != "cpu":
            flat = flat.to(s.device)  # the whole storage, so strides and guard bands hold
        t = torch.empty(0, dtype=DTYPES[s.dtype], device=s.device).set_(
            flat.untyped_storage(), s.offset, s.shape, s.stride)
        return t.requires_grad_(s.requires_grad)

    def written(self, t: torch.Tensor, s: Shared) -> None:
        """A device input's storage, as the kernel left it, back into its file."""
        if s.device != "cpu" and s.nbytes:
            flat = torch.frombuffer(self._maps[s.slot], dtype=torch.uint8)[:s.nbytes]
            host = _bytes_of(t.detach().untyped_storage().cpu(), s.nbytes)
            flat.copy_(host)


def _plain(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    return t if type(t) is torch.Tensor else torch.Tensor.as_subclass(t, torch.Tensor)


def _layout(t: torch.Tensor) -> dict:
    return {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape),
            "stride": list(t.stride()), "device": str(t.device),
            "storage": t.untyped_storage().data_ptr() if t.numel() else -1}


def layout_of(t: torch.Tensor) -> tuple[dict, bytes]:
    """A returned tensor as (layout, raw bytes of the span it covers), copied now."""
    t = _plain(t)
    elements = span(t.shape, t.stride())
    flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(
        t.untyped_storage(), t.storage_offset(), (elements,), (1,))
    raw = flat.cpu().contiguous().view(torch.uint8).numpy().tobytes() if elements else b""
    return _layout(t), raw


def layout_at(t: torch.Tensor) -> tuple[dict, int]:
    """A returned CPU tensor as (layout, address of the span it covers in this process),
    nothing copied: the judge reads the bytes there itself (`read_from`)."""
    t = _plain(t)
    return _layout(t), t.data_ptr()


def nbytes_of(layout: dict) -> int:
    """Bytes of the span a layout covers (NotALayout where it is not one)."""
    try:
        return span(tuple(layout["shape"]), tuple(layout["stride"])) * \
            torch.empty(0, dtype=DTYPES[layout["dtype"]]).element_size()
    except (KeyError, TypeError, ValueError) as exc:
        raise NotALayout(f"not a tensor's layout: {layout!r:.200}") from exc


def read_from(pid: int, address: int, nbytes: int) -> bytes:
    """`nbytes` at `address` in process `pid`'s memory, read by this process (Linux's
    process_vm_readv): OSError where the system or that process does not let it."""
    import ctypes

    class IOVec(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    buf = bytearray(nbytes)
    if not nbytes:
        return bytes(buf)
    local = (ctypes.c_char * nbytes).from_buffer(buf)
    done = 0
    while done < nbytes:
        here = IOVec(ctypes.addressof(local) + done, nbytes - done)
        there = IOVec(address + done, nbytes - done)
        got = libc.process_vm_readv(pid, ctypes.byref(here), 1, ctypes.byref(there), 1, 0)
        if got <= 0:
            err = ctypes.get_errno()
            raise OSError(err, f"process_vm_readv of {nbytes} bytes at {address:#x} in process "
                               f"{pid}: {os.strerror(err)}")
        done += got
    del local
    return bytes(buf)


class NotALayout(ValueError):
    """What the kernel's process sent as a tensor is not one."""


_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps|xpu(:\d+)?|meta)$")


def rebuilt(layout: dict, raw: bytes) -> torch.Tensor:
    """The judge's own tensor from `layout_of`'s answer; NotALayout where the two disagree."""
    try:
        dtype = DTYPES[layout["dtype"]]
        shape, stride = tuple(layout["shape"]), tuple(layout["stride"])
        device, storage = layout["device"], layout["storage"]
        ok = (len(shape) == len(stride) <= 8 and isinstance(device, str) and _DEVICE.match(device)
              and isinstance(storage, int)
              and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**40
                      for v in shape + stride))
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise NotALayout(f"not a tensor's layout: {layout!r:.200}")
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if len(raw) != span(shape, stride) * itemsize:
        raise NotALayout(f"{len(raw)} bytes for a tensor of shape {shape}, strides {stride}")
    flat = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(dtype) if raw else \
        torch.empty(0, dtype=dtype)
    out = torch.empty(0, dtype=dtype).set_(flat.untyped_storage(), 0, shape, stride)
    if device != "cpu" and device != "meta":
        out = out.to(device) if _available(device) else out
    out.convharness_storage = storage  # where the kernel's process kept it (aliasing checks)
    return out


def _available(device: str) -> bool:
    kind = device.split(":")[0]
    return kind == "cuda" and torch.cuda.is_available()
