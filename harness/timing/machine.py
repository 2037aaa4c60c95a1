"""Run metadata, recorded once per run in run.json: versions, machine, threads, commit, command."""
from __future__ import annotations

import functools
import json
import platform
import subprocess
import sys
import time
import uuid
from importlib import metadata
from pathlib import Path

import torch


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_name() -> str:
    return platform.node() or "localhost"


@functools.lru_cache(maxsize=None)
def device_name(device: str) -> str:
    """The model of the device a record was measured on: the GPU's name or the CPU's."""
    if device == "cuda":
        return torch.cuda.get_device_name() if torch.cuda.is_available() else "cuda"
    return cpu_name()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() if out.returncode == 0 else ""
    except (OSError, subprocess.TimeoutExpired):
        return ""


def harness_version() -> str:
    try:
        return metadata.version("convharness")
    except metadata.PackageNotFoundError:
        return "unknown"


def describe_environment(argv=None) -> dict:
    cuda = torch.cuda.is_available()
    return {
        "run_id": uuid.uuid4().hex,  # the run's identity in a results store
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": " ".join(argv if argv is not None else sys.argv),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if cuda else None,
        "cpu": cpu_name(),
        "gpu": torch.cuda.get_device_name() if cuda else None,
        "threads": torch.get_num_threads(),
        "harness": harness_version(),
        "git_commit": git_commit(),
        "platform": platform.platform(),
    }


def note_in_run(run_dir: Path, **facts) -> None:
    """Add `facts` to run.json (a bench's choices, such as the allocator's state)."""
    path = Path(run_dir) / "run.json"
    env = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**env, **facts}, indent=2))


def write_environment(run_dir: Path, argv=None) -> Path:
    path = Path(run_dir) / "run.json"
    if not path.exists():  # a resumed run keeps the first run's metadata
        path.write_text(json.dumps(describe_environment(argv), indent=2))
    return path


def add_nodes(run_dir: Path, nodes: list[dict]) -> None:
    """Add the environments of a cluster's nodes to run.json (one entry per host)."""
    if not nodes:
        return
    path = Path(run_dir) / "run.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    known = {node.get("host"): node for node in data.get("nodes", [])}
    known.update({node.get("host"): node for node in nodes})
    data["nodes"] = list(known.values())
    path.write_text(json.dumps(data, indent=2))
