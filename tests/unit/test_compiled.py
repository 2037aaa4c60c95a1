"""A torch.compile'd kernel is judged compiled: past its recompile limit, where torch.compile
would run the function eagerly, the cases are not checked (with the reason), never passed."""
from harness.checking import call as check
from harness.checking.driver import CheckOptions
from tests.unit import compiled_kernels as bugs
from tests.unit.conftest import verdict


def test_cases_past_the_recompile_limit_are_not_checked(monkeypatch):
    monkeypatch.setattr(check, "RECOMPILE_LIMIT", 3)
    import torch._dynamo
    torch._dynamo.reset()
    record = verdict(bugs.conv2d_compiled_static, "conv2d", "values",
                     CheckOptions(dtypes=("float32",), seed=1))
    assert record.status == "pass" and record.counts["pass"] >= 3, record
    assert record.counts["unsupported"] > 0, record.counts
    assert torch._dynamo.config.recompile_limit == 8  # restored after the check


def test_the_reason_is_recorded_where_nothing_was_compiled(monkeypatch):
    monkeypatch.setattr(check, "RECOMPILE_LIMIT", 0)
    import torch._dynamo
    torch._dynamo.reset()
    record = verdict(bugs.conv2d_compiled_static, "conv2d", "shape",
                     CheckOptions(dtypes=("float32",), seed=1))
    assert record.status == "unsupported", record
    assert "torch.compile reached its recompile limit" in record.message
