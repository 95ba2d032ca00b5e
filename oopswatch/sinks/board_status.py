"""What the rack's status view and its metrics show: a snapshot of each board, taken by
the rack, so neither of them reaches into watchers or sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

STATES = ("connecting", "booting", "up", "crashed", "disconnected", "failed")


@dataclass(frozen=True)
class BoardSnapshot:
    name: str
    state: str  # one of STATES
    build: str  # the build chosen for the current boot, or "-"
    uptime: float | None  # seconds since the boot banner; None before one
    reports_this_boot: int
    console_bytes: int = 0
    console_lines: int = 0
    reconnects: int = 0
    reboots: int = 0  # boots seen after the first
    reports_by_kind: dict[str, int] = field(default_factory=dict)
    disk_trouble: str | None = None  # why the board's console log or reports cannot be written, while so
    console_bytes_lost: int = 0  # console bytes that did not fit in memory while the disk refused them
    reports_over_budget: int = 0  # reports counted by title, without a directory of their own
    boot: str | None = None  # the current boot's directory name


@dataclass(frozen=True)
class RackSnapshot:
    boards: tuple[BoardSnapshot, ...]
    new_problems: int
    output: Path
