"""Reports on disk: one directory per report under its boot's directory, holding
`report.txt`, `report.json` and `excerpt.log` (the console lines before and in it)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from oopswatch.decode import DecodedReport
from oopswatch.sinks.text import format_report


class ReportWriter:
    def __init__(self, directory: str | os.PathLike[str]):
        self.directory = Path(directory)
        self.count = 0

    def write(self, decoded: DecodedReport) -> Path:
        self.count += 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", decoded.title).strip("-")[:60] or "report"
        target = self.directory / f"report-{self.count:03d}-{slug}"
        target.mkdir(parents=True, exist_ok=True)
        self.rewrite(target, decoded)
        return target

    def rewrite(self, target: Path, decoded: DecodedReport) -> None:
        """Write (or write again, when something was learnt later) one report's files."""
        _write_atomically(target / "report.txt", format_report(decoded))
        report = decoded.report
        excerpt = report.before + report.lines + report.followups
        _write_atomically(target / "excerpt.log", "".join(line.text + "\n" for line in excerpt))
        # Last: a report.json that exists means the report is complete.
        _write_atomically(target / "report.json", json.dumps(decoded.to_json(), indent=2) + "\n")


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    temporary.replace(path)
