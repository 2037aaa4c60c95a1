"""The float64 oracle's answers, kept for the cases drawn last and shared by every
implementation judged in this process: a case drawn for one implementation is answered once,
and the next implementation of the op, drawn the same case by the same seed, is judged against
the same answer. Kept by bytes, oldest dropped first; an answer is read, never written to."""
from __future__ import annotations

from typing import Callable

import torch

KEPT_BYTES = 256 * 2**20  # answers of more than this are dropped, oldest first
_ANSWERS: dict = {}  # key -> (answer, bytes)


def answered(key: str, make: Callable[[], object]):
    """The answer under `key`, made by `make()` the first time."""
    if key in _ANSWERS:
        return _ANSWERS[key][0]
    answer = make()
    size = _bytes(answer)
    while _ANSWERS and sum(b for _, b in _ANSWERS.values()) + size > KEPT_BYTES:
        _ANSWERS.pop(next(iter(_ANSWERS)))
    if size <= KEPT_BYTES:
        _ANSWERS[key] = (answer, size)
    return answer


def _bytes(answer) -> int:
    if isinstance(answer, torch.Tensor):
        return answer.numel() * answer.element_size()
    if isinstance(answer, (tuple, list)):
        return sum(_bytes(a) for a in answer)
    return 0


def forget() -> None:
    """Drop every kept answer."""
    _ANSWERS.clear()
