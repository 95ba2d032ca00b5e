"""How far a boot's reports are on disk: `.progress.json` in the boot's directory, the
marker a restarted watcher starts from after a crash or `kill -9`.

It holds the last console line (of the boot's console.log) whose reports are all
handled and the first lines of the reports handled past it; whether the boot is over
(`complete`: a clean stop or the next boot); and the counts the slower files do not
show yet (repeats not yet in a report.json, reports over the budget not yet in
reports-over-budget.json). It is replaced in one rename after each report, so what a
restart reads is always one consistent moment. Counts are absolute, so applying them
twice changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

PROGRESS_FILE = ".progress.json"
VERSION = 1


@dataclass
class Progress:
    line: int = 0  # every report ending on or before this console.log line is handled
    complete: bool = False  # the boot is over: nothing to resume
    resumable: bool = True  # False: a boot no later watcher carries on (a QEMU boot)
    banner: str | None = None  # the boot's banner, to choose its build again
    handled: list[int] = field(default_factory=list)  # first lines of reports past `line` handled already
    repeats: dict[str, list] = field(default_factory=dict)  # report dir name ▶ [repeats, last_seen, start, end]
    over_budget: dict[str, list] = field(default_factory=dict)  # title ▶ [count, kind, first line, last line]

    def to_json(self) -> dict:
        return {"version": VERSION, "line": self.line, "complete": self.complete, "resumable": self.resumable,
                "banner": self.banner, "handled": self.handled, "repeats": self.repeats,
                "over_budget": self.over_budget}


def read_progress(directory: Path) -> Progress | None:
    """The marker of a boot directory; None when there is none (or it is unreadable)."""
    try:
        data = json.loads((directory / PROGRESS_FILE).read_text())
        banner = data.get("banner")
        return Progress(int(data["line"]), bool(data["complete"]), bool(data.get("resumable", True)),
                        banner if isinstance(banner, str) else None, [int(line) for line in data.get("handled") or []],
                        dict(data.get("repeats") or {}), dict(data.get("over_budget") or {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_progress(directory: Path, progress: Progress) -> None:
    """Replace the marker in one rename (no fsync: it survives a killed process, which is
    what it is for; the console log it points into is not fsynced either). Raises OSError."""
    path = directory / PROGRESS_FILE
    temporary = path.with_name(path.name + ".tmp")
    try:
        temporary.write_text(json.dumps(progress.to_json(), separators=(",", ":")))
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
