"""Where oopswatch keeps what it derives from files (System.map indexes, compiled
patterns): $OOPSWATCH_CACHE, else $XDG_CACHE_HOME/oopswatch, else ~/.cache/oopswatch."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    base = os.environ.get("OOPSWATCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "oopswatch")
    return Path(base)
