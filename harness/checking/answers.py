"""The float64 oracle's answers, kept and shared: a case drawn for one implementation is answered
once, and the next implementation of the op, drawn the same case by the same seed, is judged
against the same answer. An answer is read, never written to. Two stores use it: the checks'
(`KEPT`, by bytes, for the properties of one op at a time) and the bench's answers to the turns
of a timed call (a few, in timing.timed: kept while timing, where they must not look like the
kernel's memory growth)."""
from __future__ import annotations

import math
from typing import Callable

import torch

from harness.checking.held import machine_memory


class Kept:
    """Answers by key, oldest dropped first past `max_bytes` or `max_count`; or, where
    `keep_first`, new ones not kept past them (for askers that each walk the same keys in the
    same order: dropping the oldest would leave the next asker none of those it needs first)."""

    def __init__(self, max_bytes: float, max_count: float = math.inf, keep_first: bool = False):
        self.max_bytes, self.max_count, self.keep_first = max_bytes, max_count, keep_first
        self.answers: dict = {}  # key -> (answer, bytes)
        self.bytes = 0
        self.scope: object = None

    def answered(self, key: str, make: Callable[[], object]):
        """The answer under `key`, made by `make()` the first time."""
        if key in self.answers:
            return self.answers[key][0]
        answer = make()
        size = _bytes(answer)
        while self.answers and not self.keep_first and not self._room(size):
            self.bytes -= self.answers.pop(next(iter(self.answers)))[1]
        if self._room(size):
            self.answers[key] = (answer, size)
            self.bytes += size
        return answer

    def _room(self, size: int) -> bool:
        return self.bytes + size <= self.max_bytes and len(self.answers) < self.max_count

    def within(self, scope) -> None:
        """Answers from now on are for `scope`; those kept for another one are dropped."""
        if scope != self.scope:
            self.forget()
            self.scope = scope

    def forget(self) -> None:
        """Drop every kept answer."""
        self.answers.clear()
        self.bytes = 0


def _bytes(answer) -> int:
    if isinstance(answer, torch.Tensor):
        return answer.numel() * answer.element_size()
    if isinstance(answer, (tuple, list)):
        return sum(_bytes(a) for a in answer)
    return 0


# The checks' answers, shared by the implementations of one op and property: each draws the
# same cases in the same order, so the first answers are kept rather than the newest. Up to
# 1 GiB (a sixteenth of the RAM on smaller machines): the cases past the launch limits have
# answers of a hundred MiB or more, and each costs seconds to make again.
KEPT = Kept(max_bytes=min(2**30, machine_memory() // 16), keep_first=True)


def answered(key: str, make: Callable[[], object]):
    """The checks' answer under `key`, made by `make()` the first time."""
    return KEPT.answered(key, make)


def sharing(scope) -> None:
    """The checks' answers are for `scope` (an op and property) from now on; others dropped."""
    KEPT.within(scope)


def forget() -> None:
    """Drop every answer the checks kept."""
    KEPT.forget()
