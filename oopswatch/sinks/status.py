"""The rack's status view: a table that redraws in place on a terminal, and plain log
lines (state changes and messages) when the output is not a terminal."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from oopswatch.rack import Rack

_HOME_AND_CLEAR = "\x1b[H\x1b[2J"
_STATE_COLOURS = {"up": "32", "booting": "36", "crashed": "1;31", "disconnected": "33", "failed": "1;31",
                  "connecting": "33"}


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return f"{days}d{hours:02d}h" if days else f"{hours}:{minutes:02d}:{seconds:02d}"


class StatusView:
    def __init__(self, rack: Rack, out: TextIO):
        self.rack = rack
        self.out = out
        self.tty = out.isatty()
        self._states: dict[str, str] = {}
        self._log: list[str] = []  # recent messages, shown under the table

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        return [(board.name, board.state, board.build, _duration(board.uptime), str(board.reports_this_boot))
                for board in self.rack.boards]

    def update(self, messages: list[str], final: bool = False) -> None:
        stamp = time.strftime("%H:%M:%S")
        if not self.tty:
            for name, state, build, _, reports in self.rows():
                if self._states.get(name) != state:
                    self.out.write(f"{stamp} {name}: {state} (build {build}, {reports} reports this boot)\n")
                    self._states[name] = state
            for message in messages:
                self.out.write(f"{stamp} {message}\n")
            self.out.flush()
            return
        self._log = (self._log + [f"{stamp} {message}" for message in messages])[-8:]
        header = ("board", "state", "build", "uptime", "reports")
        rows = self.rows()
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(5)]
        lines = ["  ".join(text.ljust(widths[i]) for i, text in enumerate(header)),
                 "  ".join("-" * width for width in widths)]
        for row in rows:
            cells = [text.ljust(widths[i]) for i, text in enumerate(row)]
            cells[1] = f"\x1b[{_STATE_COLOURS.get(row[1], '0')}m{cells[1]}\x1b[0m"
            lines.append("  ".join(cells))
        summary = (f"oopswatch rack: {len(rows)} boards, {self.rack.new_problems} new problems, "
                   f"output {self.rack.config.output}{' (stopped)' if final else ''}")
        self.out.write(_HOME_AND_CLEAR + summary + "\n\n" + "\n".join(lines) + "\n\n" + "\n".join(self._log) + "\n")
        self.out.flush()
