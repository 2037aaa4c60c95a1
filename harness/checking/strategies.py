"""Hypothesis strategies of Cases: an op record's argument strategy (harness.ops.draws) in one of
size tiers, with a dtype, distribution, device, layout and seed; and the invalid calls.

Valid by construction (no filtering). Most examples are tiny; each other tier takes the case
into one region where real kernels break, and hypothesis shrinks within it (see harness.ops.draws).
"""
from __future__ import annotations

from hypothesis import strategies as st

from harness.ops.cases import DISTRIBUTIONS, Case
from harness.ops.catalog import OPS
from harness.ops.draws import GRID, heavy

__all__ = ["GRID", "cases", "strata", "invalid_cases", "plain_cases", "covering_cases"]
TINY_SHARE = 3  # in the mixed strategy, "tiny" is drawn this many times as often as each tier
HALF = ("float16", "bfloat16")


def _tiers(op: str, mix: str) -> st.SearchStrategy[str]:
    """'tiny' first (what shrinking moves towards); 'sizes': large tiers only; a tier's name:
    that tier alone."""
    record = OPS[op]
    if mix == "sizes":
        return st.sampled_from(record.tiers)
    if mix == "mixed":  # the large tiers are for `sizes` and `gradients`, searched on their own
        cheap = tuple(t for t in record.tiers if not heavy(t, record.dims))
        return st.sampled_from(("tiny",) * TINY_SHARE + cheap)
    return st.just(mix)


def _dtype(tier: str, dtypes) -> st.SearchStrategy[str]:
    """Long reductions are drawn in half precision where it is asked for: it is there that a
    kernel accumulating in half shows (the error grows with the number of terms)."""
    half = tuple(d for d in HALF if d in dtypes)
    if tier == "reduction" and "float16" in dtypes:
        return st.just("float16")
    if tier == "long_plane" and half:
        return st.sampled_from(half)
    return st.sampled_from(dtypes)


@st.composite
def case_args(draw, op: str, mix: str, dtypes) -> dict:
    tier = draw(_tiers(op, mix))
    args = {**draw(OPS[op].args(tier)), "dtype": draw(_dtype(tier, dtypes))}
    if tier == "long_plane" and not OPS[op].weighted:
        args["dist"] = "positive"  # where a half accumulator stagnates
    return args


def cases(op: str, *, dtypes=("float32",), devices=("cpu",), layouts=("contiguous",),
          dists=DISTRIBUTIONS, mix: str = "mixed") -> st.SearchStrategy[Case]:
    """Valid Cases of `op`, every argument drawn before the shapes that depend on it.

    `mix`: "mixed" (mostly tiny, some in the other tiers), "sizes" (the other tiers only),
    "tiny", or one tier's name.
    """
    def build(args, dist, **rest):
        return Case(op=op, **{"dist": dist, **args}, **rest)
    return st.builds(build, case_args(op, mix, tuple(dtypes)), st.sampled_from(dists),
                     device=st.sampled_from(devices), layout=st.sampled_from(layouts),
                     seed=st.integers(0, 2**31 - 1))


def strata(op: str, mix: str) -> tuple:
    """The tiers a property's examples are split over, each searched (and shrunk) on its own, so
    that every region is reached in every run: "sizes", every tier but tiny; "strata", tiny
    and every tier; otherwise one mixed search."""
    if mix == "sizes":
        return OPS[op].tiers
    if mix == "strata":
        return ("tiny",) + OPS[op].tiers
    return (mix,)


def invalid_cases(op: str) -> list[Case]:
    """Calls the reference rejects (the op record's): each implementation must reject them too."""
    record = OPS[op]
    return [Case(op, record.invalid_input, **bad) for bad in record.invalid]


def plain_cases(op: str, *, dtype: str, device: str, layout: str, dist: str) -> list[Case]:
    """The calls users write most (the op record's `plain`, optional arguments omitted), and
    the first of them with every optional argument spelled out at its default: tried before
    any drawn case."""
    calls = OPS[op].plain + OPS[op].plain[:1]
    spelled = [{}] * len(OPS[op].plain) + [_defaults(op)]
    return [Case(op, **{**call, "kwargs": {**call["kwargs"], **given}}, dtype=dtype,
                 device=device, layout=layout, dist=dist) for call, given in zip(calls, spelled)]


def _defaults(op: str) -> dict:
    """Every optional argument of the op at its default (return_indices is the property's)."""
    return {name: p.default for name, p in OPS[op].signature.parameters.items()
            if p.default is not p.empty and name != "return_indices"}


def covering_cases(op: str, *, dtypes, device: str, dist: str) -> list[Case]:
    """The rows of the op's covering array (harness.ops.covering) as cases: every pair of call
    features, and every triple of those kernels tile on, the same on every run and seed. A
    row's dtype that the run leaves out becomes the run's first; rows that then coincide run
    once."""
    made: list = []
    for _, case in covering_rows(op, dtypes=dtypes, device=device, dist=dist):
        if case not in made:
            made.append(case)
    return made


def covering_rows(op: str, *, dtypes, device: str, dist: str) -> list[tuple[dict, Case]]:
    """(row, its case) for each row of the op's covering array (see covering_cases)."""
    from harness.ops.covering import rows
    from harness.ops.features import fields
    made = []
    for number, row in enumerate(rows(op)):  # valid calls, as made: not asked of PyTorch again
        given = fields(op, row)
        dtype = given.pop("dtype")
        given["dtype"] = dtype if dtype in dtypes else dtypes[0]
        made.append((row, Case(op, **given, device=device, dist=dist, seed=number)))
    return made
