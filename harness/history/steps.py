"""Steps in a trend: changes of level that its noise does not explain. PELT (pruned exact linear
time; Killick, Fearnhead and Eckley, JASA 2012) finds the segmentation of the per-revision log
medians that minimises the squared deviations from each segment's mean, in units of the noise,
plus a penalty of 3 ln n per step (BIC's 2 ln n made stricter: on pure noise of 3% a trend of
ten points shows a step about 2% of the time, and a 20% step after three points is found 97%
of the time). The noise is the larger of the revision-to-revision scatter (the median absolute
successive difference, which a step moves little) and a floor of 3%, the run-to-run jitter of a
shared machine."""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

FLOOR = 0.03  # relative noise below which nothing counts as a step


@dataclass(frozen=True)
class Step:
    at: int  # index of the first point of the new level
    ratio: float  # new level / old level (geometric means of the medians)


def noise(logs: list[float]) -> float:
    """A robust scale of the point-to-point scatter, in log units (1.4826 MAD / sqrt 2)."""
    diffs = [abs(b - a) for a, b in zip(logs, logs[1:])]
    scatter = 1.4826 * statistics.median(diffs) / math.sqrt(2) if diffs else 0.0
    return max(scatter, FLOOR)


def steps(medians: list[float]) -> list[Step]:
    """The steps of a series of positive medians, in order."""
    logs = [math.log(m) for m in medians]
    n = len(logs)
    if n < 2:
        return []
    sigma2 = noise(logs) ** 2
    sums, squares = [0.0], [0.0]
    for x in logs:
        sums.append(sums[-1] + x)
        squares.append(squares[-1] + x * x)

    def cost(s: int, t: int) -> float:  # of one segment logs[s:t]
        total = sums[t] - sums[s]
        return (squares[t] - squares[s] - total * total / (t - s)) / sigma2

    penalty = 3 * math.log(n)
    best, last, alive = [-penalty] + [0.0] * n, [0] * (n + 1), [0]
    for t in range(1, n + 1):
        scored = [(best[s] + cost(s, t) + penalty, s) for s in alive]
        best[t], last[t] = min(scored)
        alive = [s for s in alive if best[s] + cost(s, t) <= best[t]] + [t]
    cuts, t = [], n
    while t > 0:
        cuts.append(last[t])
        t = last[t]
    bounds = sorted(cuts)[1:] + [n]  # drop the leading 0
    return _as_steps(logs, [0] + bounds)


def _as_steps(logs: list[float], bounds: list[int]) -> list[Step]:
    means = [statistics.fmean(logs[a:b]) for a, b in zip(bounds, bounds[1:])]
    return [Step(at=bounds[i + 1], ratio=math.exp(means[i + 1] - means[i]))
            for i in range(len(means) - 1)]
