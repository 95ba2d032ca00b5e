"""A console watched in a background thread, with a shell session on the same bytes.

The watcher (the project's one console loop) reads the port, logs every byte, detects
and writes reports; through its `on_bytes` hook it hands each chunk to a pexpect spawn,
which the session reads on the caller's thread. Each report is then given to the phase
during which it began (the boot, a command, a test): a command's reports are those that
began after it was typed and before its exit status came back and the reports under
way were complete.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.boards import ShellSettings
from oopswatch.build_choice import BuildChooser
from oopswatch.decode import DecodedReport
from oopswatch.errors import InputError, OopswatchError
from oopswatch.harness.shell import ShellSession
from oopswatch.harness.spawn import ConsoleSpawn
from oopswatch.sources.base import ByteSource
from oopswatch.watch import BootSession, Watcher, WatchOptions

log = logging.getLogger("oopswatch.harness")

SETTLE_EXTRA = 1.0  # beyond the watcher's idle timeout, the longest wait for a report under way


@dataclass
class SeenReport:
    """A report the watcher wrote, and where."""

    report: DecodedReport = field(repr=False)
    directory: Path  # the report's folder
    board: str
    arch: str | None
    console_log: Path

    @property
    def title(self) -> str:
        return self.report.title

    @property
    def crash(self) -> bool:
        return self.report.crash

    @property
    def build(self) -> str | None:
        return (self.report.build or {}).get("name")

    @property
    def start_time(self) -> float:
        return self.report.report.start_time


class ReportLedger:
    """The reports as they come; each is handed out once, to the first phase that asks
    for the reports begun up to a time after its own beginning."""

    def __init__(self) -> None:
        self._all: list[SeenReport] = []
        self._waiting: list[SeenReport] = []
        self._lock = threading.Lock()

    def add(self, seen: SeenReport) -> None:
        with self._lock:
            self._all.append(seen)
            self._waiting.append(seen)

    def take(self, until: float | None = None) -> list[SeenReport]:
        """The reports not handed out yet that began at `until` or before (all: None)."""
        with self._lock:
            out = [seen for seen in self._waiting if until is None or seen.start_time <= until]
            self._waiting = [seen for seen in self._waiting if not any(seen is taken for taken in out)]
            return out

    def between(self, start: float, end: float) -> list[SeenReport]:
        """The reports begun in [start, end], handed out or not."""
        with self._lock:
            return [seen for seen in self._all if start <= seen.start_time <= end]


@dataclass
class CommandRun:
    """One command typed on the console: what came back, and the reports during it."""

    command: str
    started: float  # epoch seconds
    seconds: float
    output: str
    exit_status: int | None  # None: it did not finish (see `problem`)
    problem: str | None = None
    reports: list[SeenReport] = field(default_factory=list)  # begun while it ran (the phase decides whose)


class LiveConsole:
    """A watcher on its own thread, a shell session on this one."""

    def __init__(self, source: ByteSource, chooser: BuildChooser, options: WatchOptions,
                 shell: ShellSettings | None = None, on_report=None, tick=None):
        write = getattr(source, "write", None)
        if write is None:
            raise InputError(f"{source.name}: this console cannot be written to, so no command can be run on it")
        self.options = options
        self.extra_on_report = on_report
        self.spawn = ConsoleSpawn(write, name=options.board or source.name)
        self._tick = tick
        self._rounds = 0  # turns of the watcher's loop that have ended
        self.watcher = Watcher(source, chooser, options, out=None, on_occurrence=self._on_report, tick=self._count,
                               on_bytes=lambda chunk, now: self.spawn.feed(chunk))
        self.shell = ShellSession(self.spawn, shell)
        self.ledger = ReportLedger()
        self.error: BaseException | None = None  # what stopped the watcher, if not a stop or the console's end
        self._thread = threading.Thread(target=self._watch, name=f"oopswatch-{options.board}", daemon=True)

    # -- the watcher's thread -----------------------------------------------------------

    def start(self, already_open: bool = False) -> None:
        """Open the port here (a `PortError` is the caller's), then watch it on a thread."""
        if not already_open:
            self.watcher.source.open()
        self.watcher.attach()
        self._thread.start()

    def _watch(self) -> None:
        reason = "the watcher stopped"
        try:
            self.watcher.run()
            if self.watcher.source_ended:
                reason = "the console closed"
        except BaseException as error:
            self.error = error
            reason = f"the watcher stopped: {error}"
            if not isinstance(error, OopswatchError):
                log.exception("the watcher stopped on an unexpected error")
        finally:
            self.spawn.end(reason)

    def _count(self, watcher: Watcher, now: float) -> None:
        self._rounds += 1
        if self._tick is not None:
            self._tick(watcher, now)

    def _on_report(self, report: DecodedReport, session: BootSession, directory: Path, new: bool = True) -> None:
        """Every report, repeats of a title in one boot too (the test they happened in
        fails); `extra_on_report` (the index) gets each report directory once."""
        self.ledger.add(SeenReport(report, directory, self.options.board, self.options.arch or report.report.arch,
                                   session.directory / "console.log"))
        if new and self.extra_on_report is not None:
            self.extra_on_report(report, session, directory)

    # -- the session's side -------------------------------------------------------------

    @property
    def directory(self) -> Path:
        """The first boot's folder (console log, reports)."""
        sessions = self.watcher.sessions
        return sessions[0].directory if sessions else self.options.output / self.options.board

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait_shell(self, timeout: float) -> None:
        self.shell.wait_ready(timeout)

    def settle(self) -> None:
        """Wait until the reports under way are out (or the console ends): no report is
        being collected, and the loop turn that may have just ended one (and is handing
        it on) is over."""
        deadline = time.monotonic() + self.options.idle_timeout + SETTLE_EXTRA
        while self.running and time.monotonic() < deadline:
            if not self.watcher.reports_pending:
                turn = self._rounds  # turns ended so far; the one under way may be handing a report on
                while self._rounds <= turn and self.running and time.monotonic() < deadline:
                    time.sleep(0.005)
                if not self.watcher.reports_pending:
                    return
            time.sleep(0.02)

    def run(self, command: str, timeout: float) -> CommandRun:
        started = time.time()
        begun = time.monotonic()
        result = self.shell.run(command, timeout)
        seconds = time.monotonic() - begun
        self.settle()
        return CommandRun(command, started, seconds, result.output, result.exit_status, result.problem,
                          self.ledger.between(started, time.time()))

    def take_reports(self, until: float | None = None) -> list[SeenReport]:
        return self.ledger.take(until)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop watching: the watcher drains the port, writes open reports, closes the logs."""
        self.watcher.stop()
        if self._thread.is_alive():
            self._thread.join(timeout)
