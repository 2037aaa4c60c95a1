"""Data flows one way: no module of the harness imports, even lazily inside a function, a
module that imports it back (directly or through others), nor a module of a stage above its own
(`harness.LAYERS`, from the doors down to the records), nor a module by its 0.1.0 path."""
import ast
from pathlib import Path

import harness

ROOT = Path(harness.__file__).parent  # where the package is installed
REPO = Path(__file__).resolve().parents[2]  # this checkout: README, tests, benchmarks


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def _graph() -> dict:
    modules = {_module(p): p for p in ROOT.rglob("*.py")}
    return {name: sorted(m for m in _imports(path) if m in modules and m != name)
            for name, path in modules.items()}


def _cycle(graph: dict) -> list:
    """One import cycle as a list of modules, or [] (depth-first search)."""
    state: dict = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return []

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return []


def test_the_harness_has_no_import_cycle():
    cycle = _cycle(_graph())
    assert not cycle, " -> ".join(cycle)


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert _cycle({"a": ["b"], "b": [], "c": ["a"]}) == []


def _layer(module: str) -> int:
    """The rank of a module's stage in harness.LAYERS (0 is the top); the package's face
    (`harness`, `harness.__main__`) and the shipped conformance suite rank above every stage;
    `harness._old_paths` below every stage (it imports no module of ours by name)."""
    parts = module.split(".")
    if module == "harness._old_paths":
        return len(harness.LAYERS)
    return harness.LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in harness.LAYERS else -1


def _upward(graph: dict) -> list:
    """Every import (importer, imported) that runs from a stage up to a stage above it."""
    return [(name, dep) for name, deps in sorted(graph.items()) for dep in deps
            if _layer(name) >= 0 and _layer(dep) < _layer(name)]


def test_imports_run_from_the_doors_down():
    upward = _upward(_graph())
    assert not upward, "\n".join(f"{a} imports {b}, a stage above it" for a, b in upward)


def test_the_direction_check_finds_an_upward_import():
    graph = {"harness.records.record": ["harness.doors.cli"],
             "harness.doors.cli": ["harness.records.record", "harness.ops.catalog"],
             "harness.ops.catalog": ["harness.ops.draws", "harness"]}
    assert _upward(graph) == [("harness.ops.catalog", "harness"),
                              ("harness.records.record", "harness.doors.cli")]


def test_every_module_sits_in_a_stage():
    loose = sorted(p.name for p in ROOT.glob("*.py")
                   if p.name not in ("__init__.py", "__main__.py", "_old_paths.py"))
    assert not loose, f"modules outside every stage package: {loose}"
    stages = sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file())
    assert stages == sorted([*harness.LAYERS, "conformance"])


def test_nothing_of_ours_imports_a_0_1_path():
    import implementations
    from harness._old_paths import MOVED
    old = []
    for path in [*ROOT.rglob("*.py"), *Path(implementations.__file__).parent.glob("*.py"),
                 *(REPO / "tests").rglob("*.py"), *(REPO / "benchmarks").glob("*.py")]:
        for module in _imports(path):
            parts = module.split(".")
            if parts[0] == "harness" and len(parts) > 1 and parts[1] in MOVED:
                old.append(f"{path}: {module}")
    assert not old, "\n".join(old)


def test_an_old_path_still_imports_and_says_where_it_went():
    import importlib
    import sys
    import warnings

    import pytest
    sys.modules.pop("harness.registry", None)
    with pytest.warns(DeprecationWarning, match="harness.registry moved to harness.plugins.registry"):
        old = importlib.import_module("harness.registry")
    from harness.plugins import registry
    assert old is registry
    with pytest.warns(DeprecationWarning, match="harness.ops.OPS moved to harness.ops.catalog.OPS"):
        from harness.ops import OPS
    from harness.ops.catalog import OPS as new
    assert OPS is new
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from harness.checking.properties import values  # noqa: F401 - new paths do not warn


def test_the_readme_layout_table_is_the_code_s():
    """The README's layout table names every stage package, in the order imports run, and
    every module each one holds."""
    import re
    text = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `harness/(\w+)/` \| (.*) \|$", text, flags=re.M)
    assert [name for name, _ in rows] == list(harness.LAYERS)
    for name, said in rows:
        held = {p.stem for p in (ROOT / name).glob("*.py") if p.stem != "__init__"}
        held |= {p.name for p in (ROOT / name).iterdir() if (p / "__init__.py").is_file()}
        named = set(re.findall(r"`(\w+)", said))
        assert held <= named, f"harness/{name}/: the README does not name {sorted(held - named)}"
