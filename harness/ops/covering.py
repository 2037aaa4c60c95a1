"""Covering arrays of each op's call features: rows that hold every pair of feature values, and
every triple of the features kernels tile on, in some valid call.

Made once per op (deterministic: the same rows on every run and seed, whatever the seed),
greedily in the manner of AETG: each new row starts from a combination no row covers yet and
gives every other feature the value that covers the most combinations still uncovered, then
is mended where it is no valid call (harness.ops.features.call). A combination no valid call
holds (after a search) is left out and counted as such: 'same' padding with a stride of two is
no call to cover.
"""
from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from harness.ops.features import Feature, call, features

MENDS = 60  # random completions tried for a combination before it counts as no valid call


SHIPPED = Path(__file__).with_name("covering_rows.json")  # made by `python -m harness.ops.covering`


@lru_cache(maxsize=None)
def covering(op: str) -> tuple:
    """(rows, combinations no valid call holds): the rows as {feature: value} dicts, in the
    order made, each a valid call of `op`. Those shipped with convharness where they were made
    for these features and this PyTorch (which decides what a valid call is), else made now."""
    shipped = _shipped().get(op)
    if shipped and shipped["made_for"] == _made_for(op):
        names = [f.name for f in features(op)]
        return (tuple(dict(zip(names, values)) for values in shipped["rows"]),
                tuple(tuple(tuple(member) for member in goal) for goal in shipped["left_out"]))
    return made(op)


def _made_for(op: str) -> str:
    import torch
    return f"torch {torch.__version__}; " + "; ".join(
        f"{f.name}={','.join(f.values)}{'*' if f.tiles else ''}" for f in features(op))


@lru_cache(maxsize=1)
def _shipped() -> dict:
    try:
        return json.loads(SHIPPED.read_text())
    except (OSError, ValueError):
        return {}


def made(op: str) -> tuple:
    """covering(op), made now (a second or so for a convolution)."""
    feats = features(op)
    goals = goals_of(feats)
    rng = random.Random(f"convharness covering {op}")
    valid = lru_cache(maxsize=None)(lambda row: call(op, dict(row)) is not None)
    uncovered, by_member = set(goals), defaultdict(set)
    for goal in goals:
        for member in goal:
            by_member[member].add(goal)
    rows, left_out = [], []
    while uncovered:
        target = min(uncovered)
        row = _complete(target, feats, by_member, uncovered, rng, valid)
        if row is None:
            uncovered.discard(target)
            left_out.append(target)
            continue
        rows.append(row)
        uncovered.difference_update(goals_of_row(row, feats))
    return tuple(rows), tuple(left_out)


def rows(op: str) -> tuple:
    return covering(op)[0]


def goals_of(feats: tuple[Feature, ...]) -> list:
    """Every pair of values of two features, and every triple of values of three features that
    tile, each a tuple of (feature name, value) in the features' order."""
    made = []
    for a, b in itertools.combinations(feats, 2):
        made += [((a.name, x), (b.name, y)) for x in a.values for y in b.values]
    tiled = [f for f in feats if f.tiles]
    for trio in itertools.combinations(tiled, 3):
        made += [tuple(zip((f.name for f in trio), values))
                 for values in itertools.product(*(f.values for f in trio))]
    return made


def goals_of_row(row: dict, feats) -> list:
    """The goals a row holds."""
    names = [f.name for f in feats]
    made = [((a, row[a]), (b, row[b])) for a, b in itertools.combinations(names, 2)]
    tiled = [f.name for f in feats if f.tiles]
    return made + [tuple((n, row[n]) for n in trio) for trio in itertools.combinations(tiled, 3)]


def _complete(target: tuple, feats, by_member, uncovered: set, rng: random.Random, valid):
    """A valid row holding `target`: the rest greedily (most uncovered goals), then mended."""
    row = dict(target)
    for feature in feats:
        if feature.name in row:
            continue
        row[feature.name] = max(feature.values, key=lambda v: (
            _gain(feature.name, v, row, by_member, uncovered), -feature.values.index(v)))
    order = tuple(f.name for f in feats)
    if valid(_key(row, order)):
        return row
    free = [f for f in feats if f.name not in dict(target)]
    for feature in free:  # one feature changed
        for value in feature.values:
            tried = {**row, feature.name: value}
            if valid(_key(tried, order)):
                return tried
    for _ in range(MENDS):  # any completion
        tried = {**row, **{f.name: rng.choice(f.values) for f in free}}
        if valid(_key(tried, order)):
            return tried
    return None


def _gain(name: str, value, row: dict, by_member, uncovered: set) -> int:
    """Uncovered goals with (name, value) whose other members the row already holds."""
    return sum(1 for goal in by_member[(name, value)] if goal in uncovered and
               all(row.get(n) == v for n, v in goal if n != name))


def _key(row: dict, order: tuple) -> tuple:
    return tuple((n, row[n]) for n in order)


def coverage(op: str, made: list[dict]) -> dict:
    """{'pairs': share, 'triples': share} of the combinations some valid call holds that the
    rows `made` hold (1.0: all)."""
    feats = features(op)
    _, left_out = covering(op)
    excluded = set(left_out)
    goals = [g for g in goals_of(feats) if g not in excluded]
    held = {g for row in made for g in goals_of_row(row, feats)}
    shares = {}
    for kind, size in (("pairs", 2), ("triples", 3)):
        mine = [g for g in goals if len(g) == size]
        shares[kind] = sum(g in held for g in mine) / len(mine) if mine else 1.0
    return shares


def ship() -> None:
    """Write the rows of every op for this PyTorch into SHIPPED."""
    from harness.ops.catalog import OPS
    table = {}
    for op in OPS:
        rows_made, left_out = made(op)
        names = [f.name for f in features(op)]
        table[op] = {"made_for": _made_for(op),
                     "rows": [[row[n] for n in names] for row in rows_made],
                     "left_out": [list(map(list, goal)) for goal in left_out]}
    SHIPPED.write_text(json.dumps(table, separators=(",", ":"), sort_keys=True) + "\n")


if __name__ == "__main__":
    ship()
