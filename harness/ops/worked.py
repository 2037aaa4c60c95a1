"""Worked examples from the textbooks, as plain data the op records hold (no torch).

Each gives the tensors of one call (values as nested lists, or shapes filled with ones), its
keyword arguments and the exact answer (values, or the output shape). properties.examples runs
them before any drawn case.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    what: str
    tensors: tuple  # nested lists of values; with `by_shape`, shapes filled with ones
    want: list | tuple  # the exact output (or, with `by_shape`, its shape)
    kwargs: dict = field(default_factory=dict)
    by_shape: bool = False
    learn: bool = False  # also train the weight from a random start: it should find tensors[1]


def _nest(values, depth: int = 2):
    """`depth` batch and channel brackets around one plane."""
    for _ in range(depth):
        values = [values]
    return values


X3 = [[0.0, 1, 2], [3, 4, 5], [6, 7, 8]]
CUBE = [[[9.0 * a + 3 * b + c for c in range(3)] for b in range(3)] for a in range(3)]
LINE = [float(i) for i in range(9)]
CHANNELS = [[[0, 1, 1, 0, 2], [0, 2, 2, 1, 1], [0, 2, 1, 1, 2], [1, 0, 2, 1, 2], [0, 1, 1, 1, 1]],
            [[2, 2, 1, 0, 0], [2, 1, 0, 0, 1], [2, 2, 1, 2, 2], [1, 2, 0, 1, 2], [1, 2, 0, 2, 1]],
            [[0, 0, 1, 0, 2], [1, 1, 1, 1, 1], [2, 0, 2, 1, 1], [1, 1, 1, 0, 0], [0, 0, 0, 1, 0]]]
W0 = [[[-1, 0, 1], [-1, 0, 1], [0, 1, 0]], [[1, -1, 1], [1, 1, 0], [-1, 0, -1]],
      [[0, 1, 0], [-1, 0, 1], [-1, 0, 0]]]
W1 = [[[-1, 1, 0], [1, 0, -1], [-1, 0, 1]], [[0, 0, 1], [0, 1, 1], [1, 1, -1]],
      [[0, 1, 0], [-1, -1, 1], [1, -1, -1]]]
OUT_5x5 = [[[3, 3, 1], [6, 3, 3], [5, 9, 0]], [[4, 0, -2], [-1, 6, 4], [6, 7, 2]]]
EDGE_ROW = [1.0, 1, 0, 0, 0, 0, 1, 1]  # a white-black-white row: edges at 1->0 and 0->1
EDGES = [0.0, 1, 0, 0, 0, -1, 0]  # the row's differences, as the kernel [1, -1] finds them


def _shape(what: str, shapes: tuple, want: tuple, **kwargs) -> Example:
    return Example(what, shapes, want, kwargs, by_shape=True)


CONV1D = (
    Example("corr1d", (_nest(LINE[:7]), _nest([1.0, 2])), _nest([2.0, 5, 8, 11, 14, 17])),
    Example("edge detection in a row", (_nest(EDGE_ROW), _nest([1.0, -1])), _nest(EDGES),
            learn=True),
    _shape("length 16, kernel 3, padding 1, stride 2", ((1, 1, 16), (1, 1, 3)), (1, 1, 8),
           padding=1, stride=2),
    _shape("4x3x12 with 64 kernels of 3", ((4, 3, 12), (64, 3, 3)), (4, 64, 10)),
)
CONV2D = (
    Example("corr2d", (_nest(X3), _nest([[0.0, 1], [2, 3]])), _nest([[19.0, 25], [37, 43]])),
    Example("3-channel 5x5, stride 2, padding 1", ([CHANNELS], [W0, W1], [1.0, 0]), [OUT_5x5],
            {"stride": 2, "padding": 1}),
    Example("edge detection", (_nest([EDGE_ROW] * 6), _nest([[1.0, -1]])), _nest([EDGES] * 6),
            learn=True),
    Example("edge detection on X.T", (_nest([list(col) for col in zip(*[EDGE_ROW] * 6)]),
                                      _nest([[1.0, -1]])), _nest([[0.0] * 5] * 8)),
    _shape("8x8, 3x3, padding 1, stride 2", ((1, 1, 8, 8), (1, 1, 3, 3)), (1, 1, 4, 4),
           padding=1, stride=2),
    _shape("8x8, kernel (3,5), padding (0,1), stride (3,4)", ((1, 1, 8, 8), (1, 1, 3, 5)),
           (1, 1, 2, 2), padding=(0, 1), stride=(3, 4)),
    _shape("4x3x12x12 with 64 kernels 3x3", ((4, 3, 12, 12), (64, 3, 3, 3)), (4, 64, 10, 10)),
)
CONV3D = (
    Example("corr3d with a 2x2x2 box", (_nest(CUBE), _nest([[[1.0] * 2] * 2] * 2)),
            _nest([[[52.0, 60], [76, 84]], [[124, 132], [148, 156]]])),
    _shape("8x8x8, 3x3x3, padding 1, stride 2", ((1, 1, 8, 8, 8), (1, 1, 3, 3, 3)),
           (1, 1, 4, 4, 4), padding=1, stride=2),
    _shape("2x3x4x12x12 with 16 kernels (1,3,3)", ((2, 3, 4, 12, 12), (16, 3, 1, 3, 3)),
           (2, 16, 4, 10, 10)),
)


def _pool_shape(what: str, dims: int) -> Example:
    return _shape(what, ((1, 1) + (12,) * dims,), (1, 1) + (6,) * dims, kernel_size=2, stride=2)


MAX_POOL = {
    1: (Example("pool1d max", (_nest(LINE),), _nest([2.0, 4, 6, 8]), {"kernel_size": 3,
                                                                       "stride": 2}),
        _pool_shape("12 max pool 2 stride 2", 1)),
    2: (Example("pool2d max", (_nest(X3),), _nest([[4.0, 5], [7, 8]]), {"kernel_size": 2,
                                                                         "stride": 1}),
        _pool_shape("12x12 max pool 2x2 stride 2", 2)),
    3: (Example("pool3d max", (_nest(CUBE),), _nest([[[13.0, 14], [16, 17]], [[22, 23], [25, 26]]]),
                {"kernel_size": 2, "stride": 1}),
        _pool_shape("12x12x12 max pool 2 stride 2", 3)),
}
AVG_POOL = {
    1: (Example("pool1d avg", (_nest(LINE),), _nest([1.0, 3, 5, 7]), {"kernel_size": 3,
                                                                       "stride": 2}),
        _pool_shape("12 avg pool 2 stride 2", 1)),
    2: (Example("pool2d avg", (_nest(X3),), _nest([[2.0, 3], [5, 6]]), {"kernel_size": 2,
                                                                         "stride": 1}),
        _pool_shape("12x12 avg pool 2x2 stride 2", 2)),
    3: (Example("pool3d avg", (_nest(CUBE),),
                _nest([[[6.5, 7.5], [9.5, 10.5]], [[15.5, 16.5], [18.5, 19.5]]]),
                {"kernel_size": 2, "stride": 1}),
        _pool_shape("12x12x12 avg pool 2 stride 2", 3)),
}
ADAPTIVE_AVG_POOL = {
    1: (Example("adaptive avg of 9 to 2 (windows overlap)", (_nest(LINE),), _nest([2.0, 6]),
                {"output_size": 2}),),
    2: (Example("adaptive avg pool to (1,1)", (_nest(X3),), _nest([[4.0]]),
                {"output_size": (1, 1)}),),
    3: (Example("adaptive avg pool to 1", (_nest(CUBE),), _nest([[[13.0]]]),
                {"output_size": 1}),),
}
ADAPTIVE_MAX_POOL = {
    1: (Example("adaptive max of 9 to 2 (windows overlap)", (_nest(LINE),), _nest([4.0, 8]),
                {"output_size": 2}),),
    2: (Example("adaptive max pool of 3x3 to (2,2)", (_nest(X3),), _nest([[4.0, 5], [7, 8]]),
                {"output_size": (2, 2)}),),
    3: (Example("adaptive max pool to 1", (_nest(CUBE),), _nest([[[26.0]]]),
                {"output_size": 1}),),
}

TRANSPOSED_X = [[0.0, 1], [2, 3]]
CONV_TRANSPOSE = {
    1: (Example("trans_conv of a row", (_nest([1.0, 2]), _nest([1.0, 1, 1])),
                _nest([1.0, 3, 3, 2])),
        _shape("length 8, kernel 4, stride 2, padding 1", ((1, 1, 8), (1, 1, 4)), (1, 1, 16),
               stride=2, padding=1)),
    2: (Example("trans_conv", (_nest(TRANSPOSED_X), _nest(TRANSPOSED_X)),
                _nest([[0.0, 0, 1], [0, 4, 6], [4, 12, 9]])),
        Example("trans_conv, stride 2", (_nest(TRANSPOSED_X), _nest(TRANSPOSED_X)),
                _nest([[0.0, 0, 0, 1], [0, 0, 2, 3], [0, 2, 0, 3], [4, 6, 6, 9]]),
                {"stride": 2}),
        Example("trans_conv, padding 1 crops", (_nest(TRANSPOSED_X), _nest(TRANSPOSED_X)),
                _nest([[4.0]]), {"padding": 1}),
        _shape("4x4 to 8x8: kernel 4, stride 2, padding 1 (DCGAN)", ((2, 16, 4, 4), (16, 8, 4, 4)),
               (2, 8, 8, 8), stride=2, padding=1)),
    3: (Example("trans_conv of ones, kernel 2, stride 2 (no overlap)",
                (_nest([[[1.0] * 2] * 2] * 2), _nest([[[1.0] * 2] * 2] * 2)),
                _nest([[[1.0] * 4] * 4] * 4), {"stride": 2}),
        _shape("4x4x4 to 8x8x8 with output_padding 1", ((1, 1, 4, 4, 4), (1, 2, 3, 3, 3)),
               (1, 2, 8, 8, 8), stride=2, padding=1, output_padding=1)),
}
