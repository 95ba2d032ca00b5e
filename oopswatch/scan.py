"""`oopswatch scan`: the live pipeline run over saved logs, many files in one process."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TextIO

from oopswatch.boards import Board
from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.errors import EXIT_CRASH, EXIT_OK, InputError
from oopswatch.sinks.jsonl import format_json
from oopswatch.sinks.text import format_report
from oopswatch.sources.file import check_readable, read_chunks, read_log_start
from oopswatch.symbols.addr2line_process import stop_started_ahead

log = logging.getLogger("oopswatch.scan")


def run_scan(files: Sequence[str], as_json: bool, out: TextIO, arch: str | None = None,
             board: Board | None = None, symbols: dict | None = None) -> int:
    """Print every report in `files`. Exit code: 1 when a crash report was found, 2
    when the symbols given could not be used (the reports are still printed)."""
    for name in files:
        check_readable(name)
    errors, warnings = BuildChooser(board, symbols).preload(read_log_start(files[0])) if symbols or board else ([], [])
    for problem in errors + warnings:
        log.warning("%s", problem)
    # Imported only now: addr2line, started by the preload, reads vmlinux's debug info
    # while the detector's tables are compiled.
    from oopswatch.pipeline import scan_chunks

    crashes = 0
    try:
        for name in files:
            chooser = BuildChooser(board, symbols)
            reports = scan_chunks(read_chunks(name), name, symbolizer_for=chooser.symbolizer,
                                  arch=arch or (board.arch if board else None), on_banner=chooser.on_banner,
                                  in_start_order=True)
            try:
                for decoded in reports:  # printed as they come: memory stays small whatever the file holds
                    crashes += decoded.crash
                    out.write((format_json(decoded) if as_json else format_report(decoded)) + "\n")
                    out.flush()
            except OSError as error:
                raise InputError(f"{name}: {error.strerror}") from error
    finally:
        close_loaded_builds()
        stop_started_ahead()
    if errors:
        return InputError.exit_code
    return EXIT_CRASH if crashes else EXIT_OK

