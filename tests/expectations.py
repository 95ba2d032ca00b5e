"""Exact expected results of the detector on whole sets of logs, kept in the repository.

Each log set (syzkaller's corpus, the test kernels' captures, real consoles) has a JSON
file in tests/expectations/ recording what the detector makes of each log: the first
crash report's title, alternative titles, corrupted flag, crash type, the function the
title blames, its first and last lines, and the number of crash reports. A test
asserts that the detector still produces exactly that.

Where this differs from the log's own reference (syzkaller's `TITLE:`, `ALT:`, `TYPE:`,
`FRAME:`, `CORRUPTED:`, `START:`, `END:`, `REPORT:` or a capture's expected title), the
entry's `deviations` names each field with a one-line reason: the visible list of known
deviations. `pytest --update-expectations` rewrites the files from the current results
for review (git diff shows what moved); a new deviation gets the reason `UNEXPLAINED`,
which fails the test until someone writes the reason down.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.console import split_lines
from oopswatch.detect import Detector, Report
from oopswatch.detect.crash_type import crash_type

EXPECTATIONS_DIR = Path(__file__).resolve().parent / "expectations"
UNEXPLAINED = "UNEXPLAINED"


@dataclass
class Reference:
    """What a log is known to contain; None: the log's reference does not say."""

    title: str
    alt_titles: list[str] | None = None
    corrupted: bool | None = None
    type: str | None = None
    frame: str | None = None
    start: str | None = None
    end: str | None = None
    report: str | None = None


@dataclass
class LogCase:
    name: str
    data: bytes
    reference: Reference
    source: str = ""  # where the log comes from, for logs that are not ours
    wants_report_text: bool = False
    extra: dict = field(default_factory=dict)


def crash_reports(data: bytes) -> list[Report]:
    detector = Detector()
    events = []
    for line in split_lines([data]):
        events.extend(detector.feed(line))
    events.extend(detector.finish())
    return [event for event in events if isinstance(event, Report) and event.crash]


def observe(case: LogCase) -> dict:
    """What the detector makes of the log, as stored in an expectations file."""
    crashes = crash_reports(case.data)
    if not crashes:
        return {"title": "", "crashes": 0}
    first = min(crashes, key=lambda report: report.start_line)
    last_line = (first.lines + first.followups)[-1]
    observed = {
        "title": first.title,
        "alt_titles": first.alt_titles,
        "corrupted": first.corrupted,
        "type": crash_type(first.title),
        "frame": first.frame or "",
        "start": first.lines[0].text,
        "end": last_line.text,
        "crashes": len(crashes),
    }
    if case.reference.report is not None:
        observed["report"] = first.extracted_text()
    return observed


def deviations(case: LogCase, observed: dict) -> list[str]:
    """The fields in which `observed` differs from the log's reference."""
    reference = case.reference
    fields = []
    if observed["title"] != reference.title:
        fields.append("title")
    if not reference.title or not observed["title"]:
        return fields
    for name in ("alt_titles", "corrupted", "type", "frame", "report"):
        wanted = getattr(reference, name)
        if wanted is not None and observed.get(name) != wanted:
            fields.append(name)
    for name in ("start", "end"):
        wanted = getattr(reference, name)
        if wanted is not None and observed.get(name, "").strip() != wanted.strip():
            fields.append(name)
    return fields


def load(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def save(path: Path, entries: dict[str, dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")


def updated_entry(case: LogCase, observed: dict, previous: dict | None) -> dict:
    """The stored entry for `observed`, keeping the reasons already written down."""
    reasons = (previous or {}).get("deviations", {})
    entry = dict(observed)
    if case.source:
        entry["source"] = case.source
    fields = deviations(case, observed)
    if fields:
        entry["deviations"] = {name: reasons.get(name, UNEXPLAINED) for name in fields}
    return entry


def check(cases: list[LogCase], path: Path, update: bool) -> list[str]:
    """Problems between the detector's results and the stored expectations; with
    `update`, the file is rewritten first (and only unexplained deviations remain)."""
    stored = load(path)
    entries = {}
    for case in cases:
        observed = observe(case)
        entries[case.name] = (updated_entry(case, observed, stored.get(case.name)), observed)
    if update:
        stored = {name: entry for name, (entry, _) in entries.items()}
        save(path, stored)
    problems = []
    for name in sorted(set(stored) - set(entries)):
        problems.append(f"{name}: in {path.name} but no such log")
    for case in cases:
        observed = entries[case.name][1]
        expected = stored.get(case.name)
        if expected is None:
            problems.append(f"{case.name}: no expectation in {path.name} (run pytest --update-expectations)")
            continue
        for key in sorted(set(observed) | set(expected) - {"deviations", "source"}):
            if observed.get(key) != expected.get(key):
                problems.append(f"{case.name}: {key} is {observed.get(key)!r}, expected {expected.get(key)!r}")
        explained = expected.get("deviations", {})
        for name in deviations(case, observed):
            if explained.get(name, UNEXPLAINED) == UNEXPLAINED:
                wanted = getattr(case.reference, name, None) if name != "title" else case.reference.title
                problems.append(f"{case.name}: {name} {observed.get(name)!r} differs from the reference "
                                f"{wanted!r}: write the reason in {path.name}")
        for name in sorted(set(explained) - set(deviations(case, observed))):
            problems.append(f"{case.name}: deviation {name!r} listed in {path.name} no longer happens")
    return problems


def figures(cases: list[LogCase]) -> dict[str, int]:
    """Detected crashes, false alarms and first titles equal to the reference."""
    crash_cases = [case for case in cases if case.reference.title]
    clean_cases = [case for case in cases if not case.reference.title]
    observed = {case.name: observe(case) for case in cases}
    return {
        "crash logs": len(crash_cases),
        "detected": sum(observed[case.name]["crashes"] > 0 for case in crash_cases),
        "first title equal": sum(observed[case.name]["title"] == case.reference.title for case in crash_cases),
        "clean logs": len(clean_cases),
        "false alarms": sum(observed[case.name]["crashes"] > 0 for case in clean_cases),
    }
