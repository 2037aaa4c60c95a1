"""suites: every shipped suite parses; batch override, quick subset; malformed files name line and field."""
import pytest

from harness.timing import suites
from harness.timing.suites import SuiteError, load


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


def test_the_calls_format_takes_any_op_and_its_arguments(tmp_path):
    path = tmp_path / "mixed.csv"
    path.write_text("source,op,input,weight,stride,padding,groups,bias,kernel_size,count\n"
                    "ssm,conv1d,2x8x64,8x1x4,,3,8,true,,12\n"
                    "video,max_pool3d,1x4x8x16x16,,1x2x2,,,,1x2x2,1\n"
                    "gan,conv_transpose2d,1x16x4x4,16x8x4x4,2,1,,false,,1\n")
    conv, pool, up = load(str(path))
    assert conv.case.kwargs == {"padding": 3, "groups": 8} and conv.case.bias and conv.count == 12
    assert pool.case.kwargs == {"stride": (1, 2, 2), "kernel_size": (1, 2, 2)}
    assert up.case.output_shape() == (1, 8, 8, 8)
    assert conv.label == "ssm#1 8>8 64 k4 s1 g8" and pool.label == "video#2 max_pool3d 4x8x16x16"


@pytest.mark.parametrize("row, message", [
    ("conv4d,1x2x8,2x2x3,1", "field op='conv4d', but should be one of conv1d"),
    ("conv1d,1x2x8x8,2x2x3,1", "input='1x2x8x8', but should be a shape of 3 sides for conv1d"),
    ("conv1d,1x2x8,,1", "weight='', but should be a shape of 3 sides"),
    ("conv1d,1x2x8,2x2x3,two", "field stride='two', but should be an integer, a tuple"),
    ("conv1d,1x2,8,2x2x3,1", "line 2: 5 fields, but the header has 4 columns"),
])
def test_malformed_calls_rows_name_the_field(tmp_path, row, message):
    path = tmp_path / "bad.csv"
    path.write_text("op,input,weight,stride\n" + row + "\n")
    with pytest.raises(SuiteError, match=message):
        load(str(path))


def test_a_column_that_is_not_an_argument_of_the_op(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("op,input,kernel_size,groups\nmax_pool1d,1x2x8,2,2\n")
    with pytest.raises(SuiteError, match="column 'groups' is not an argument of max_pool1d"):
        load(str(path))
