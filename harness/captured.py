"""What an implementation says while it runs (warnings, torch's log notices), kept for its record."""
from __future__ import annotations

import contextlib
import logging
import warnings

MAX_KEPT = 20  # distinct messages kept per property; a noisy kernel says the same thing often


class Notes:
    """Distinct messages, in the order first seen, with how often each came."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def add(self, text: str) -> None:
        text = text.strip()[:300]
        if text in self.counts or len(self.counts) < MAX_KEPT:
            self.counts[text] = self.counts.get(text, 0) + 1

    def drain(self) -> list[str]:
        """The messages as 'text (xN)', emptied for the next property."""
        kept = [f"{text} (x{n})" if n > 1 else text for text, n in self.counts.items()]
        self.counts.clear()
        return kept


NOTES = Notes()


class _Keep(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            NOTES.add(f"{record.name}: {record.getMessage()}")


def _torch_loggers() -> list[logging.Logger]:
    names = [n for n in logging.Logger.manager.loggerDict if n == "torch" or
             n.startswith("torch.")]
    found = [logging.getLogger(n) for n in names]
    return [log for log in found if log.handlers]


@contextlib.contextmanager
def captured():
    """Warnings and torch's warning-level log records raised inside go to NOTES, not to the
    console (where they would land between progress lines)."""
    keep = _Keep()
    swapped = [(log, log.handlers) for log in _torch_loggers()]
    for log, _ in swapped:
        log.handlers = [keep]
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for log, handlers in swapped:
            log.handlers = handlers
        for w in caught:
            NOTES.add(f"{w.category.__name__}: {w.message}")
