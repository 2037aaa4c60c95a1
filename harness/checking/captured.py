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


class _Divert(logging.Filter):
    """On torch's log handlers: while an implementation runs, its notices go to NOTES (warnings
    and above) and none reach the console."""

    active = False

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.active:
            return True
        if record.levelno >= logging.WARNING:
            NOTES.add(f"{record.name}: {record.getMessage()}")
        return False


_DIVERT = _Divert()
_SEEN_LOGGERS = [-1]  # how many loggers existed at the last scan


def _install() -> None:
    """Put the filter on every handler of torch's loggers (again when new loggers appeared):
    a scan per new logger, not per call."""
    loggers = logging.Logger.manager.loggerDict
    if len(loggers) == _SEEN_LOGGERS[0]:
        return
    _SEEN_LOGGERS[0] = len(loggers)
    for name in list(loggers):
        log = loggers[name]
        if (name == "torch" or name.startswith("torch.")) and isinstance(log, logging.Logger):
            for handler in log.handlers:
                if _DIVERT not in handler.filters:
                    handler.addFilter(_DIVERT)


@contextlib.contextmanager
def captured():
    """Warnings and torch's warning-level log records raised inside go to NOTES, not to the
    console (where they would land between progress lines). A few microseconds a call."""
    _install()
    _Divert.active = True
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        _Divert.active = False
        _install()  # loggers the call itself created (a first torch.compile) are diverted next time
        for w in caught:
            NOTES.add(f"{w.category.__name__}: {w.message}")
