"""Known issues: the accepted problems of a tree, which a CI job records but does not
fail on.

    known_issues:
      - title: 'WARNING in lkdtm_WARNING'     # a regular expression, searched in the title
        reason: LKDTM test, triggered on purpose
        boards: [qemu-x86_64]                 # optional: only on these boards
        arches: [x86_64, arm64]               # optional
        builds: [x86_64-kallsyms]             # optional: build names
        until: 2026-12-31                     # optional: known until this day (included)

A report matching an entry whose `until` has passed is not known any more: it fails the
job again, and says which entry expired. Entries that matched nothing are listed, so the
file can be trimmed.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.yaml_config import check_keys, load_yaml_mapping

_TOP_KEYS = {"known_issues": list}
_ENTRY_KEYS = {"title": str, "reason": str, "boards": list, "arches": list, "builds": list, "until": str}


@dataclass
class KnownIssue:
    where: str  # `FILE: known_issues[N]`, for messages
    title: re.Pattern[str]
    reason: str
    boards: list[str] = field(default_factory=list)
    arches: list[str] = field(default_factory=list)
    builds: list[str] = field(default_factory=list)
    until: datetime.date | None = None
    seen: int = 0  # reports it matched (expired or not)

    def applies(self, title: str, board: str | None, arch: str | None, build: str | None) -> bool:
        return (self.title.search(title) is not None and _allowed(self.boards, board)
                and _allowed(self.arches, arch) and _allowed(self.builds, build))

    def expired(self, today: datetime.date) -> bool:
        return self.until is not None and today > self.until

    def describe(self) -> str:
        until = f", until {self.until.isoformat()}" if self.until else ""
        return f"'{self.title.pattern}' ({self.reason}{until})"


@dataclass
class Verdict:
    """What the known-issue list says about one report."""

    issue: KnownIssue | None  # the entry that matched, if one did
    known: bool  # matched an entry that has not expired

    def note(self) -> str:
        if self.issue is None:
            return ""
        if self.known:
            return f"known issue: {self.issue.reason}"
        return f"known issue expired on {self.issue.until.isoformat() if self.issue.until else '?'}: " \
               f"{self.issue.reason} ({self.issue.where})"


class KnownIssues:
    def __init__(self, issues: list[KnownIssue] | None = None, today: datetime.date | None = None):
        self.issues = issues or []
        self.today = today or datetime.date.today()

    def check(self, title: str, board: str | None = None, arch: str | None = None,
              build: str | None = None) -> Verdict:
        """The first entry that applies (a valid one before an expired one)."""
        matches = [issue for issue in self.issues if issue.applies(title, board, arch, build)]
        for issue in matches:
            issue.seen += 1
        valid = [issue for issue in matches if not issue.expired(self.today)]
        if valid:
            return Verdict(valid[0], True)
        return Verdict(matches[0] if matches else None, False)

    def not_seen(self) -> list[KnownIssue]:
        return [issue for issue in self.issues if issue.seen == 0]

    def __bool__(self) -> bool:
        return bool(self.issues)


def load_known_issues(path: str | Path | None, today: datetime.date | None = None) -> KnownIssues:
    """The entries of a known-issues file (none for None); a mistake is an `InputError`
    naming the file and the entry."""
    if path is None:
        return KnownIssues([], today)
    path = Path(path)
    data = load_yaml_mapping(path, InputError, "'known_issues:' with a list of entries")
    check_keys(path, data, _TOP_KEYS, "", InputError)
    issues = []
    for number, entry in enumerate(data.get("known_issues") or []):
        where = f"{path}: known_issues[{number}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected a mapping with 'title' and 'reason'")
        if isinstance(entry.get("until"), datetime.date):  # YAML reads 2026-12-31 as a date
            entry = {**entry, "until": entry["until"].isoformat()[:10]}
        check_keys(path, entry, _ENTRY_KEYS, f"known_issues[{number}].", InputError)
        for required in ("title", "reason"):
            if required not in entry:
                raise InputError(f"{where}: missing key '{required}'")
        try:
            title = re.compile(entry["title"])
        except re.error as error:
            raise InputError(f"{where}: title {entry['title']!r} is not a regular expression: {error}") from None
        lists = {}
        for key in ("boards", "arches", "builds"):
            values = entry.get(key, [])
            if not all(isinstance(value, str) for value in values):
                raise InputError(f"{where}: {key}: expected a list of names")
            lists[key] = values
        issues.append(KnownIssue(where, title, entry["reason"], until=_date(entry.get("until"), where), **lists))
    return KnownIssues(issues, today)


def _date(value: str | None, where: str) -> datetime.date | None:
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{where}: until {value!r} is not a date (2026-12-31)") from None


def _allowed(names: list[str], name: str | None) -> bool:
    return not names or name in names
