"""The float64 oracle's answers, kept and shared: a case drawn for one implementation is answered
once, and the next implementation of the op, drawn the same case by the same seed, is judged
against the same answer. An answer is read, never written to. Two stores use it: the checks'
(`KEPT`, by bytes) and the bench's answers to the turns of a timed call (a few, in
timing.timed: kept while timing, where they must not look like the kernel's memory growth)."""
from __future__ import annotations

import math
from typing import Callable

import torch


class Kept:
    """Answers by key, oldest dropped first past `max_bytes` or `max_count`."""

    def __init__(self, max_bytes: float, max_count: float = math.inf):
        self.max_bytes, self.max_count = max_bytes, max_count
        self.answers: dict = {}  # key -> (answer, bytes)
        self.bytes = 0

    def answered(self, key: str, make: Callable[[], object]):
        """The answer under `key`, made by `make()` the first time."""
        if key in self.answers:
            return self.answers[key][0]
        answer = make()
        size = _bytes(answer)
        while self.answers and (self.bytes + size > self.max_bytes
                                or len(self.answers) >= self.max_count):
            self.bytes -= self.answers.pop(next(iter(self.answers)))[1]
        if size <= self.max_bytes:
            self.answers[key] = (answer, size)
            self.bytes += size
        return answer

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


KEPT = Kept(max_bytes=256 * 2**20)  # the checks' answers, shared across implementations


def answered(key: str, make: Callable[[], object]):
    """The checks' answer under `key`, made by `make()` the first time."""
    return KEPT.answered(key, make)


def forget() -> None:
    """Drop every answer the checks kept."""
    KEPT.forget()
