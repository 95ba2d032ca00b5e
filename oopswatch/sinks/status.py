"""The rack's status view: a live table on a terminal (rich's Live and Table, which
follow the terminal's width and honour NO_COLOR), plain lines (state changes and
messages) when the output is not a terminal.

It is also the terminal's logging handler while a rack runs: messages of the boards'
loggers appear under the table (or as plain lines) instead of being mixed into it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TextIO

from oopswatch.log import board_of
from oopswatch.sinks.board_status import RackSnapshot

MESSAGES_SHOWN = 8
_STATE_STYLES = {"up": "green", "booting": "cyan", "crashed": "bold red", "disconnected": "yellow",
                 "failed": "bold red", "connecting": "yellow"}
_HEADER = ("board", "state", "build", "uptime", "reports")


def duration(seconds: float | None) -> str:
    """`1:02:03`, or `3d04h` from a day on; `-` when unknown."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{days}d{hours:02d}h" if days else f"{hours}:{minutes:02d}:{seconds:02d}"


def _state_text(state: str, disk_trouble: str | None) -> str:
    """`up`, or `up (disk full)` while the board's files cannot be written."""
    return f"{state} ({disk_trouble})" if disk_trouble else state


def message_text(record: logging.LogRecord) -> str:
    """A record as one line: the board first when it is a board's message."""
    board = board_of(record)
    text = record.getMessage()
    if record.exc_info:
        text += "\n" + logging.Formatter().formatException(record.exc_info)
    return f"{board}: {text}" if board else text


class StatusView(logging.Handler):
    def __init__(self, snapshot: Callable[[], RackSnapshot], out: TextIO, tty: bool | None = None,
                 width: int | None = None):
        super().__init__()
        self.snapshot = snapshot
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._messages: deque[str] = deque()
        self._shown: deque[str] = deque(maxlen=MESSAGES_SHOWN)  # under the table
        self._states: dict[str, str] = {}
        self._lock = threading.Lock()
        self._live = None
        self._width = width

    # -- logging.Handler: from any thread ---------------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self._messages.append(f"{time.strftime('%H:%M:%S')} {message_text(record)}")

    def _take_messages(self) -> list[str]:
        with self._lock:
            messages = list(self._messages)
            self._messages.clear()
        return messages

    # -- drawing: from the rack's main thread ------------------------------------------

    def rows(self, snapshot: RackSnapshot) -> list[tuple[str, str, str, str, str]]:
        return [(board.name, _state_text(board.state, board.disk_trouble), board.build, duration(board.uptime),
                 str(board.reports_this_boot)) for board in snapshot.boards]

    def update(self, final: bool = False) -> None:
        snapshot = self.snapshot()
        messages = self._take_messages()
        if not self.tty:
            self._plain(snapshot, messages)
        else:
            self._table(snapshot, messages, final)

    def _plain(self, snapshot: RackSnapshot, messages: list[str]) -> None:
        stamp = time.strftime("%H:%M:%S")
        for board in snapshot.boards:
            state = _state_text(board.state, board.disk_trouble)
            if self._states.get(board.name) != state:
                self.out.write(f"{stamp} {board.name}: {state} (build {board.build}, "
                               f"{board.reports_this_boot} reports this boot)\n")
                self._states[board.name] = state
        for message in messages:
            self.out.write(message + "\n")
        self.out.flush()

    def _table(self, snapshot: RackSnapshot, messages: list[str], final: bool) -> None:
        from rich.console import Console, Group
        from rich.live import Live
        from rich.table import Table
        from rich.text import Text

        self._shown.extend(messages)
        summary = Text(f"oopswatch rack: {len(snapshot.boards)} boards, {snapshot.new_problems} new problems, "
                       f"output {snapshot.output}{' (stopped)' if final else ''}")
        table = Table(*_HEADER, expand=False)
        for row in self.rows(snapshot):
            cells = [Text(cell) for cell in row]
            cells[1].stylize(_STATE_STYLES.get(row[1].split(" ")[0], ""))
            table.add_row(*cells)
        view = Group(summary, table, Text("\n".join(self._shown)))
        if self._live is None:
            console = Console(file=self.out, force_terminal=True, width=self._width)
            self._live = Live(view, console=console, auto_refresh=False, transient=False)
            self._live.start()
        self._live.update(view, refresh=True)
        if final:
            self._live.stop()
            self._live = None
