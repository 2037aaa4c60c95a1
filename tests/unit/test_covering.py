"""Covering arrays: every pair of call features, and every triple of those kernels tile on, in
every check of the properties that judge numbers, the same rows on every seed; conjunction bugs
of our own are caught whatever the seed."""
import pytest

from harness.checking.driver import CheckOptions
from harness.ops import covering
from harness.ops.catalog import OPS
from harness.ops.features import call, features
from tests.unit import conjunction_bugs
from tests.unit.conftest import verdict


@pytest.mark.parametrize("op", list(OPS))
def test_every_pair_and_triple_is_covered_by_valid_rows_made_the_same_way(op):
    rows, left_out = covering.covering(op)
    assert covering.coverage(op, list(rows)) == {"pairs": 1.0, "triples": 1.0}
    assert all(call(op, row) is not None for row in rows)
    assert covering.made(op) == (rows, left_out)  # the shipped rows are those made now
    names = {f.name for f in features(op)}
    assert all(set(row) == names for row in rows)


def test_what_no_valid_call_holds_is_left_out_and_only_that():
    """'same' padding with a stride of two is no call; 'same' with a stride of one is."""
    _, left_out = covering.covering("conv2d")
    same_strided = (("padding", "same_odd"), ("stride", "two"))
    assert same_strided in left_out
    assert (("padding", "same_odd"), ("stride", "one")) not in left_out
    assert call("conv2d", {**covering.rows("conv2d")[0], "padding": "same_odd",
                           "stride": "two"}) is None


def test_a_row_missing_its_combination_is_seen_as_missing():
    rows = list(covering.rows("max_pool2d"))
    assert covering.coverage("max_pool2d", rows[1:])["triples"] < 1.0 or \
        covering.coverage("max_pool2d", rows[1:])["pairs"] < 1.0


@pytest.mark.parametrize("kernel", sorted(conjunction_bugs.BUGS))
def test_a_conjunction_bug_is_caught_on_every_seed(kernel):
    """Ten seeds, ten failures: the row that holds the bug's combination runs on each."""
    op = conjunction_bugs.BUGS[kernel]
    fn = getattr(conjunction_bugs, kernel)
    for seed in range(1, 11):
        record = verdict(fn, op, "values", CheckOptions(profile="quick", seed=seed,
                                                        dtypes=("float32", "float64")))
        assert record.status == "fail", (seed, record.status, record.message)
