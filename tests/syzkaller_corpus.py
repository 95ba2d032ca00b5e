"""Reader for console logs with expected results in syzkaller's test file format.

The corpus in ../shared/corpus/syzkaller (or $OOPSWATCH_CORPUS; see its README) and
oopswatch's own real-console logs (tests/logs/real, tests/logs/userspace) share it:
header lines (`TITLE:`, `ALT:`, `TYPE:`, `FRAME:`, `CORRUPTED:`, `START:`, `END:`;
`#` comments) up to the first empty line, then the raw log, then optionally an empty
line, `REPORT:` and the expected report text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

CORPUS_DIR = Path(os.environ.get(
    "OOPSWATCH_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus" / "syzkaller"))


@dataclass
class CorpusLog:
    name: str
    title: str  # empty: the log holds no crash
    corrupted: bool
    log: bytes  # the raw console log, after the header
    alt_titles: list[str] = field(default_factory=list)
    header_lines: int = 0  # lines before the log starts, to map file line numbers
    fields: dict[str, list[str]] = field(default_factory=dict)  # every header field, as written
    report: str | None = None  # the expected report text, where the file gives one

    def first(self, key: str) -> str | None:
        values = self.fields.get(key)
        return values[0] if values else None


def read_corpus_log(path: Path, name: str | None = None) -> CorpusLog:
    data = path.read_bytes().replace(b"\r", b"")
    header, sep, rest = data.partition(b"\n\n")
    if not sep:
        header, rest = b"", data
    fields: dict[str, list[str]] = {}
    for raw in header.decode("latin-1").split("\n"):
        if raw.startswith("#") or ":" not in raw:
            continue
        key, _, value = raw.partition(":")
        fields.setdefault(key.strip(), []).append(value.strip())
    log, report_sep, report = rest.partition(b"\n\nREPORT:\n")
    return CorpusLog(
        name=name or path.name,
        title=(fields.get("TITLE") or [""])[0],
        corrupted=(fields.get("CORRUPTED") or ["N"])[0] == "Y",
        log=log + b"\n" if report_sep else rest,
        alt_titles=fields.get("ALT", []),
        header_lines=header.count(b"\n") + 2 if sep else 0,
        fields=fields,
        report=report.decode("latin-1") if report_sep else None,
    )


def corpus_logs() -> list[CorpusLog]:
    paths = sorted((p for p in CORPUS_DIR.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [read_corpus_log(path) for path in paths]
