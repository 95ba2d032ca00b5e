"""Carrying on after a watcher that was killed (`kill -9`, a power cut of the host, an
OOM kill): its boots that are not marked complete are read again from their report
marker (sinks/progress.py) to the end of their console log, and what the killed
watcher had not reported is reported now; no report it had written is written twice.

The last such boot is resumed: its console log is appended to and the pipeline that
read its tail reads the port next, so a report the kill cut in two is still one
report. Earlier unfinished boots (a reboot while the worker was behind) are read to
their end and closed.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from oopswatch.console import Line
from oopswatch.detect import BootBanner, Report
from oopswatch.detect.events import banner_release
from oopswatch.pipeline import Pipeline
from oopswatch.sinks.progress import Progress, read_progress
from oopswatch.sinks.report_dir import ReportWriter

if TYPE_CHECKING:
    from oopswatch.watch import BootSession, Watcher

MARGIN_LINES = 500  # read this many lines before the marker: the start of a report still open there
MAX_REPLAY_BYTES = 16 * 1024 * 1024  # and never more than this of a log's tail
CHUNK = 65536


def unfinished_boots(board_dir: Path) -> list[tuple[Path, Progress]]:
    """Boot directories of a board that a killed watcher left unfinished, oldest first."""
    found = []
    try:
        entries = list(board_dir.iterdir())
    except OSError:
        return []
    for directory in entries:
        if directory.name.startswith(".") or not directory.is_dir():
            continue
        progress = read_progress(directory)
        if progress is None or progress.complete or not progress.resumable:
            continue
        log = directory / "console.log"
        found.append((log.stat().st_mtime if log.exists() else directory.stat().st_mtime, directory, progress))
    return [(directory, progress) for _, directory, progress in sorted(found)]


def resume_boots(watcher: Watcher) -> BootSession | None:
    """Report what the killed watcher's unfinished boots hold and it had not reported;
    the session of the last one, which the watcher carries on with (None: none)."""
    boots = unfinished_boots(watcher._board_dir())
    session = None
    for index, (directory, progress) in enumerate(boots):
        last = index == len(boots) - 1
        session = _resume(watcher, directory, progress, last)
    return session


def _resume(watcher: Watcher, directory: Path, progress: Progress, last: bool) -> BootSession:
    from oopswatch.watch import BootSession

    log = watcher._console_log(directory)
    session = BootSession(watcher.boots + 1, directory, log, ReportWriter(directory), time.time(),
                          progress.banner)
    watcher.sessions.append(session)
    watcher.boots += 1
    banner = None
    if progress.banner:
        banner = BootBanner(Line(0, progress.banner, 0.0), progress.banner, banner_release(progress.banner) or "")
    watcher.worker.new_boot(session, banner, progress, resumed=True)
    pipeline = watcher.pipeline if last else Pipeline(idle_timeout=watcher.options.idle_timeout,
                                                      arch=watcher.options.arch)
    first_line, offset = _replay_start(log.path, progress.line + 1 - MARGIN_LINES)
    session.line_offset = 1 - first_line  # the pipeline counts from 1 at the first line read again
    replayed = skipped = 0
    with log.path.open("rb") if log.path.exists() else open(os.devnull, "rb") as handle:
        handle.seek(offset)
        tail = b""
        while chunk := handle.read(CHUNK):
            tail = chunk
            replayed_now, skipped_now = _submit(watcher, session, progress, pipeline.feed(chunk, time.time()).events)
            replayed += replayed_now
            skipped += skipped_now
    if not last:
        replayed_now, _ = _submit(watcher, session, progress, pipeline.finish(time.time()).events)
        replayed += replayed_now
        log.close()
        session.ended = time.time()
    else:
        watcher._head = tail[tail.rfind(b"\n") + 1:]
    watcher.log.info("carrying on after a watcher that stopped without finishing: %s read again from line %d, "
                     "%d report(s) it had not reported%s", log.path, first_line, replayed,
                     "; appending to it" if last else "")
    if last and log.trouble is None and not pipeline.busy and log.lines_written and not watcher._head:
        note = log.note("watching again after a watcher that stopped without finishing; bytes the console sent "
                        "meanwhile may be missing", time.time())
        pipeline.feed(note, time.time())
    return session


def _submit(watcher: Watcher, session: BootSession, progress: Progress, events: list) -> tuple[int, int]:
    """The reports the killed watcher had not handled go to the worker."""
    submitted = skipped = 0
    handled = set(progress.handled)
    for event in events:
        if not isinstance(event, Report):
            continue  # a banner in a tail: that boot's own directory has it
        if (event.end_line - session.line_offset <= progress.line
                or event.start_line - session.line_offset in handled):
            skipped += 1
            continue
        session.detected += 1
        watcher.worker.submit(session, event, session.line_offset)
        submitted += 1
    return submitted, skipped


def _replay_start(path: Path, line: int) -> tuple[int, int]:
    """The line number and byte offset to read a log again from: `line`, or a later
    line when that one starts more than MAX_REPLAY_BYTES before the end."""
    try:
        limit = max(0, path.stat().st_size - MAX_REPLAY_BYTES)
    except OSError:
        return 1, 0
    number, start, position = 1, 0, 0  # line `number` starts at byte `start`
    with path.open("rb") as handle:
        while number < line or start < limit:
            block = handle.read(1 << 20)
            if not block:
                break
            count = block.count(b"\n")
            if count:
                # Both only grow: if the condition still holds after the block's last
                # newline, it held at every one before it.
                after = position + block.rfind(b"\n") + 1
                if number + count < line or after < limit:
                    number, start = number + count, after
                else:
                    index = -1
                    while number < line or start < limit:
                        index = block.index(b"\n", index + 1)
                        number, start = number + 1, position + index + 1
            position += len(block)
    return number, start
