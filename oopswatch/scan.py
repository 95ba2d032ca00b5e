"""`oopswatch scan`: the live pipeline run over saved logs, many files in one process."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from oopswatch.errors import InputError
from oopswatch.pipeline import scan_chunks
from oopswatch.sinks.jsonl import format_json
from oopswatch.sinks.text import format_report
from oopswatch.sources.file import read_chunks


def run_scan(files: Sequence[str], as_json: bool, out: TextIO, arch: str | None = None) -> int:
    """Print every report in `files`; return the number of crash reports."""
    for name in files:
        if name != "-" and not Path(name).is_file():
            raise InputError(f"{name}: no such file")
    crashes = 0
    for name in files:
        try:
            reports = sorted(scan_chunks(read_chunks(name), name, arch=arch), key=lambda r: r.report.start_line)
        except OSError as error:
            raise InputError(f"{name}: {error.strerror}") from error
        for decoded in reports:
            crashes += decoded.crash
            out.write((format_json(decoded) if as_json else format_report(decoded)) + "\n")
        out.flush()
    return crashes
