"""Reports on disk: one directory per report under its boot's directory, holding
`report.txt`, `report.json` and `excerpt.log` (the console lines before and in it).

A report directory appears whole or not at all: its files are written into a hidden
temporary directory, fsynced with it, and the directory is renamed into place (a
killed watcher or a full disk leaves at most a `.report-*.tmp` that the next watcher
of the board removes). Numbers are zero-padded to six digits, so the directories sort.

The same problem again in one boot updates its first report instead of making a new
directory: `repeats` and `last_seen` in report.json, one `repeated:` line in report.txt.
Reports beyond the board's budget of new directories a minute are counted by title in
`reports-over-budget.json` beside them (the console log holds them all).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from oopswatch.decode import DecodedReport
from oopswatch.regex_cache import compile_regex
from oopswatch.sinks.text import format_report

NUMBER_DIGITS = 6
OVER_BUDGET_FILE = "reports-over-budget.json"
_REPORT_DIR_RE = compile_regex(r"report-(\d+)-")
_REPEAT_LINE = "   repeated: "


def report_number(directory: Path) -> int | None:
    match = _REPORT_DIR_RE.match(directory.name)
    return int(match.group(1)) if match else None


class ReportWriter:
    def __init__(self, directory: str | os.PathLike[str], first_number: int = 1):
        self.directory = Path(directory)
        self.count = first_number - 1  # the number of the last report directory made

    def write(self, decoded: DecodedReport) -> Path:
        """A new report directory, whole: raises OSError (nothing left behind) when the
        disk refuses; the same report can be written again later."""
        number = self.count + 1
        slug = re.sub(r"[^A-Za-z0-9]+", "-", decoded.title).strip("-")[:60] or "report"
        target = self.directory / f"report-{number:0{NUMBER_DIGITS}d}-{slug}"
        temporary = self.directory / f".report-{number:0{NUMBER_DIGITS}d}.tmp"
        try:
            if temporary.exists():
                shutil.rmtree(temporary)
            temporary.mkdir()
            self._write_files(temporary, decoded, sync=True)
            _fsync_path(temporary)
            temporary.rename(target)
            _fsync_path(self.directory)
        except OSError:
            shutil.rmtree(temporary, ignore_errors=True)
            raise
        self.count = number
        return target

    def rewrite(self, target: Path, decoded: DecodedReport) -> None:
        """Write one report's files again, when something was learnt later (QEMU's
        events): each file replaced whole, its repeats kept."""
        try:
            before = json.loads((target / "report.json").read_text())
        except (OSError, ValueError):
            before = {}
        self._write_files(target, decoded, sync=False)
        if before.get("repeats"):
            lines = tuple(before.get("last_lines") or (0, 0))
            self.record_repeats(target, before["repeats"], before["last_seen"], lines)  # type: ignore[arg-type]

    def _write_files(self, target: Path, decoded: DecodedReport, sync: bool) -> None:
        report = decoded.report
        excerpt = report.before + report.lines + report.followups
        _write_atomically(target / "excerpt.log", "".join(line.text + "\n" for line in excerpt), sync)
        _write_atomically(target / "report.txt", format_report(decoded), sync)
        data = decoded.to_json()
        data.setdefault("repeats", 0)
        data.setdefault("last_seen", report.start_time)
        # Last: a report.json that exists means the report is complete.
        _write_atomically(target / "report.json", json.dumps(data, indent=2) + "\n", sync)

    @staticmethod
    def record_repeats(target: Path, repeats: int, last_seen: float, lines: tuple[int, int]) -> None:
        """The report's problem happened `repeats` more times in this boot, the last one
        at `last_seen` on console lines `lines`: say so in report.json and report.txt."""
        json_path = target / "report.json"
        data = json.loads(json_path.read_text())
        if data.get("repeats", 0) >= repeats:
            return  # already said (a restarted watcher applying what it had saved)
        data.update(repeats=repeats, last_seen=last_seen, last_lines=list(lines))
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(last_seen))
        note = (f"{_REPEAT_LINE}{repeats} more time{'s' if repeats != 1 else ''} in this boot, the last at {stamp} "
                f"(console lines {lines[0]}-{lines[1]})")
        text_path = target / "report.txt"
        lines_of_text = text_path.read_text().split("\n")
        at = next((index for index, line in enumerate(lines_of_text) if line.startswith(_REPEAT_LINE)), None)
        if at is None:
            at = next((index for index, line in enumerate(lines_of_text) if not line.strip()), len(lines_of_text))
            lines_of_text.insert(at, note)
        else:
            lines_of_text[at] = note
        _write_atomically(text_path, "\n".join(lines_of_text), sync=False)
        _write_atomically(json_path, json.dumps(data, indent=2) + "\n", sync=False)

    def write_over_budget(self, summary: dict) -> None:
        _write_atomically(self.directory / OVER_BUDGET_FILE, json.dumps(summary, indent=2) + "\n", sync=False)

    def read_over_budget(self) -> dict:
        try:
            return json.loads((self.directory / OVER_BUDGET_FILE).read_text())
        except (OSError, ValueError):
            return {}

    def existing(self) -> list[tuple[Path, dict]]:
        """The report directories already here and their report.json, by number (a
        restarted watcher carries on with them); half-written temporary ones are removed."""
        found = []
        with contextlib.suppress(OSError):
            for path in self.directory.iterdir():
                if path.name.startswith(".report-") and path.name.endswith(".tmp"):
                    shutil.rmtree(path, ignore_errors=True)
                elif report_number(path) is not None:
                    try:
                        found.append((path, json.loads((path / "report.json").read_text())))
                    except (OSError, ValueError):
                        continue
        found.sort(key=lambda item: report_number(item[0]) or 0)
        if found:
            self.count = max(self.count, report_number(found[-1][0]) or 0)
        return found


def _write_atomically(path: Path, text: str, sync: bool) -> None:
    temporary = path.with_name(path.name + ".tmp")
    try:
        with temporary.open("w", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(text)
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
        temporary.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def _fsync_path(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
