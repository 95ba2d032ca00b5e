"""Live watching: one board's console, from its source to reports on disk.

Wiring only: bytes from the source go to the raw console log first, then through the
pipeline (console lines, detector); each report the detector closes goes to the
board's report worker, which chooses the build, decodes and writes it on a thread of
its own, so nothing slow ever stands between the port and console.log. A new boot
banner starts a new boot directory. When the port goes away the watcher says so once,
notes the gap in the console log, retries (at once when the device node reappears,
else with backoff) and carries on with the same pipeline, so nothing it already had
is lost. A disk that fails is said once and waited for (see ConsoleLog).

A watcher is driven by the one console loop of the project (console_loop.py), which
reads every port of a process in one thread: `oopswatch watch` runs it with one
watcher, a rack with all of its boards, `oopswatch qemu` with one watcher and a `tick`.

A watcher that was killed leaves its boot unfinished (see sinks/progress.py); the next
watcher of the same board on the same output resumes it: it reads the tail of that
boot's console log through a fresh pipeline, reports what the killed one had not,
and appends to the same log.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.decode import DecodedReport
from oopswatch.detect import BootBanner
from oopswatch.errors import PortError
from oopswatch.log import board_logger
from oopswatch.names import check_name, inside, safe_name
from oopswatch.pipeline import Pipeline
from oopswatch.report_worker import (
    DEFAULT_BUDGET,
    TROUBLE_REPEAT_SECONDS,
    OccurrenceCallback,
    RepeatCallback,
    ReportCallback,
    ReportWorker,
)
from oopswatch.sinks.console_log import (
    DEFAULT_MAX_BUFFERED,
    DEFAULT_MAX_BYTES,
    ConsoleLog,
    make_unique_directory,
    unused_directory,
)
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sinks.progress import Progress, write_progress
from oopswatch.sinks.report_dir import ReportWriter
from oopswatch.sources.base import ByteSource, SourceClosed
from oopswatch.symbols.addr2line import DEFAULT_TIMEOUT as ADDR2LINE_DEADLINE

if TYPE_CHECKING:
    from oopswatch.boards import Board
    from oopswatch.console_loop import ConsoleLoop

EXPIRE_INTERVAL = 0.1  # while a report is open, check this often whether its console went quiet
IDLE_INTERVAL = 1.0  # otherwise, look at the watcher at least this often
TICK_INTERVAL = 0.05  # how often a `tick` runs (QEMU's deadlines and QMP events)
QUIET_INTERVAL = 30.0  # how often the report marker learns that no report is open (bounds a restart's reading)
BACKOFF_START = 0.25
BACKOFF_MAX = 2.0
RECONNECT_POLL = 0.1  # how often a vanished device node is looked for
DRAIN_SECONDS = 0.5  # at most this long spent reading what is left when asked to stop
# At the end, a report worker that got nowhere for this long has a stuck decoder (addr2line
# gives up on a batch after its own deadline; this waits for that, and a little more).
WORKER_STUCK_SECONDS = ADDR2LINE_DEADLINE + 10.0
WORKER_PATIENT_SECONDS = 2.0  # a worker that gets nowhere for this long is said to be waited for
MAX_HEAD_BYTES = 4096  # bytes kept of the line in progress, for a new boot's log
MAX_SESSIONS = 16  # boots kept in memory (without JUnit, which lists every boot)


@dataclass
class BootSession:
    """One boot of the board: its directory, console log and report counts (the
    reports themselves are on disk, not in memory)."""

    number: int
    directory: Path
    log: ConsoleLog
    writer: ReportWriter
    started: float
    banner: str | None = None
    ended: float | None = None
    line_offset: int = 0  # console line number N of the watch is line N - line_offset of this boot's log
    detected: int = 0  # reports the detector closed in this boot (the reading thread's count)
    # Counted by the report worker:
    reports: int = 0  # every report of this boot: new ones, repeats and those over the budget
    folders: int = 0  # report directories written
    repeats: int = 0
    over_budget: int = 0
    crashes: int = 0
    junit_reports: list[DecodedReport] = field(default_factory=list)  # the first crash reports, for JUnit only

    @property
    def seconds(self) -> float:
        return (self.ended or time.time()) - self.started


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
    max_buffered: int = DEFAULT_MAX_BUFFERED  # console bytes kept in memory while the disk refuses them
    junit: str | None = None
    reconnect: bool = True  # a lost source is waited for; False: it ends the watch (a QEMU that exited)
    retry_open: bool = False  # a port that cannot be opened at the start is retried (a rack); False: PortError
    resume: bool = True  # carry on with the boot a killed watcher of this board left unfinished
    budget: int = DEFAULT_BUDGET  # new report directories a minute (0: no limit)
    # The name of boot N's directory under output/board (default: `20261124-101500-bootN`).
    boot_name: Callable[[int], str] | None = None
    announce: bool = True  # say "watching ..." and "stopped ..." (info); False: debug only
    index: str | None = None  # --index: a postgresql:// URL or an index file (None: OUTPUT/reports.sqlite)


class Watcher:
    def __init__(self, source: ByteSource, chooser: BuildChooser, options: WatchOptions,
                 out: TextIO | None = sys.stdout, on_report: ReportCallback | None = None,
                 tick: Callable[[Watcher, float], None] | None = None, on_repeat: RepeatCallback | None = None,
                 claim: Callable[[], object] | None = None, on_bytes: Callable[[bytes, float], None] | None = None,
                 on_occurrence: OccurrenceCallback | None = None):
        """`out` is the terminal (None: nothing is shown); messages go to the board's
        logger. `on_report(report, session, directory)` and `on_repeat(session,
        directory, title, count, last_seen)` are called on the board's report worker
        thread. `tick(watcher, now)` runs on the reading thread after each read and at
        least every TICK_INTERVAL (a QEMU boot polls QMP and checks its deadlines there,
        and calls `stop()` when it is done). `claim()` takes the output (a lock) once the
        port is open, before anything is written there; it raises when another process has
        it. `on_bytes(chunk, now)` gets every console byte once it is logged and through
        the detector: a shell session reads the console there, so the port keeps one reader.
        `on_occurrence(report, session, directory, new)` sees every report, repeats too
        (decoded one by one then), on the worker thread: a test harness's ledger."""
        check_name(options.board or "console", "board name")
        self.source = source
        self.chooser = chooser
        self.options = options
        self.out = out
        self.tick = tick
        self.claim = claim
        self.on_bytes = on_bytes
        self.log = board_logger(options.board or "console")
        self.stop_event = threading.Event()
        self.sessions: list[BootSession] = []  # the last MAX_SESSIONS boots (all of them for JUnit)
        self.boots = 0  # boots seen, the first included
        self.retired_bytes_lost = 0  # console bytes lost in boots no longer in `sessions`
        self.pipeline = Pipeline(idle_timeout=options.idle_timeout, arch=options.arch)
        self.worker = ReportWorker(chooser, source.name, self.log, budget=options.budget, show=self._show_report,
                                   on_report=on_report, on_repeat=on_repeat, keep_for_junit=bool(options.junit),
                                   name=options.board or "console", on_occurrence=on_occurrence)
        self.session: BootSession | None = None  # made once the port is open
        self.connected = False
        self.crashed = False
        self.ended = False  # the watch is over: finish() is due
        self.reconnects = 0
        self.bytes = 0
        self.lines = 0
        self.last_input = time.monotonic()  # when the console last sent something
        self.source_ended = False  # the source ended for good (end of file, or a QEMU that exited)
        self.disk_trouble: str | None = None  # the console log's, while the disk refuses it
        self._trouble_said = -TROUBLE_REPEAT_SECONDS
        self._trouble_told = False
        self.due = 0.0  # monotonic time of the next `on_timer`
        self._loop: ConsoleLoop | None = None
        self._attached = False
        self._started = False
        self._head = b""  # the bytes of the console line in progress
        self._next_expire = 0.0
        self._next_tick = 0.0
        self._next_quiet = 0.0
        self._quiet_sent = 0
        self._out_broken = False
        self._out_lock = threading.Lock()
        self._gone_at = 0.0
        self._retry_delay = BACKOFF_START
        self._next_try = 0.0
        self._was_present: bool | None = None
        self._said = ""
        self._exit_code = 0

    # -- driving it -------------------------------------------------------------------

    def run(self) -> int:
        """Watch until the source ends for good, `stop()`, Ctrl-C, or a crash with
        exit_on_oops. Returns the exit code: 1 after a crash with exit_on_oops, else 0.

        A port that cannot be opened at all raises `PortError` (the user's problem, now);
        a port that goes away later is waited for.
        """
        from oopswatch.console_loop import ConsoleLoop

        loop = ConsoleLoop()
        loop.add(self)
        loop.run()
        return self._exit_code

    def attach(self) -> None:
        """The source is already open (QEMU's console socket): do not open it again."""
        self._attached = True

    def stop(self) -> None:
        """Stop soon; safe from a signal handler or another thread."""
        self.stop_event.set()
        if self._loop is not None:
            self._loop.wake()

    @property
    def exit_code(self) -> int:
        return self._exit_code

    @property
    def reports_pending(self) -> bool:
        """A report has begun and is not handed on yet (open in the detector, or with the
        report worker): whoever waits for the reports of what just happened on the
        console waits for this to clear."""
        return self.pipeline.busy or self.worker.busy

    # -- called by the console loop -------------------------------------------------------

    def start(self, loop: ConsoleLoop) -> None:
        """Open the port (a `PortError` unless `retry_open`), begin or resume the boot,
        start the report worker."""
        self._loop = loop
        self.worker.start()
        self.worker.preload()
        self._started = True
        if self._attached:
            self._opened()
            return
        try:
            self.source.open()
        except PortError as error:
            if not self.options.retry_open:
                self.ended = True
                raise
            self.log.warning("%s; retrying", error)
            self._said = str(error)
            self._wait_for_port(time.monotonic())
            return
        self._opened()

    def _opened(self) -> None:
        """The port is open (the first time, or again)."""
        self.connected = True
        if self._loop is not None:
            self._loop.register(self)
        if self.session is None:
            self._first_session()
        self.due = time.monotonic()

    def on_readable(self, now: float) -> None:
        """The port has bytes (or news): read once, without waiting."""
        try:
            chunk = self.source.read(0)
        except SourceClosed as closed:
            self._closed(closed)
            return
        if chunk:
            self.last_input = time.monotonic()
            self._ingest(chunk, now)
            if self.tick is not None:
                self.tick(self, now)

    def on_timer(self, now: float) -> None:
        """What is due: idle reports, a reconnection attempt, a disk retry, the tick."""
        current = time.monotonic()
        if self.stop_event.is_set() or self._exit_now():
            self.ended = True
            return
        if not self.connected:
            if self._started and not self.ended:
                self._try_reconnect(current)
        elif self.pipeline.busy and current >= self._next_expire:
            self._expire(now)
        session = self.session
        if session is not None:
            log = session.log
            if log.trouble is not None:
                log.retry()
            else:
                log.tick()
            if not self.pipeline.busy and current >= self._next_quiet:
                self._send_quiet(session)
        if self.tick is not None and current >= self._next_tick:
            self._next_tick = current + TICK_INTERVAL
            self.tick(self, now)
        if self.stop_event.is_set() or self._exit_now():
            self.ended = True
        self._schedule(current)

    def _schedule(self, current: float) -> None:
        due = current + IDLE_INTERVAL
        if not self.connected:
            due = min(due, self._next_try, current + RECONNECT_POLL)
        elif self.pipeline.busy:
            due = min(due, self._next_expire)
        if self.tick is not None:
            due = min(due, self._next_tick)
        if self.stop_event.is_set() or self._exit_now():
            due = current
        self.due = due

    def finish(self) -> None:
        """Drain the port, close the open reports, the logs and the port; wait for the
        report worker to write everything; JUnit; say goodbye."""
        if self._loop is not None:
            self._loop.unregister(self)
        try:
            if self.connected and not self.source_ended:
                self._drain()
            if self.session is not None:
                self._submit(self.pipeline.finish(time.time()).events, b"")
        finally:
            self.source.close()
            self.connected = False
            for session in self.sessions:
                if not session.log.closed:
                    session.ended = session.ended or time.time()
                    session.log.close()
            self._stop_worker()
        self._exit_code = 1 if self._exit_now() else 0
        if self.options.junit:
            write_junit(self.options.junit, "oopswatch watch", [self._junit_case(s) for s in self.sessions])
        if self.session is not None:
            level = logging.INFO if self.options.announce else logging.DEBUG
            reports = self.worker.total_reports
            self.log.log(level, "stopped: %d bytes logged, %d report(s), %d reconnect(s); console log %s", self.bytes,
                         reports, self.reconnects, self.session.log.path)

    def _stop_worker(self) -> None:
        if not self._started:
            return
        if self.worker.stop(WORKER_PATIENT_SECONDS):
            return
        # Said only with reports waiting (not while the builds load, e.g. after a refused start).
        level = logging.INFO if self.options.announce and self.worker.behind else logging.DEBUG
        self.log.log(level, "reports: writing the last reports (a decoder may take up to %g s)", ADDR2LINE_DEADLINE)
        if not self.worker.stop(WORKER_STUCK_SECONDS):
            self.log.warning("reports: a decoder has not answered for %g s; stopping it (its report is written "
                             "without it)", WORKER_STUCK_SECONDS)
            close_loaded_builds()  # a stuck addr2line is killed, so its decode gives up
            if not self.worker.stop(WORKER_STUCK_SECONDS):
                self.log.error("reports: the report worker is stuck; %d report(s) not written (they are in the "
                               "console log; a restart on this output reports them)", self.worker.behind)

    # -- sessions ---------------------------------------------------------------------

    def _board_dir(self) -> Path:
        output = self.options.output
        return inside(output, output / (self.options.board or "console"))

    def _first_session(self) -> None:
        if self.claim is not None:
            self.claim()
        resumed = self._resume() if self.options.resume else None
        if resumed is None:
            self.session = self._new_session(None)
            self.worker.new_boot(self.session, None, self._progress())
        else:
            self.session = resumed
        level = logging.INFO if self.options.announce else logging.DEBUG
        description = getattr(self.source, "description", "")
        assert self.session is not None
        self.log.log(level, "watching %s%s; console log and reports in %s; Ctrl-C stops", self.source.name,
                     f" ({description})" if description else "", self.session.directory)

    def _new_session(self, banner: BootBanner | None) -> BootSession:
        number = self.boots + 1
        name = (self.options.boot_name(number) if self.options.boot_name is not None
                else f"{time.strftime('%Y%m%d-%H%M%S')}-boot{number}")
        check_name(name, "boot directory name")
        base = inside(self.options.output, self._board_dir() / name)
        try:
            directory = make_unique_directory(base)
        except OSError as error:
            directory = unused_directory(base)  # the console log makes it once the disk allows
            self.log.debug("cannot make %s yet: %s", directory, error)
        with contextlib.suppress(OSError):  # else the worker writes it with the first report
            write_progress(directory, self._progress())
        session = BootSession(number, directory, self._console_log(directory), ReportWriter(directory),
                              time.time(), banner.banner if banner else None)
        self.sessions.append(session)
        self.boots += 1
        if len(self.sessions) > MAX_SESSIONS and not self.options.junit:  # weeks of reboots: memory stays small
            retired = self.sessions.pop(0)
            self.retired_bytes_lost += retired.log.lost_bytes
        return session

    def _progress(self) -> Progress:
        """A new boot's report marker."""
        return Progress(resumable=self.options.resume)

    def _console_log(self, directory: Path) -> ConsoleLog:
        return ConsoleLog(directory, max_bytes=self.options.max_log_bytes, max_buffered=self.options.max_buffered,
                          on_trouble=self._log_trouble)

    def _log_trouble(self, reason: str | None, message: str) -> None:
        """The console log's disk trouble, and its end: said, but once a minute at most
        (a disk at the edge of full takes one write and refuses the next)."""
        self.disk_trouble = reason
        if reason is not None:
            self._trouble_told = time.monotonic() - self._trouble_said >= TROUBLE_REPEAT_SECONDS
            if self._trouble_told:
                self._trouble_said = time.monotonic()
        self.log.log((logging.WARNING if reason else logging.INFO) if self._trouble_told else logging.DEBUG,
                     "%s", message)

    def _resume(self) -> BootSession | None:
        from oopswatch.resume import resume_boots

        return resume_boots(self)

    def _start_boot(self, banner: BootBanner, data: bytes) -> None:
        """A banner went by: later bytes go to a new boot's log, which starts with the
        banner line (those bytes are also, already, at the end of the previous log)."""
        previous = self.session
        assert previous is not None
        if previous.banner is None and not previous.detected:
            previous.banner = banner.banner  # the first boot seen; what came before was its boot loader
            self.worker.banner(banner)
            return
        self.session = self._new_session(banner)
        self.worker.new_boot(self.session, banner, self._progress())
        # The new log: a note, then the banner line and what followed it in this chunk.
        # Report line numbers of this boot count in this log.
        self.session.log.note(f"boot {self.session.number}; the previous boot's console log is "
                              f"{previous.log.path}", banner.line.host_time)
        self.session.line_offset = banner.line.number - 2
        position = data.rfind(b"Linux version ")
        if position >= 0:
            line_start = data.rfind(b"\n", 0, position) + 1
            self.session.log.write(data[line_start:], banner.line.host_time)
        previous.ended = time.time()
        previous.log.close()

    # -- bytes --------------------------------------------------------------------------

    def _ingest(self, chunk: bytes, now: float, raw: bool = True) -> None:
        """Bytes to the console log first, then through the pipeline."""
        session = self.session
        assert session is not None
        if raw:
            session.log.write(chunk, now)
            self.bytes += len(chunk)
        head = self._head  # the banner line may have begun in an earlier chunk
        newline = chunk.rfind(b"\n")
        self._head = chunk[newline + 1:] if newline >= 0 else (head + chunk)[-MAX_HEAD_BYTES:]
        out = self.pipeline.feed(chunk, now)
        self.lines += len(out.lines)
        if self.options.echo and out.lines:
            self._show("".join(line.text + "\n" for line in out.lines))
        if out.events:
            self._submit(out.events, head + chunk)
        if raw and self.on_bytes is not None:
            self.on_bytes(chunk, now)
        if self.pipeline.busy and self._next_expire <= time.monotonic():
            self._next_expire = time.monotonic() + EXPIRE_INTERVAL
            self.due = min(self.due, self._next_expire)

    def _submit(self, events: list, data: bytes) -> None:
        """The detector's events, in order: a report a reboot cut short belongs to the old boot."""
        for event in events:
            if isinstance(event, BootBanner):
                self._start_boot(event, data)
                continue
            session = self.session
            assert session is not None
            session.detected += 1
            self.crashed = self.crashed or event.crash
            self.worker.submit(session, event, session.line_offset - session.log.line_shift)
            if self._exit_now():
                self.due = time.monotonic()

    def _send_quiet(self, session: BootSession) -> None:
        """No report open: tell the marker (through the worker, after the reports before it)."""
        self._next_quiet = time.monotonic() + QUIET_INTERVAL
        line = self.pipeline.lines_done - session.line_offset + session.log.line_shift
        if line > self._quiet_sent:
            self._quiet_sent = line
            self.worker.quiet(session, line)

    def _note(self, message: str, now: float) -> None:
        """A note in the console log, through the pipeline as well, so that the pipeline's
        line numbers stay the log's and a line cut by a gap is not glued to the next."""
        session = self.session
        assert session is not None
        self._ingest(session.log.note(message, now), now, raw=False)

    def _expire(self, now: float) -> None:
        self._next_expire = time.monotonic() + EXPIRE_INTERVAL
        events = self.pipeline.expire(now).events
        if events:
            self._submit(events, b"")

    def _drain(self) -> None:
        """Asked to stop: what the port already holds still belongs in the log."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                chunk = self.source.read(0)
            except SourceClosed:
                return
            if not chunk:
                return
            self._ingest(chunk, time.time())

    def _exit_now(self) -> bool:
        return self.options.exit_on_oops and self.crashed

    def recover(self, reason: str) -> None:
        """After an unexpected error in this watcher (a bug): its port is closed and
        opened again, as if it had gone away; the other boards never notice."""
        if self.connected and self.session is not None:
            self._closed(SourceClosed(f"oopswatch error ({reason})"))
        elif not self._started:
            self.ended = True

    # -- a port that goes away -----------------------------------------------------------

    def _closed(self, closed: SourceClosed) -> None:
        if closed.final or not self.options.reconnect:
            self.source_ended = True
            self.ended = True
            self.due = time.monotonic()
            return
        self.connected = False
        if self._loop is not None:
            self._loop.unregister(self)
        self.source.close()
        self._gone_at = time.time()
        self._note(f"console lost: {closed}", self._gone_at)
        self.log.warning("%s: console lost (%s); retrying until it is back", self.source.name, closed)
        self._said = ""
        self._wait_for_port(time.monotonic())

    def _wait_for_port(self, current: float) -> None:
        present = getattr(self.source, "present", lambda: None)
        self._was_present = present()
        self._retry_delay = BACKOFF_START
        self._next_try = current + self._retry_delay
        self._schedule(current)

    def _try_reconnect(self, current: float) -> None:
        """At once when the device node is back, else with backoff."""
        present = getattr(self.source, "present", lambda: None)
        is_present = present()
        appeared = bool(is_present) and not self._was_present
        self._was_present = is_present
        if not appeared and current < self._next_try:
            return
        try:
            self.source.open()
        except PortError as error:
            self._retry_delay = min(self._retry_delay * 2, BACKOFF_MAX)
            self._next_try = current + self._retry_delay
            if is_present is not False and str(error) != self._said:  # back, but busy or not allowed
                self._said = str(error)
                self.log.warning("%s (still retrying)", error)
            return
        first = self.session is None
        self._opened()
        if first:
            return
        back = time.time()
        self.reconnects += 1
        self._note(f"console back after a gap of {back - self._gone_at:.1f} s", back)
        self.log.info("%s: console back after %.1f s", self.source.name, back - self._gone_at)

    # -- the terminal ---------------------------------------------------------------------

    def _show_report(self, title: str, crash: bool, directory: Path, repeats: int) -> None:
        """A report's title on the terminal (from the report worker)."""
        mark = "crash" if crash else "note"
        again = f" (again: {repeats} repeat{'s' if repeats != 1 else ''} this boot)" if repeats else ""
        line = f"*** oopswatch [{self.options.board}] {mark}: {title}{again}  ({directory})"
        if self.options.color:
            line = f"\x1b[1;31m{line}\x1b[0m" if crash else f"\x1b[1;33m{line}\x1b[0m"
        self._show(line + "\n")

    def _show(self, text: str) -> None:
        """To the terminal; a terminal that went away (a closed pipe) must not stop the
        watching, which matters more than the echo."""
        if self._out_broken or self.out is None:
            return
        with self._out_lock:
            try:
                self.out.write(text)
                self.out.flush()
            except (OSError, ValueError) as error:
                self._out_broken = True
                self.log.warning("standard output failed (%s); logging and reporting go on", error)

    def _junit_case(self, session: BootSession) -> TestCase:
        return TestCase(name=f"{self.options.board} boot {session.number}", classname="oopswatch.watch",
                        seconds=session.seconds, reports=session.junit_reports,
                        failure=f"{session.crashes} kernel report(s)" if session.crashes else None,
                        system_out=f"{session.banner or 'no boot banner seen'}\nconsole log: {session.log.path}\n")


def watch_console(port: str, options: WatchOptions, board: Board | None = None, symbols: dict | None = None,
                  baud: int | None = None, out: TextIO = sys.stdout) -> int:
    """`oopswatch watch`: one console, until it ends, Ctrl-C, SIGTERM or SIGHUP. The
    board's folder of the output is this process's (see output_lock.py)."""
    from oopswatch.boards import console_settings
    from oopswatch.output_lock import BoardLock
    from oopswatch.sinks.index_recorder import IndexRecorder
    from oopswatch.sources.port import open_source, port_name
    from oopswatch.stop_signals import stop_on_signals

    settings = console_settings(board, port, baud)
    options.board = options.board or (board.name if board else safe_name(port_name(port)))
    check_name(options.board, "board name")
    log = board_logger(options.board)
    # A board without builds yet is watched anyway (the console log matters more than
    # decoding); its builds are looked for again at each boot.
    chooser = BuildChooser(board if symbols is None else None, symbols, strict=False)
    if board is not None and symbols is None and not chooser.choice.candidates:
        log.warning("%s; watching without symbols until a build is there", chooser.choice.chosen_by)
    lock = BoardLock(options.output, options.board)
    recorder: IndexRecorder | None = None

    def claim() -> None:
        """Once the port is open: the board's folder, then the index (`oopswatch reports` lists them)."""
        nonlocal recorder
        lock.acquire()
        recorder = IndexRecorder(options.output, options.board, options.index)

    def on_report(report: DecodedReport, session: BootSession, directory: Path) -> None:
        if recorder is not None:
            recorder.record(report, session, directory)

    def on_repeat(session: BootSession, directory: Path, title: str, count: int, last_seen: float) -> None:
        if recorder is not None:
            recorder.repeat(session, title, count, last_seen)

    watcher = Watcher(open_source(port, settings), chooser, options, out=out, on_report=on_report,
                      on_repeat=on_repeat, claim=claim)
    try:
        with stop_on_signals(watcher.stop, watcher.stop_event.is_set):
            return watcher.run()
    finally:
        if recorder is not None:
            recorder.close()
        lock.release()
        close_loaded_builds()
