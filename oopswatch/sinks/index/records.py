"""What the index stores and answers, as plain data: a report, a repeat of one, a board's
published state, and a problem (all reports of one title). No I/O here."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields

MAX_TEXT = 256 * 1024  # characters kept of a report's text or excerpt in the index


@dataclass(frozen=True)
class ReportRecord:
    """One report as the index keeps it. `uid` makes a write idempotent: a report sent
    twice (a commit whose answer was lost, a replayed spool) is stored once."""

    board: str
    build: str | None
    boot: str | None
    time: float  # host time of the report, seconds since the epoch
    kind: str
    title: str
    crash: bool
    corrupted: bool
    report_dir: str | None
    console_log: str | None
    host: str = ""  # the rack host (machine) that recorded it
    uid: str = ""
    repeats: int = 0  # times the same title came again in the same boot, after this one
    last_seen: float | None = None  # the last of those times (None: no repeat)
    id: int | None = None  # the row id, when read from an index
    text: str | None = None  # the decoded report (report.txt); read only for one report
    excerpt: str | None = None  # the console lines before and in it (excerpt.log)

    def to_json(self) -> dict:
        return {key: value for key, value in asdict(self).items() if key not in ("text", "excerpt")}

    def to_spool(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class RepeatRecord:
    """The same title came again in a boot: boot `boot` of `board` on `host` has now seen
    it `count` times (the first report included), the last at `time`. Absolute, so that
    applying it twice is applying it once."""

    host: str
    board: str
    boot: str | None
    title: str
    count: int
    time: float

    def to_spool(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class BoardRecord:
    """A board's state as its rack last published it (see sinks/board_status.py)."""

    host: str
    board: str
    state: str
    build: str
    boot: str | None
    boot_started: float | None  # host time of the boot banner; None before one
    reports_this_boot: int
    updated: float  # when the rack published it


@dataclass
class Problem:
    """All reports with one title: how often (repeats included), where, and when."""

    title: str
    kind: str
    crash: bool
    count: int
    boards: list[str] = field(default_factory=list)  # sorted
    builds: list[str] = field(default_factory=list)  # sorted; reports without a build name add none
    first_seen: float = 0.0
    last_seen: float = 0.0
    last_report_dir: str | None = None
    id: int | None = None
    hosts: list[str] = field(default_factory=list)  # sorted
    last_report_id: int | None = None
    first_seen_anywhere: float | None = None  # the problem's first report, whatever the filters

    def to_json(self) -> dict:
        return asdict(self)


OPERATIONS = {"report": ReportRecord, "repeat": RepeatRecord}


def operation_name(operation: ReportRecord | RepeatRecord) -> str:
    return "report" if isinstance(operation, ReportRecord) else "repeat"


def operation_from_spool(name: str, data: dict) -> ReportRecord | RepeatRecord:
    """The inverse of `to_spool`; keys this version does not know are ignored."""
    kind = OPERATIONS[name]
    known = {item.name for item in fields(kind)}
    return kind(**{key: value for key, value in data.items() if key in known})


def clean_text(value: object, limit: int | None = None) -> str | None:
    """Text both databases can store: UTF-8 (surrogates from file names escaped) without NUL."""
    if value is None:
        return None
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode(errors="backslashreplace").decode()
    if "\x00" in text:  # PostgreSQL's text cannot hold NUL
        text = text.replace("\x00", "\\x00")
    if limit is not None and len(text) > limit:
        text = text[:limit] + "\n[... cut by the report index]\n"
    return text
