"""Live watching: one board's console, from its source to reports on disk.

Wiring only: bytes from the source go to the raw console log first, then through the
pipeline; reports go to the report writer and the terminal as soon as their block ends.
A new boot banner starts a new boot directory. When the port goes away the watcher says
so once, notes the gap in the console log, retries (at once when the device node
reappears, else with backoff) and carries on with the same pipeline, so nothing it
already had is lost.

This is the one console loop of the project: `oopswatch watch`, every board of a rack
and `oopswatch qemu` (through `tick` and `reconnect=False`) all run it.
"""

from __future__ import annotations

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
from oopswatch.errors import InputError, OopswatchError, PortError
from oopswatch.log import board_logger
from oopswatch.pipeline import Pipeline
from oopswatch.sinks.console_log import DEFAULT_MAX_BYTES, ConsoleLog, unique_directory
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sinks.report_dir import ReportWriter
from oopswatch.sources.base import ByteSource, SourceClosed

if TYPE_CHECKING:
    from oopswatch.boards import Board

GATHER_BELOW = 4096  # a read smaller than this is a trickle worth letting gather (WatchOptions.gather)
READ_TIMEOUT = 0.05  # the longest a read waits; also how often idle reports are checked
EXPIRE_INTERVAL = 0.05  # check for idle reports at least this often, even on a busy console
BACKOFF_START = 0.25
BACKOFF_MAX = 2.0
RECONNECT_POLL = 0.05  # how often a vanished device node is looked for
DRAIN_SECONDS = 0.5  # at most this long spent reading what is left when asked to stop
MAX_HEAD_BYTES = 4096  # bytes kept of the line in progress, for a new boot's log


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
    ended: float | None = None
    line_offset: int = 0  # console line number N of the watch is line N - line_offset of this boot's log

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
    junit: str | None = None
    gather: float = 0.0  # seconds to let bytes gather after a read (a rack's many boards)
    reconnect: bool = True  # a lost source is waited for; False: it ends the watch (a QEMU that exited)
    # The name of boot N's directory under output/board (default: `20261124-101500-bootN`).
    boot_name: Callable[[int], str] | None = None
    announce: bool = True  # say "watching ..." and "stopped ..." (info); False: debug only
    index: str | None = None  # --index: a postgresql:// URL or an index file (None: OUTPUT/reports.sqlite)


class Watcher:
    def __init__(self, source: ByteSource, chooser: BuildChooser, options: WatchOptions,
                 out: TextIO | None = sys.stdout,
                 on_report: Callable[[DecodedReport, BootSession, Path], None] | None = None,
                 tick: Callable[[Watcher, float], None] | None = None,
                 on_bytes: Callable[[bytes, float], None] | None = None):
        """`out` is the terminal (None: nothing is shown); messages go to the board's
        logger. `tick(watcher, now)` runs after every read (a QEMU boot polls QMP and
        checks its deadlines there, and calls `stop()` when it is done). `on_bytes(chunk,
        now)` gets every console byte once it is logged and through the detector: a shell
        session reads the console there, so the port keeps one reader."""
        self.source = source
        self.chooser = chooser
        self.options = options
        self.out = out
        self.on_report = on_report
        self.tick = tick
        self.on_bytes = on_bytes
        self.log = board_logger(options.board or "console")
        self.stop_event = threading.Event()
        self.sessions: list[BootSession] = []
        # The build is chosen as the banner goes by, before the reports of that boot are
        # decoded (inside the same pipeline call).
        self.pipeline = Pipeline(source.name, symbolizer_for=chooser.symbolizer,
                                 idle_timeout=options.idle_timeout, arch=options.arch, on_banner=self._choose_build)
        self.session: BootSession | None = None  # made once the port is open
        self.connected = False
        self.crashed = False
        self.reconnects = 0
        self.bytes = 0
        self.lines = 0
        self.last_input = time.monotonic()  # when the console last sent something
        self.source_ended = False  # the source ended for good (end of file, or a QEMU that exited)
        self._head = b""  # the bytes of the console line in progress
        self._last_expire = 0.0
        self._out_broken = False

    # -- sessions ---------------------------------------------------------------------

    def _new_session(self, banner: BootBanner | None) -> BootSession:
        number = len(self.sessions) + 1
        name = (self.options.boot_name(number) if self.options.boot_name is not None
                else f"{time.strftime('%Y%m%d-%H%M%S')}-boot{number}")
        directory = unique_directory(self.options.output / self.options.board / name)
        try:
            log = ConsoleLog(directory, max_bytes=self.options.max_log_bytes)
        except OSError as error:
            raise InputError(f"{directory}: cannot write the console log: {error.strerror}; "
                             "choose another --output") from error
        session = BootSession(number, directory, log, ReportWriter(directory), time.time(),
                              banner.banner if banner else None)
        self.sessions.append(session)
        return session

    def _choose_build(self, banner: BootBanner) -> None:
        try:
            self.chooser.on_banner(banner)
        except OopswatchError as error:  # e.g. the board's build directory went away
            self.log.warning("%s; reports of this boot are not decoded", error)

    def _start_boot(self, banner: BootBanner, data: bytes) -> None:
        """A banner went by: later bytes go to a new boot's log, which starts with the
        banner line (those bytes are also, already, at the end of the previous log)."""
        previous = self.session
        assert previous is not None
        if previous.banner is None and not previous.reports:
            previous.banner = banner.banner  # the first boot seen; what came before was its boot loader
            return
        self.session = self._new_session(banner)
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

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> int:
        """Watch until the source ends for good, `stop()`, Ctrl-C, or a crash with
        exit_on_oops. Returns the exit code: 1 after a crash with exit_on_oops, else 0.

        A port that cannot be opened at all raises `PortError` (the user's problem, now);
        a port that goes away later is waited for.
        """
        if not self.connected:
            self.source.open()
        self.connected = True
        try:
            self.session = self._new_session(None)
        except BaseException:
            self.source.close()
            raise
        description = getattr(self.source, "description", "")
        level = logging.INFO if self.options.announce else logging.DEBUG
        self.log.log(level, "watching %s%s; console log and reports in %s; Ctrl-C stops", self.source.name,
                      f" ({description})" if description else "", self.session.directory)
        try:
            return self._loop()
        except KeyboardInterrupt:
            return self._exit_code()
        finally:
            self._finish()
            reports = sum(len(session.reports) for session in self.sessions)
            self.log.log(level, "stopped: %d bytes logged, %d report(s), %d reconnect(s); console log %s", self.bytes,
                          reports, self.reconnects, self.session.log.path)

    def attach(self) -> None:
        """The source is already open (QEMU's console socket): `run` does not open it again."""
        self.connected = True

    @property
    def reports_pending(self) -> bool:
        """A report has begun and is not handed on yet: whoever waits for the reports
        of what just happened on the console waits for this to clear."""
        return self.pipeline.detector.busy

    def stop(self) -> None:
        """Stop soon (within one read timeout); safe from a signal handler or another thread."""
        self.stop_event.set()

    def _loop(self) -> int:
        while not self.stop_event.is_set():
            try:
                chunk = self.source.read(READ_TIMEOUT)
            except SourceClosed as closed:
                if closed.final or not self.options.reconnect:
                    self.source_ended = True
                    return self._exit_code()
                self._reconnect(str(closed))
                if self._exit_now():
                    return 1
                continue
            now = time.time()
            if chunk:
                self.last_input = time.monotonic()
                self._ingest(chunk, now)
                if self.options.gather and len(chunk) < GATHER_BELOW:
                    self.stop_event.wait(self.options.gather)
            if not chunk or time.monotonic() - self._last_expire >= EXPIRE_INTERVAL:
                self._expire(now)
            if self.tick is not None:
                self.tick(self, now)
            if self._exit_now():
                return 1
        self._drain()
        return self._exit_code()

    def _exit_now(self) -> bool:
        return self.options.exit_on_oops and self.crashed

    def _exit_code(self) -> int:
        return 1 if self._exit_now() else 0

    def _drain(self) -> None:
        """Asked to stop: what the port already holds still belongs in the log."""
        if not self.connected:
            return
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                chunk = self.source.read(0)
            except SourceClosed:
                return
            if not chunk:
                return
            self._ingest(chunk, time.time())

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
        for event in out.events:  # in order: a report a reboot cut short belongs to the old boot
            if isinstance(event, BootBanner):
                self._start_boot(event, head + chunk)
            else:
                self._handle_reports([event])
        if raw and self.on_bytes is not None:
            self.on_bytes(chunk, now)

    def _note(self, message: str, now: float) -> None:
        """A note in the console log, through the pipeline as well, so that the pipeline's
        line numbers stay the log's and a line cut by a gap is not glued to the next."""
        session = self.session
        assert session is not None
        self._ingest(session.log.note(message, now), now, raw=False)

    def _expire(self, now: float) -> None:
        self._last_expire = time.monotonic()
        self._handle_reports(self.pipeline.expire(now).reports)

    def _handle_reports(self, reports: list[DecodedReport]) -> None:
        for report in reports:
            session = self.session
            assert session is not None
            session.reports.append(report)
            report.line_offset = session.line_offset
            directory = session.writer.write(report)
            self.crashed = self.crashed or report.crash
            mark = "crash" if report.crash else "note"
            line = f"*** oopswatch [{self.options.board}] {mark}: {report.title}  ({directory})"
            if self.options.color:
                line = f"\x1b[1;31m{line}\x1b[0m" if report.crash else f"\x1b[1;33m{line}\x1b[0m"
            self._show(line + "\n")
            if self.on_report is not None:
                self.on_report(report, session, directory)

    def _reconnect(self, reason: str) -> None:
        """Say so once, note the gap, retry until the port is back (or until stopped)."""
        self.connected = False
        self.source.close()
        gone = time.time()
        self._note(f"console lost: {reason}", gone)
        self.log.warning("%s: console lost (%s); retrying until it is back", self.source.name, reason)
        present = getattr(self.source, "present", lambda: None)
        was_present = present()
        delay = BACKOFF_START
        next_try = time.monotonic() + delay
        said = ""
        while not self.stop_event.is_set():
            self._expire(time.time())
            if self._exit_now():
                return
            is_present = present()
            appeared = bool(is_present) and not was_present  # the device node is back: try at once
            was_present = is_present
            if appeared or time.monotonic() >= next_try:
                try:
                    self.source.open()
                except PortError as error:
                    delay = min(delay * 2, BACKOFF_MAX)
                    next_try = time.monotonic() + delay
                    if is_present is not False and str(error) != said:  # back, but busy or not allowed
                        said = str(error)
                        self.log.warning("%s (still retrying)", error)
                else:
                    back = time.time()
                    self.reconnects += 1
                    self.connected = True
                    self._note(f"console back after a gap of {back - gone:.1f} s", back)
                    self.log.info("%s: console back after %.1f s", self.source.name, back - gone)
                    return
            self.stop_event.wait(RECONNECT_POLL)

    def _show(self, text: str) -> None:
        """To the terminal; a terminal that went away (a closed pipe) must not stop the
        watching, which matters more than the echo."""
        if self._out_broken or self.out is None:
            return
        try:
            self.out.write(text)
            self.out.flush()
        except (OSError, ValueError) as error:
            self._out_broken = True
            self.log.warning("standard output failed (%s); logging and reporting go on", error)

    def _finish(self) -> None:
        """Flush and close: the last partial line and open reports, the logs, the port."""
        try:
            if self.session is not None:
                tail = self.pipeline.finish(time.time())
                self._handle_reports(tail.reports)
        finally:
            self.source.close()
            self.connected = False
            for session in self.sessions:
                if not session.log.closed:
                    session.ended = time.time()
                    session.log.close()
        if self.options.junit:
            write_junit(self.options.junit, "oopswatch watch", [self._junit_case(s) for s in self.sessions])

    def _junit_case(self, session: BootSession) -> TestCase:
        crashes = [report for report in session.reports if report.crash]
        return TestCase(name=f"{self.options.board} boot {session.number}", classname="oopswatch.watch",
                        seconds=session.seconds, reports=crashes,
                        failure=f"{len(crashes)} kernel report(s)" if crashes else None,
                        system_out=f"{session.banner or 'no boot banner seen'}\nconsole log: {session.log.path}\n")


def watch_console(port: str, options: WatchOptions, board: Board | None = None, symbols: dict | None = None,
                  baud: int | None = None, out: TextIO = sys.stdout) -> int:
    """`oopswatch watch`: one console, until it ends, Ctrl-C, SIGTERM or SIGHUP."""
    from oopswatch.boards import console_settings
    from oopswatch.sinks.index_recorder import IndexRecorder
    from oopswatch.sources.port import open_source, port_name
    from oopswatch.stop_signals import stop_on_signals

    settings = console_settings(board, port, baud)
    options.board = options.board or (board.name if board else port_name(port))
    log = board_logger(options.board)
    # A board without builds yet is watched anyway (the console log matters more than
    # decoding); its builds are looked for again at each boot.
    chooser = BuildChooser(board if symbols is None else None, symbols, strict=False)
    if board is not None and symbols is None and not chooser.choice.candidates:
        log.warning("%s; watching without symbols until a build is there", chooser.choice.chosen_by)
    errors, warnings = chooser.preload() if (board or symbols) else ([], [])
    for problem in errors + warnings:
        log.warning("%s", problem)
    source = open_source(port, settings)
    recorder = None
    try:
        source.open()  # a port that cannot be opened is said before anything is written
        recorder = IndexRecorder(options.output, options.board, options.index)  # so that `oopswatch reports` lists them
        watcher = Watcher(source, chooser, options, out=out, on_report=recorder.record)
        watcher.attach()
        with stop_on_signals(watcher.stop, watcher.stop_event.is_set):
            return watcher.run()
    finally:
        if recorder is not None:
            recorder.close()
        close_loaded_builds()
