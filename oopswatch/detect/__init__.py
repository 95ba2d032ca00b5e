"""Kernel report detection: console lines in, report blocks out."""

from oopswatch.detect.detector import DEFAULT_IDLE_TIMEOUT, Detector, guess_arch
from oopswatch.detect.events import BootBanner, Event, Panicked, Report
from oopswatch.detect.frames import Frame, parse_frame
from oopswatch.detect.kinds import KINDS, REPORT_TABLE

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
