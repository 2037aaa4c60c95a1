"""The source revision each implementation ran at: the git commit of the repository holding its
module, whether the working tree differed from it, the branch and the commit's time; written
to the run directory as revisions.json when a run begins (`--revision` names it instead)."""
from __future__ import annotations

import functools
import json
import subprocess
from pathlib import Path

from harness.plugins.deferred import source_file

UNVERSIONED = "unversioned"  # a module outside any git repository


def _git(where: Path, *args) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(where), *args], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def _repository(folder: Path) -> dict:
    commit = _git(folder, "rev-parse", "HEAD")
    if not commit:
        return {"revision": UNVERSIONED, "dirty": False, "branch": "", "time": None}
    changed = _git(folder, "status", "--porcelain", "--untracked-files=no")
    when = _git(folder, "log", "-1", "--format=%ct", "HEAD")
    return {"revision": commit, "dirty": bool(changed), "time": float(when) if when else None,
            "branch": _git(folder, "rev-parse", "--abbrev-ref", "HEAD") or ""}


def revision_of(fn) -> dict:
    """{"revision", "dirty", "branch", "time"} of the repository holding `fn`'s module (its
    file as found where it was imported, for one the judge does not import)."""
    path = source_file(fn)
    if path is None:
        return {"revision": UNVERSIONED, "dirty": False, "branch": "", "time": None}
    found = dict(_repository(path.parent))
    if found["revision"] != UNVERSIONED and not found["dirty"]:  # a module git does not track
        found["dirty"] = _git(path.parent, "ls-files", "--error-unmatch", path.name) is None
    return found


def note_revisions(run_dir, impls, revision: str | None = None) -> Path:
    """Add each implementation's revision to the run's revisions.json (`revision`, given,
    names every one; the commit and branch are still read where there is one)."""
    path = Path(run_dir) / "revisions.json"
    known = json.loads(path.read_text()) if path.is_file() else {}
    for impl in impls:
        if impl.name not in known:
            found = revision_of(impl.fn)
            if revision:
                found = {**found, "revision": revision, "dirty": False, "time": None}
            known[impl.name] = found
    path.write_text(json.dumps(known, indent=2, sort_keys=True))
    return path
