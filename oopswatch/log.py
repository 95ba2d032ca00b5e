"""Messages through `logging`: one logger per board (`oopswatch.board.<name>`), so a lab
daemon can route and filter them like any Python service's, and the terminal output
built on top of it.

The terminal handler prints `oopswatch: message` (`oopswatch: [board] message` for a
board's logger when several boards share one terminal); tracebacks of unexpected
errors go with the record, never reduced to a repr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TextIO

ROOT = "oopswatch"
BOARD_PREFIX = "oopswatch.board."


def board_logger(name: str) -> logging.Logger:
    """The logger of one board's watcher."""
    return logging.getLogger(BOARD_PREFIX + name)


def board_of(record: logging.LogRecord) -> str | None:
    """The board a record is about, from its logger's name."""
    return record.name[len(BOARD_PREFIX):] if record.name.startswith(BOARD_PREFIX) else None


class TerminalFormatter(logging.Formatter):
    """`oopswatch: message`, with the board in brackets when asked to name it."""

    def __init__(self, name_boards: bool = False):
        super().__init__()
        self.name_boards = name_boards

    def format(self, record: logging.LogRecord) -> str:
        board = board_of(record) if self.name_boards else None
        text = f"oopswatch: {f'[{board}] ' if board else ''}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(level: str = "info", stream: TextIO | None = None, name_boards: bool = False) -> logging.Handler:
    """Send oopswatch's messages at `level` and above to `stream` (stderr); returns the
    handler, replacing one an earlier call installed."""
    logger = logging.getLogger(ROOT)
    for handler in list(logger.handlers):
        if getattr(handler, "oopswatch_terminal", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(TerminalFormatter(name_boards))
    handler.oopswatch_terminal = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return handler


@contextlib.contextmanager
def messages_to(handler: logging.Handler) -> Iterator[None]:
    """While inside, oopswatch's messages (info and up) go to `handler` instead of the
    terminal handler (a rack's status view shows them under its table)."""
    logger = logging.getLogger(ROOT)
    terminal = [h for h in logger.handlers if getattr(h, "oopswatch_terminal", False)]
    for old in terminal:
        logger.removeHandler(old)
    logger.addHandler(handler)
    level = logger.level
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for old in terminal:
            logger.addHandler(old)
