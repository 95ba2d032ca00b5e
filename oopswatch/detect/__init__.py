"""Kernel report detection: console lines in, report blocks out.

The names below are imported on first use (PEP 562): the symbol side imports
`oopswatch.detect.events` and `oopswatch.detect.frames` without compiling the detector's
tables, so `oopswatch scan` starts addr2line while the detector is still being imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oopswatch.detect.detector import DEFAULT_IDLE_TIMEOUT, Detector, guess_arch
    from oopswatch.detect.events import BootBanner, Event, Panicked, Report
    from oopswatch.detect.frames import Frame, parse_frame
    from oopswatch.detect.kinds import KINDS, REPORT_TABLE

# Exported name ▶ the submodule that defines it.
_HOMES = {
    "DEFAULT_IDLE_TIMEOUT": "detector",
    "Detector": "detector",
    "guess_arch": "detector",
    "BootBanner": "events",
    "Event": "events",
    "Panicked": "events",
    "Report": "events",
    "Frame": "frames",
    "parse_frame": "frames",
    "KINDS": "kinds",
    "REPORT_TABLE": "kinds",
}

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "KINDS",
    "REPORT_TABLE",
    "BootBanner",
    "Detector",
    "Event",
    "Frame",
    "Panicked",
    "Report",
    "guess_arch",
    "parse_frame",
]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
