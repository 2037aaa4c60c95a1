"""registry: the decorator, signature checking, loading by name and module:attr, entry points."""
import sys
import textwrap

import pytest
import torch.nn.functional as F

from harness.plugins.registry import (ImplementationError, check_signature, discover, implements,
                                      load)


def test_discover_finds_the_builtins():
    names = discover()
    from harness.ops.catalog import OPS
    for technique in ("reference", "loops", "unfold_einsum"):
        for op in OPS:
            assert f"{technique}.{op}" in names


def test_decorator_returns_the_function_unchanged():
    def my_pool(input, output_size):
        return F.adaptive_avg_pool2d(input, output_size)
    assert implements(F.adaptive_avg_pool2d, name="test.my_pool", dtypes=("float32",))(my_pool) \
        is my_pool
    assert load("test.my_pool").dtypes == ("float32",)


def test_signature_mismatch_shows_both():
    def conv(x, w, b=None):
        pass
    with pytest.raises(ImplementationError) as info:
        check_signature(conv, "conv2d")
    text = str(info.value)
    assert "got:      def conv(x, w, b=None)" in text
    assert "expected: def conv2d(input, weight, bias=None, stride=1" in text


def test_unknown_name_lists_close_matches():
    with pytest.raises(ImplementationError, match="did you mean loops.conv2d"):
        load("loops.conv2")


def test_module_attr_errors(tmp_path, monkeypatch):
    (tmp_path / "mykern.py").write_text(textwrap.dedent("""
        import torch.nn.functional as F
        def conv(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
            return F.conv2d(input, weight, bias, stride, padding, dilation, groups)
        """))
    (tmp_path / "broken_mod.py").write_text("import no_such_module_here\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    impl = load("mykern:conv", op="conv2d", dtypes=("float32",), forward_only=True)
    assert impl.op == "conv2d" and impl.differentiable is False and impl.dtypes == ("float32",)
    with pytest.raises(ImplementationError, match="--op is needed"):
        load("mykern:conv")
    with pytest.raises(ImplementationError, match="has no attribute 'nope'"):
        load("mykern:nope", op="conv2d")
    with pytest.raises(ImplementationError, match="does not import .*no_such_module_here"):
        load("broken_mod:f", op="conv2d")
    with pytest.raises(ImplementationError, match="does not match the max_pool2d contract"):
        load("mykern:conv", op="max_pool2d")
    sys.modules.pop("mykern", None)


def test_entry_points_are_loaded(monkeypatch):
    loaded = []

    class Entry:
        name, value = "x", "somepkg:kernels"

        def load(self):
            loaded.append(True)

    monkeypatch.setattr("harness.plugins.registry.metadata.entry_points", lambda group: [Entry()])
    discover()
    assert loaded == [True]


def test_a_second_implementation_under_a_taken_name_is_refused():
    def first(input, output_size):
        return F.adaptive_avg_pool2d(input, output_size)

    def second(input, output_size):
        return F.adaptive_avg_pool2d(input, output_size)
    implements(F.adaptive_avg_pool2d, name="test.twice")(first)
    with pytest.raises(ImplementationError, match="name='test.twice' is registered twice"):
        implements(F.adaptive_avg_pool2d, name="test.twice")(second)


def test_a_module_of_builtins_selects_all_of_its_implementations():
    from harness.ops.catalog import OPS
    from harness.plugins.registry import select
    assert sorted(i.name for i in select(["reference"])) == sorted(f"reference.{op}" for op in OPS)
    assert [i.name for i in select(["reference"], op="conv2d")] == ["reference.conv2d"]
    assert [i.name for i in select(["reference.conv2d"])] == ["reference.conv2d"]


def test_option_names_match_the_heavy_modules():
    """harness.doors.options keeps literal names so that it imports no torch: they must agree."""
    from harness.checking.driver import PROFILES
    from harness.doors import options
    from harness.ops.cases import DTYPES
    from harness.ops.catalog import OPS
    from harness.timing.bench import PASSES
    assert options.DTYPE_NAMES == tuple(DTYPES) and options.OP_NAMES == tuple(OPS)
    assert options.PASS_NAMES == PASSES and options.PROFILE_NAMES == PROFILES
