"""How times, ages and states read on the dashboard (Jinja2 filters)."""

from __future__ import annotations

import time
from datetime import datetime

NEW_SECONDS = 86400  # a problem first seen this recently wears the "new" badge
STALE_SECONDS = 60.0  # a board whose rack has not published for this long is shown as stale


def when(epoch: float | None) -> str:
    """Local time, to the second."""
    if epoch is None:
        return "-"
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def ago(epoch: float | None, now: float | None = None) -> str:
    """How long ago, in the largest unit that fits: 45 s, 12 min, 3 h, 2 d."""
    if epoch is None:
        return "-"
    seconds = max(0.0, (time.time() if now is None else now) - epoch)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def is_new(first_seen: float | None, now: float | None = None) -> bool:
    return first_seen is not None and (time.time() if now is None else now) - first_seen < NEW_SECONDS


def board_state(state: str, updated: float, now: float | None = None) -> str:
    """The published state, or "stale" when its rack stopped publishing without saying so."""
    if state != "stopped" and (time.time() if now is None else now) - updated > STALE_SECONDS:
        return "stale"
    return state
