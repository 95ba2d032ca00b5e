"""Reader for the syzkaller console-log corpus in ../shared/corpus/syzkaller (see its README)."""

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


def read_corpus_log(path: Path) -> CorpusLog:
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
    log, report_sep, _ = rest.partition(b"\n\nREPORT:\n")
    return CorpusLog(
        name=path.name,
        title=(fields.get("TITLE") or [""])[0],
        corrupted=(fields.get("CORRUPTED") or ["N"])[0] == "Y",
        log=log if report_sep else rest,
        alt_titles=fields.get("ALT", []),
        header_lines=header.count(b"\n") + 2 if sep else 0,
    )


def corpus_logs() -> list[CorpusLog]:
    paths = sorted((p for p in CORPUS_DIR.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))
    return [read_corpus_log(path) for path in paths]
