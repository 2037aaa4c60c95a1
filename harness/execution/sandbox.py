"""Linux Landlock around a process that runs kernels: it writes only beneath its scratch directory
(and the compilers' caches), opens no TCP connection, and signals no process outside it.

Reading stays open (a kernel imports what it likes). Files opened before the sandbox (the pipe
to the judge, stdout) stay usable. The syscalls are made through ctypes: the Python binding on
the package index is a pre-release that knows neither network rules (ABI 4) nor scopes (ABI 6).
"""
from __future__ import annotations

import ctypes
import functools
import glob
import os
import platform
import tempfile
from pathlib import Path

CREATE_RULESET, ADD_RULE, RESTRICT_SELF = 444, 445, 446  # the same number on every architecture
VERSION_FLAG, RULE_PATH_BENEATH, PR_SET_NO_NEW_PRIVS = 1, 1, 38
# File system rights that change something: write, truncate, make, remove, rename (ABI 1 to 3).
WRITES = {1: sum(1 << b for b in (1, 4, 5, 6, 7, 8, 9, 10, 11, 12)), 2: 1 << 13, 3: 1 << 14}
WRITE_FILE, TRUNCATE = 1 << 1, 1 << 14
NET_TCP = 0b11  # bind and connect (ABI 4)
SCOPES = 0b11  # abstract UNIX sockets and signals to processes outside the sandbox (ABI 6)
DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/nvidia*",
           "/dev/dri/*")  # opened for writing by Python, torch and GPU drivers
SHARED = ("/dev/shm",)  # shared memory and semaphores (multiprocessing, torch)


class _Ruleset(ctypes.Structure):
    _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(None, use_errno=True)


@functools.lru_cache(maxsize=1)
def abi() -> int:
    """The Landlock ABI this kernel offers; 0 where it offers none."""
    if platform.system() != "Linux":
        return 0
    try:
        version = _libc().syscall(CREATE_RULESET, None, 0, VERSION_FLAG)
    except (OSError, AttributeError):
        return 0
    return max(version, 0)


def describe() -> str:
    """What a kernel's process is held to here, for run.json, the first line and the report."""
    found = abi()
    if not found:
        return "kernels not sandboxed: this system offers no Landlock"
    net = ", no TCP connections" if found >= 4 else " (network open: Landlock ABI < 4)"
    sig = ", no signals outside it" if found >= 6 else ""
    return f"kernels sandboxed (Landlock ABI {found}): writes only to a scratch directory{net}{sig}"


def caches(scratch: Path) -> dict:
    """Environment for the compilers a kernel may use (Triton, torch.compile): their caches
    and temporary files in `scratch`, unless the user named directories of their own."""
    wanted = {"TRITON_CACHE_DIR": scratch / "triton", "TORCHINDUCTOR_CACHE_DIR":
              scratch / "inductor", "TMPDIR": scratch / "tmp"}
    return {name: os.environ.get(name) or str(path) for name, path in wanted.items()}


def enter(scratch: Path) -> str:
    """Hold this process (and what it starts) to `scratch` as `describe` says; what it is held
    to, as describe() words it. Irreversible. A system without Landlock changes nothing."""
    found = abi()
    if not found:
        return describe()
    for name, value in caches(scratch).items():
        os.environ[name] = value
        Path(value).mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = None  # found again, from TMPDIR
    writes = sum(bits for level, bits in WRITES.items() if level <= found)
    attr = _Ruleset(writes, NET_TCP if found >= 4 else 0, SCOPES if found >= 6 else 0)
    size = 8 if found < 4 else 16 if found < 6 else 24
    libc = _libc()
    ruleset = _checked(libc.syscall(CREATE_RULESET, ctypes.byref(attr), size, 0), "ruleset")
    try:
        for path in {str(scratch), *caches(scratch).values(), *SHARED}:
            _allow(ruleset, path, writes)
        for path in (p for pattern in DEVICES for p in glob.glob(pattern)):
            _allow(ruleset, path, writes & (WRITE_FILE | TRUNCATE))
        _checked(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        _checked(libc.syscall(RESTRICT_SELF, ruleset, 0), "restrict_self")
    finally:
        os.close(ruleset)
    return describe()


def _allow(ruleset: int, path: str, rights: int) -> None:
    """Let the sandbox use `rights` on `path` (and beneath it, for a directory); a path
    that is not there is skipped."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if not os.path.isdir(path):
            rights &= WRITE_FILE | TRUNCATE  # the only rights a file can be given
        rule = _PathBeneath(rights, fd)
        _checked(_libc().syscall(ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0),
                 f"rule for {path}")
    finally:
        os.close(fd)


def _checked(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"Landlock {what}: {os.strerror(err)}")
    return result
