"""Live watching: one board's console, from its source to reports on disk.

Wiring only: bytes from the source go to the raw console log first, then through the
pipeline; reports go to the report writer and the terminal. A new boot banner starts a
new boot directory. When the port goes away the watcher says so once, retries with
backoff, notes the gap in the console log and carries on.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from oopswatch.build_choice import BuildChooser
from oopswatch.decode import DecodedReport
from oopswatch.detect import BootBanner
from oopswatch.errors import PortError
from oopswatch.pipeline import Pipeline
from oopswatch.sinks.console_log import DEFAULT_MAX_BYTES, ConsoleLog
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sinks.report_dir import RecentLines, ReportWriter
from oopswatch.sources.base import ByteSource, SourceClosed

READ_TIMEOUT = 0.05
BACKOFF_START = 0.25
BACKOFF_MAX = 5.0


@dataclass
class BootSession:
    """One boot of the board: its directory, console log and reports."""

    number: int
    directory: Path
    log: ConsoleLog
    writer: ReportWriter
    started: float
    banner: str | None = None
    reports: list[DecodedReport] = field(default_factory=list)


@dataclass
class WatchOptions:
    board: str  # a name for directories and messages
    output: Path
    echo: bool = True  # copy the console to the terminal
    color: bool = False
    exit_on_oops: bool = False
    idle_timeout: float = 2.0
    arch: str | None = None
    max_log_bytes: int = DEFAULT_MAX_BYTES
    junit: str | None = None


class Watcher:
    def __init__(self, source: ByteSource, chooser: BuildChooser, options: WatchOptions,
                 out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                 on_report: Callable[[DecodedReport, BootSession], None] | None = None):
        self.source = source
        self.chooser = chooser
        self.options = options
        self.out = out
        self.err = err
        self.on_report = on_report
        self.stop_event = threading.Event()
        self.recent = RecentLines()
        self.sessions: list[BootSession] = []
        self.pipeline = Pipeline(source.name, symbolizer_for=lambda: chooser if chooser.has_symbols else None,
                                 idle_timeout=options.idle_timeout, arch=options.arch)
        self.session = self._new_session(None)
        self.connected = False
        self.reconnects = 0
        self.bytes = 0
        self.lines = 0

    # -- sessions ---------------------------------------------------------------------

    def _new_session(self, banner: BootBanner | None) -> BootSession:
        number = len(self.sessions) + 1
        stamp = time.strftime("%Y%m%d-%H%M%S")
        directory = self.options.output / self.options.board / f"{stamp}-boot{number}"
        log = ConsoleLog(directory, max_bytes=self.options.max_log_bytes)
        session = BootSession(number, directory, log, ReportWriter(directory), time.time(),
                              banner.banner if banner else None)
        self.sessions.append(session)
        return session

    def _start_boot(self, banner: BootBanner, chunk: bytes) -> None:
        """A banner went by: later bytes go to a new boot's log, which starts with the
        banner line (those bytes are also, already, at the end of the previous log)."""
        previous = self.session
        self.chooser.on_banner(banner)
        if previous.banner is None and not previous.reports:
            previous.banner = banner.banner  # the first boot seen; what came before was its boot loader
            return
        self.session = self._new_session(banner)
        position = chunk.rfind(b"Linux version ")
        if position >= 0:
            line_start = chunk.rfind(b"\n", 0, position) + 1
            self.session.log.write(chunk[line_start:], banner.line.host_time)
        self.session.log.note(f"boot {self.session.number}; the previous boot's console log is "
                              f"{previous.log.path}")
        previous.log.close()

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> int:
        """Watch until the source ends for good, `stop()`, Ctrl-C, or a crash with
        exit_on_oops. Returns the exit code."""
        self.source.open()  # a port that cannot be opened at all is the user's error, now
        self.connected = True
        try:
            while not self.stop_event.is_set():
                try:
                    chunk = self.source.read(READ_TIMEOUT)
                except SourceClosed as closed:
                    if closed.final:
                        break
                    self._reconnect(str(closed))
                    continue
                now = time.time()
                if chunk:
                    self._handle_chunk(chunk, now)
                else:
                    self._handle_reports(self.pipeline.expire(now).reports)
                if self.options.exit_on_oops and any(r.crash for s in self.sessions for r in s.reports):
                    return 1
        except KeyboardInterrupt:
            pass
        finally:
            self._finish()
        return 0

    def stop(self) -> None:
        self.stop_event.set()

    def _handle_chunk(self, chunk: bytes, now: float) -> None:
        self.session.log.write(chunk, now)  # raw bytes reach the disk first
        self.bytes += len(chunk)
        out = self.pipeline.feed(chunk, now)
        self.lines += len(out.lines)
        self.recent.extend(out.lines)
        if self.options.echo:
            self.out.write("".join(line.text + "\n" for line in out.lines))
            self.out.flush()
        for event in out.events:  # in order: a report a reboot cut short belongs to the old boot
            if isinstance(event, BootBanner):
                self._start_boot(event, chunk)
            else:
                self._handle_reports([event])

    def _handle_reports(self, reports: list[DecodedReport]) -> None:
        for report in reports:
            session = self.session
            session.reports.append(report)
            directory = session.writer.write(report, self.recent)
            mark = "crash" if report.crash else "note"
            line = f"*** oopswatch [{self.options.board}] {mark}: {report.title}  ({directory})"
            if self.options.color:
                line = f"\x1b[1;31m{line}\x1b[0m" if report.crash else f"\x1b[1;33m{line}\x1b[0m"
            print(line, file=self.out, flush=True)
            if self.on_report is not None:
                self.on_report(report, session)

    def _reconnect(self, reason: str) -> None:
        """Say so once, note the gap, retry with backoff until the port is back."""
        self.connected = False
        self.source.close()
        gone = time.time()
        self.session.log.note(f"console lost: {reason}", gone)
        print(f"oopswatch: {self.source.name}: console lost ({reason}); retrying", file=self.err, flush=True)
        delay = BACKOFF_START
        while not self.stop_event.is_set():
            self._handle_reports(self.pipeline.expire(time.time()).reports)
            if self.stop_event.wait(delay):
                return
            try:
                self.source.open()
            except PortError:
                delay = min(delay * 2, BACKOFF_MAX)
                continue
            back = time.time()
            self.reconnects += 1
            self.connected = True
            self.session.log.note(f"console back after a gap of {back - gone:.1f} s", back)
            print(f"oopswatch: {self.source.name}: console back after {back - gone:.1f} s", file=self.err,
                  flush=True)
            return

    def _finish(self) -> None:
        tail = self.pipeline.finish(time.time())
        self.recent.extend(tail.lines)
        self._handle_reports(tail.reports)
        self.source.close()
        for session in self.sessions:
            session.log.close()
        if self.options.junit:
            write_junit(self.options.junit, "oopswatch watch", [
                TestCase(name=f"{self.options.board} boot {session.number}", classname="oopswatch.watch",
                         seconds=0.0, reports=[r for r in session.reports if r.crash],
                         failure=f"{len([r for r in session.reports if r.crash])} kernel report(s)"
                         if any(r.crash for r in session.reports) else None,
                         system_out=f"console log: {session.log.path}\n")
                for session in self.sessions])
