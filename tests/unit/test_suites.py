"""suites: every shipped suite parses; batch override, quick subset; malformed files name line and field."""
import pytest

from harness import suites
from harness.suites import SuiteError, load


@pytest.mark.parametrize("name", suites.names())
def test_every_suite_loads_with_valid_shapes(name):
    cases = load(name, batch=1)
    assert cases
    for sc in cases:
        assert sc.case.input_shape[0] == 1
        assert min(sc.case.output_shape()) >= 1, sc.label


def test_depthwise_layers_keep_groups():
    assert any(sc.case.kwargs["groups"] > 1 for sc in load("mobilenet_v2"))


def test_quick_is_a_spread_subset():
    full, quick = load("resnet50"), load("resnet50", quick=True)
    assert 1 < len(quick) < len(full)
    flops = [sc.case.spec.flops(sc.case.shapes, sc.case.kwargs) for sc in quick]
    assert flops == sorted(flops)


def test_user_csv(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("N,C,H,W,K,R,S,stride,pad,dilation,groups,count\n1,4,8,8,4,3,3,1,1,1,1,2\n")
    (sc,) = load(str(path))
    assert sc.case.weight_shape == (4, 4, 3, 3) and sc.count == 2


@pytest.mark.parametrize("body, message", [
    ("N,C,H,W,K,R,S,stride,pad\n1,4,8,x,4,3,3,1,1\n", "line 2: field W='x', but should be an integer"),
    ("N,C,H,W,K,R,S,stride,pad\n1,4,8,8,4,3,3,1,1\n1,4,8,8,,3,3,1,1\n", "line 3: field 'K' is empty"),
    ("a,b\n1,2\n", "line 1: columns"),
    ("N,C,H,W,K,R,S,stride,pad,dilation,groups\n1,4,8,8,4,3,3,1,1,1,3\n", "groups=3 should divide"),
    ("op,N,C,H,W,kernel_h,kernel_w,stride_h,stride_w\nmean_pool,1,1,4,4,2,2,2,2\n", "op='mean_pool'"),
])
def test_malformed_suite_names_line_and_field(tmp_path, body, message):
    path = tmp_path / "bad.csv"
    path.write_text(body)
    with pytest.raises(SuiteError, match=message):
        load(str(path))


def test_unknown_suite():
    with pytest.raises(SuiteError, match="--suite='resnet5'"):
        load("resnet5")
