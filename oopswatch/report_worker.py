"""The report worker: everything slow about a report, off the thread that reads the port.

The thread that reads a board's port only writes the bytes to disk and runs the cheap
console and detector steps; choosing and loading builds (a vmlinux of a gigabyte),
decoding (addr2line, which may hang), writing report directories (fsync, a full disk)
and the callbacks happen here, in the order the reports came, one worker per board.

Floods cost little and memory stays bounded, whatever comes:
- the same report again (same kind, title and frames) is recognised on the reading
  thread by a hash and only counted there; the worker adds the counts to the report
  that already has a directory (`repeats`, `last_seen`), writing at most a few
  times a second;
- a report whose decoded title already has a directory in this boot is a repeat too;
- a board gets `budget` new report directories a minute; reports beyond it, and
  reports that arrive while the worker is `MAX_QUEUED` reports behind, are counted by
  title in reports-over-budget.json (they are all in console.log) and said once a minute
  (decoded for their title, unless the worker is `DECODE_WHILE_BEHIND` behind: then by
  the title as printed);
- a boot's state is its directories' titles and counts, never the decoded reports.

After each report the boot's `.progress.json` says how far it got, so a watcher that
was killed is resumed by the next one without losing or repeating a report.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oopswatch import DEFAULT_REPORT_BUDGET
from oopswatch.decode import DecodedReport, decode
from oopswatch.detect import BootBanner, Report
from oopswatch.sinks.console_log import disk_trouble
from oopswatch.sinks.progress import Progress, write_progress

if TYPE_CHECKING:
    from oopswatch.build_choice import BuildChooser
    from oopswatch.watch import BootSession

MAX_QUEUED = 256  # reports waiting for the worker; more are counted, not decoded
DECODE_WHILE_BEHIND = 32  # over the budget, reports are still decoded (for their title) unless this far behind
DEFAULT_BUDGET = DEFAULT_REPORT_BUDGET  # new report directories a minute per board (0: no limit)
BUDGET_WINDOW = 60.0
REPEAT_WRITE_SECONDS = 0.1  # a report's repeats reach its files at most this often
SUMMARY_WRITE_SECONDS = 1.0
RETRY_SECONDS = 1.0
TROUBLE_REPEAT_SECONDS = 60.0  # a disk trouble that comes back sooner is not said again
MAX_TITLES = 10000  # per boot: titles remembered for repeats
MAX_KEYS = 50000  # per boot: report hashes remembered on the reading thread
MAX_OVER_BUDGET_TITLES = 10000  # then the rest count under OTHER_TITLES
SUMMARY_BATCH = 64  # titles changed since reports-over-budget.json was written: write it now (keeps the marker small)
OTHER_TITLES = "(other titles)"
MAX_UNWRITTEN = 64  # report directories kept in memory while the disk refuses them
JUNIT_REPORTS = 10  # crash reports kept per boot for JUnit
MAX_HANDLED = 4096  # reports handled past the marker's line, listed in it

ReportCallback = Callable[[DecodedReport, "BootSession", Path], None]
# (session, report directory, title, times seen in the boot (the first included), host time of the last)
RepeatCallback = Callable[["BootSession", Path, str, int, float], None]
# Every report as it is handled: (report, session, its directory, whether it made the directory).
OccurrenceCallback = Callable[[DecodedReport, "BootSession", Path, bool], None]
# What the terminal is told: (title, crash, report directory, repeats so far).
ShowCallback = Callable[[str, bool, Path, int], None]


def report_key(report: Report) -> int:
    """Same kind, title and printed frames: the same report again (its decoding would be
    the same too). A hash, so that remembering many costs little."""
    frames = tuple((frame.function, frame.offset, frame.address, frame.module) for frame in report.frames)
    return hash((report.kind, report.title, report.corrupted, frames))


@dataclass
class Folder:
    """A report directory of this boot and how often its problem came back."""

    title: str
    kind: str
    crash: bool
    start_line: int
    directory: Path | None = None  # None while the disk refuses it
    repeats: int = 0
    written_repeats: int = 0  # what report.json says
    last_seen: float = 0.0
    last_lines: tuple[int, int] = (0, 0)
    write_after: float = 0.0


@dataclass
class _Pending:
    """Repeats counted on the reading thread, not yet taken by the worker."""

    title: str
    kind: str
    crash: bool
    count: int = 0
    first_line: int = 0
    last_lines: tuple[int, int] = (0, 0)
    last_seen: float = 0.0
    starts: list[int] = field(default_factory=list)  # the first console line of each


@dataclass
class BootReports:
    """The worker's state of one boot (bounded: titles and counts)."""

    session: BootSession
    progress: Progress
    by_title: dict[str, Folder] = field(default_factory=dict)
    by_key: dict[int, Folder | str] = field(default_factory=dict)  # ▶ folder, or the title counted over budget
    by_start: dict[int, Folder] = field(default_factory=dict)  # first line ▶ its directory (a resumed boot's too)
    over_budget: dict[str, list] = field(default_factory=dict)  # title ▶ [count, kind, first line, last line]
    dirty_repeats: set[str] = field(default_factory=set)  # titles whose report.json is behind
    dirty_summary: set[str] = field(default_factory=set)
    summary_after: float = 0.0
    unwritten: deque[tuple[DecodedReport, Folder]] = field(default_factory=deque)
    ended: bool = False


class ReportWorker:
    """One board's report worker thread. Methods marked "reading thread" are called by
    the watcher that reads the port; they never wait for the worker."""

    def __init__(self, chooser: BuildChooser, source: str, log: logging.Logger, budget: int = DEFAULT_BUDGET,
                 show: ShowCallback | None = None,
                 on_report: ReportCallback | None = None, on_repeat: RepeatCallback | None = None,
                 keep_for_junit: bool = False, name: str = "reports", on_occurrence: OccurrenceCallback | None = None):
        """`on_occurrence`, when given, sees every report decoded (a test harness tells
        which test each crash happened in): repeats are then decoded one by one, not
        counted in bulk on the reading thread."""
        self.chooser = chooser
        self.source = source
        self.log = log
        self.budget = budget
        self.show = show
        self.on_report = on_report
        self.on_repeat = on_repeat
        self.on_occurrence = on_occurrence
        self.keep_for_junit = keep_for_junit
        self.disk_trouble: str | None = None  # why report directories cannot be written, while they cannot
        self.not_written = 0  # reports that could never be written (the disk stayed full)
        self.handled = 0  # items the worker has taken (it is getting on)
        self._unfinished = 0  # items put and not yet handled to their end (see `busy`)
        self.total_reports = 0  # every report of every boot: new ones, repeats and those over the budget
        self.total_over_budget = 0
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._lock = threading.RLock()  # the reading thread's counts
        self._queued = 0
        self._stopping = False  # the stop item is queued
        self._inflight: deque[tuple[int, int]] = deque()  # (boot, first line) of each report queued, in order
        self._keys: set[int] = set()  # reading thread: reports of the current boot already sent
        self._pending: dict[tuple[int, int], _Pending] = {}  # (boot, key) ▶ repeats not taken yet
        self._overflow: dict[tuple[int, str], _Pending] = {}  # (boot, title) ▶ reports not sent
        self._boots: dict[int, BootReports] = {}
        self._current: BootReports | None = None
        self._folders: deque[float] = deque()  # when this minute's new directories were made
        self._budget_said = 0.0
        self._disk_said = -TROUBLE_REPEAT_SECONDS
        self._disk_told = False  # the current disk trouble was said (not one back too soon)
        self._errors_said: set[str] = set()
        self._thread = threading.Thread(target=self._run, name=f"oopswatch-{name}-reports", daemon=True)

    # -- the reading thread -----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def preload(self) -> None:
        """Load the board's builds now, on the worker (a big vmlinux takes a while)."""
        self._put(("preload",))

    def new_boot(self, session: BootSession, banner: BootBanner | None, progress: Progress,
                 resumed: bool = False) -> None:
        """A boot starts (or a killed watcher's boot is `resumed`, from its `progress`):
        its reports follow."""
        with self._lock:
            self._keys = set()
        self._put(("boot", session, banner, progress, resumed))

    def submit(self, session: BootSession, report: Report, line_offset: int) -> None:
        """A report the detector closed; `line_offset` turns its line numbers into the
        boot's console.log lines."""
        key = report_key(report)
        start, end = report.start_line - line_offset, report.end_line - line_offset
        with self._lock:
            if key in self._keys and self.on_occurrence is None:  # the same again: counted here, added by the worker
                pending = self._pending.get((session.number, key))
                if pending is None:
                    pending = self._pending[session.number, key] = _Pending(report.title, report.kind, report.crash,
                                                                            first_line=start)
                    self._put(("repeat", session, key))
                pending.count += 1
                pending.last_lines, pending.last_seen = (start, end), report.start_time
                if len(pending.starts) < MAX_HANDLED:  # a flood while the worker is stuck: memory stays bounded
                    pending.starts.append(start)
                return
            if len(self._keys) < MAX_KEYS:
                self._keys.add(key)
            if self._queued >= MAX_QUEUED:  # the worker is far behind (a stuck decoder, a flood)
                overflow = self._overflow.get((session.number, report.title))
                if overflow is None:
                    overflow = self._overflow[session.number, report.title] = _Pending(
                        report.title, report.kind, report.crash, first_line=start)
                    self._put(("overflow", session))
                overflow.count += 1
                overflow.last_lines, overflow.last_seen = (start, end), report.start_time
                if len(overflow.starts) < MAX_HANDLED:
                    overflow.starts.append(start)
                return
            self._queued += 1
            self._inflight.append((session.number, start))
        self._put(("report", session, report, line_offset, key))

    def quiet(self, session: BootSession, line: int) -> None:
        """No report was open after console.log line `line`: everything before it is
        sent, so once the worker gets here, a restart need not look before it."""
        self._put(("quiet", session, line))

    def banner(self, banner: BootBanner) -> None:
        self._put(("banner", banner))

    def stop(self, stuck_after: float) -> bool:
        """Finish what is queued, write every boot's state, and end. Waits as long as
        the worker gets on; False when it handled nothing for `stuck_after` seconds (a
        decoder that does not answer)."""
        if not self._thread.is_alive():
            return True
        if not self._stopping:  # a second call (after a stuck wait) waits for the same stop
            self._stopping = True
            self._queue.put(("stop",))
        handled, since = self.handled, time.monotonic()
        while self._thread.is_alive():
            self._thread.join(0.5)
            if self.handled != handled:
                handled, since = self.handled, time.monotonic()
            elif time.monotonic() - since >= stuck_after:
                return False
        return True

    @property
    def behind(self) -> int:
        """Reports queued for the worker."""
        return self._queued

    # -- the worker thread ------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """Something handed to the worker is not done yet (a report not written)."""
        return self._unfinished > 0

    def _put(self, item: tuple) -> None:
        with self._lock:
            self._unfinished += 1
        self._queue.put(item)

    def _run(self) -> None:
        while True:
            wait = self._next_due()
            try:
                item = self._queue.get(timeout=wait) if wait is not None else self._queue.get()
            except queue.Empty:
                item = None
            if item is not None and item[0] == "stop":
                break
            self.handled += 1
            try:
                if item is not None:
                    getattr(self, f"_on_{item[0]}")(*item[1:])
                self._housekeeping(time.monotonic())
            except Exception as error:  # a bug must not stop the reports of this board
                self._unexpected(error)
            finally:
                if item is not None:
                    with self._lock:
                        self._unfinished -= 1
        try:
            for state in list(self._boots.values()):
                self._end(state, final=True)
        except Exception as error:
            self._unexpected(error)

    def _unexpected(self, error: Exception) -> None:
        if repr(error) not in self._errors_said:
            self._errors_said.add(repr(error))
            self.log.exception("reports: unexpected error (reading and logging go on)")

    def _next_due(self) -> float | None:
        """Seconds until something is due (repeats to write, a retry); None: nothing."""
        due: float | None = None
        for state in self._boots.values():
            candidates = [self._repeat_due(state)]
            if state.dirty_summary:
                candidates.append(state.summary_after)
            if state.unwritten:
                candidates.append(time.monotonic() + RETRY_SECONDS)
            for when in candidates:
                if when is not None:
                    due = when if due is None else min(due, when)
        return None if due is None else max(0.0, due - time.monotonic())

    @staticmethod
    def _repeat_due(state: BootReports) -> float | None:
        times = [folder.write_after for title in state.dirty_repeats
                 if (folder := state.by_title.get(title)) is not None and folder.directory is not None]
        return min(times) if times else None

    def _on_preload(self) -> None:
        errors, warnings = self.chooser.preload()
        for problem in errors + warnings:
            self.log.warning("%s", problem)

    def _on_banner(self, banner: BootBanner) -> None:
        if self._current is not None:
            self._current.progress.banner = banner.banner
        try:
            self.chooser.on_banner(banner)
        except Exception as error:  # e.g. the board's build directory went away
            self.log.warning("%s; reports of this boot are not decoded", error)

    def _on_boot(self, session: BootSession, banner: BootBanner | None, progress: Progress, resumed: bool) -> None:
        if self._current is not None:
            self._end(self._current, final=False)
            self._current = None
        if banner is not None:
            self._on_banner(banner)
            progress.banner = banner.banner
        state = BootReports(session, progress)
        if resumed:
            self._restore(state)
        self._boots[session.number] = state
        self._current = state
        self._save(state)

    def _restore(self, state: BootReports) -> None:
        """A killed watcher's boot: its directories, counts and what it had not written yet."""
        writer = state.session.writer
        for directory, data in writer.existing():
            title = str(data.get("title", ""))
            folder = Folder(title, str(data.get("kind", "")), bool(data.get("crash", True)),
                            int(data.get("start_line", 0)), directory, int(data.get("repeats", 0)),
                            int(data.get("repeats", 0)), float(data.get("last_seen") or 0.0))
            if len(state.by_title) < MAX_TITLES:
                state.by_title.setdefault(title, folder)
            state.by_start[folder.start_line] = folder
            self._count(state.session, folder.crash, 1 + folder.repeats)
            state.session.folders += 1
            state.session.repeats += folder.repeats
        for name, (repeats, last_seen, start, end) in state.progress.repeats.items():
            folder = next((f for f in state.by_title.values() if f.directory and f.directory.name == name), None)
            if folder is not None and repeats > folder.repeats:
                self._count(state.session, folder.crash, repeats - folder.repeats)
                state.session.repeats += repeats - folder.repeats
                folder.repeats, folder.last_seen, folder.last_lines = repeats, last_seen, (start, end)
                state.dirty_repeats.add(folder.title)
        summary = writer.read_over_budget().get("titles", {})
        for title, entry in {**summary, **state.progress.over_budget}.items():
            state.over_budget[title] = list(entry)
        over_budget = sum(entry[0] for entry in state.over_budget.values())
        state.session.over_budget = over_budget
        self.total_over_budget += over_budget
        state.session.reports += over_budget
        self.total_reports += over_budget
        state.dirty_summary.update(state.progress.over_budget)

    def _on_report(self, session: BootSession, report: Report, line_offset: int, key: int) -> None:
        with self._lock:
            self._queued -= 1
            self._inflight.popleft()
        state = self._state(session)
        start, end = report.start_line - line_offset, report.end_line - line_offset
        written = state.by_start.get(start)
        if written is not None:  # a resumed boot: the killed watcher had written it; its repeats count there
            state.by_key[key] = written
            self._advance(state, end, [start])
            return
        same = state.by_title.get(report.title)
        budget_left = self._budget_left()
        if same is not None and same.kind == report.kind and self.on_occurrence is None:
            self._repeat(state, key, same, 1, (start, end), report.start_time)  # printed names: decoding keeps them
        elif not budget_left and self._queued >= DECODE_WHILE_BEHIND:
            # Over the budget and far behind: counted by the title as printed, not decoded.
            self._over_budget(state, key, report.title, report.kind, report.crash, 1, start, end)
        else:
            decoded = decode(report, self.source, self.chooser.symbolizer())
            decoded.line_offset = line_offset
            same = state.by_title.get(decoded.title)
            if same is not None:  # the same problem again (or as printed another way: bare addresses)
                self._repeat(state, key, same, 1, (start, end), report.start_time)
                self._occurred(decoded, session, same.directory or session.directory, False)
            elif budget_left:
                self._new_folder(state, key, decoded)
            else:
                self._over_budget(state, key, decoded.title, decoded.kind, decoded.crash, 1, start, end)
                self._occurred(decoded, session, session.directory, False)
        self._advance(state, end, [start])

    def _on_repeat(self, session: BootSession, key: int) -> None:
        with self._lock:
            pending = self._pending.pop((session.number, key), None)
        if pending is None:
            return
        state = self._state(session)
        target = state.by_key.get(key)
        if isinstance(target, Folder):
            self._repeat(state, key, target, pending.count, pending.last_lines, pending.last_seen)
        else:  # counted over the budget (or its first one was)
            self._over_budget(state, key, target or pending.title, pending.kind, pending.crash, pending.count,
                              pending.first_line, pending.last_lines[1])
        self._advance(state, pending.last_lines[1], pending.starts)

    def _on_overflow(self, session: BootSession) -> None:
        with self._lock:
            taken = [(title, pending) for (number, title), pending in self._overflow.items()
                     if number == session.number]
            for title, _ in taken:
                del self._overflow[session.number, title]
        state = self._state(session)
        for title, pending in taken:
            self._over_budget(state, None, title, pending.kind, pending.crash, pending.count, pending.first_line,
                              pending.last_lines[1])
            self._advance(state, pending.last_lines[1], pending.starts)

    def _on_quiet(self, session: BootSession, line: int) -> None:
        self._advance(self._state(session), line, [])

    def _state(self, session: BootSession) -> BootReports:
        state = self._boots.get(session.number)
        if state is None:  # a report before any boot was announced (should not happen)
            state = self._boots[session.number] = BootReports(session, Progress())
        return state

    # -- what a report becomes ----------------------------------------------------------

    def _budget_left(self) -> bool:
        if self.budget <= 0:
            return True
        now = time.monotonic()
        while self._folders and self._folders[0] <= now - BUDGET_WINDOW:
            self._folders.popleft()
        return len(self._folders) < self.budget

    def _new_folder(self, state: BootReports, key: int, decoded: DecodedReport) -> None:
        session = state.session
        folder = Folder(decoded.title, decoded.kind, decoded.crash, decoded.start_line,
                        last_seen=decoded.report.start_time)
        if len(state.by_title) < MAX_TITLES:
            state.by_title[decoded.title] = folder
        state.by_key[key] = folder
        state.by_start[decoded.start_line] = folder
        self._folders.append(time.monotonic())
        self._count(session, decoded.crash, 1)
        session.folders += 1
        if self.keep_for_junit and decoded.crash and len(session.junit_reports) < JUNIT_REPORTS:
            session.junit_reports.append(decoded)
        if state.unwritten or not self._write(state, decoded, folder):
            if len(state.unwritten) < MAX_UNWRITTEN:
                state.unwritten.append((decoded, folder))
            else:
                self.not_written += 1
                self.log.warning("report %r not written: %s, and %d reports wait already (it is in the console "
                                 "log)", decoded.title, self.disk_trouble or "disk trouble", MAX_UNWRITTEN)

    def _write(self, state: BootReports, decoded: DecodedReport, folder: Folder) -> bool:
        session = state.session
        try:
            directory = session.writer.write(decoded)
        except OSError as error:
            self._disk_failed(error)
            return False
        self._disk_works()
        folder.directory = directory
        if self.show is not None:
            self.show(decoded.title, decoded.crash, directory, 0)
        if self.on_report is not None:
            self.on_report(decoded, session, directory)
        self._occurred(decoded, session, directory, True)
        return True

    def _occurred(self, decoded: DecodedReport, session: BootSession, directory: Path, new: bool) -> None:
        if self.on_occurrence is not None:
            self.on_occurrence(decoded, session, directory, new)

    def _repeat(self, state: BootReports, key: int, folder: Folder, count: int, lines: tuple[int, int],
                seen: float) -> None:
        state.by_key[key] = folder
        folder.repeats += count
        folder.last_lines, folder.last_seen = lines, seen
        if folder.title not in state.dirty_repeats:
            state.dirty_repeats.add(folder.title)
            folder.write_after = max(folder.write_after, time.monotonic())
        self._count(state.session, folder.crash, count)
        state.session.repeats += count

    def _over_budget(self, state: BootReports, key: int | None, title: str, kind: str, crash: bool, count: int,
                     first: int, last: int) -> None:
        if key is not None:
            state.by_key[key] = title
        if title not in state.over_budget and len(state.over_budget) >= MAX_OVER_BUDGET_TITLES:
            title = OTHER_TITLES
        entry = state.over_budget.setdefault(title, [0, kind, first, last])
        entry[0] += count
        entry[3] = last
        state.dirty_summary.add(title)
        if len(state.dirty_summary) == 1:
            state.summary_after = time.monotonic() + SUMMARY_WRITE_SECONDS
        elif len(state.dirty_summary) >= SUMMARY_BATCH:
            self._write_summary(state, time.monotonic())
        state.session.over_budget += count
        self.total_over_budget += count
        self._count(state.session, crash, count)
        now = time.monotonic()
        if now - self._budget_said >= BUDGET_WINDOW:
            self._budget_said = now
            why = (f"more than {self.budget} new reports a minute" if self.budget > 0 else "reports")
            self.log.warning("%s: counting further reports by title in %s/reports-over-budget.json instead of "
                             "writing a directory for each (they are all in console.log)", why,
                             state.session.directory)

    def _count(self, session: BootSession, crash: bool, count: int) -> None:
        self.total_reports += count
        session.reports += count
        if crash:
            session.crashes += count

    # -- writing what is due -----------------------------------------------------------

    def _advance(self, state: BootReports, line: int, starts: list[int]) -> None:
        """Reports up to console line `line`, and those starting at `starts`, are handled:
        say so in the marker. Its `line` never passes a report still waiting (queued,
        counted but not taken, refused by the disk), which a restart must find again;
        the reports handled beyond it are listed by their first line."""
        progress = state.progress
        waiting = self._first_waiting_line(state.session.number)
        if waiting is not None:
            line = min(line, waiting - 1)
        if state.unwritten:
            line = min(line, min(folder.start_line for _, folder in state.unwritten) - 1)
        progress.line = max(progress.line, line)
        handled = [start for start in progress.handled if start > progress.line]
        handled += [start for start in starts if start > progress.line]
        progress.handled = sorted(set(handled))[-MAX_HANDLED:]
        self._save(state)

    def _first_waiting_line(self, boot: int) -> int | None:
        """The first console line of the earliest report of boot `boot` not handled yet."""
        with self._lock:
            lines = [pending.first_line for (number, _), pending in self._pending.items() if number == boot]
            lines += [pending.first_line for (number, _), pending in self._overflow.items() if number == boot]
            queued = next((start for number, start in self._inflight if number == boot), None)
        if queued is not None:
            lines.append(queued)
        return min(lines) if lines else None

    def _save(self, state: BootReports) -> None:
        progress = state.progress
        progress.repeats = {folder.directory.name: [folder.repeats, folder.last_seen, *folder.last_lines]
                            for title in state.dirty_repeats
                            if (folder := state.by_title.get(title)) is not None and folder.directory is not None}
        progress.over_budget = {title: state.over_budget[title] for title in state.dirty_summary}
        try:
            write_progress(state.session.directory, progress)
        except OSError as error:
            self._disk_failed(error)

    def _housekeeping(self, now: float) -> None:
        for state in list(self._boots.values()):
            changed = False
            if state.unwritten:
                changed |= self._retry_unwritten(state)
            for title in list(state.dirty_repeats):
                folder = state.by_title.get(title)
                if folder is None:
                    state.dirty_repeats.discard(title)
                elif folder.directory is not None and folder.write_after <= now:
                    changed |= self._write_repeats(state, folder, now)
            if state.dirty_summary and state.summary_after <= now:
                changed |= self._write_summary(state, now)
            if state.ended and not state.unwritten:  # a boot over while the disk was full: done now
                self._end(state, final=False)
            elif changed:
                self._save(state)

    def _retry_unwritten(self, state: BootReports) -> bool:
        written = False
        while state.unwritten:
            decoded, folder = state.unwritten[0]
            if not self._write(state, decoded, folder):
                break
            state.unwritten.popleft()
            written = True
        return written

    def _write_repeats(self, state: BootReports, folder: Folder, now: float) -> bool:
        assert folder.directory is not None
        try:
            state.session.writer.record_repeats(folder.directory, folder.repeats, folder.last_seen,
                                                folder.last_lines)
        except OSError as error:
            self._disk_failed(error)
            folder.write_after = now + RETRY_SECONDS
            return False
        self._disk_works()
        new = folder.repeats - folder.written_repeats
        folder.written_repeats = folder.repeats
        folder.write_after = now + REPEAT_WRITE_SECONDS
        state.dirty_repeats.discard(folder.title)
        if self.show is not None and new:
            self.show(folder.title, folder.crash, folder.directory, folder.repeats)
        if self.on_repeat is not None:
            self.on_repeat(state.session, folder.directory, folder.title, 1 + folder.repeats, folder.last_seen)
        return True

    def _write_summary(self, state: BootReports, now: float) -> bool:
        summary: dict[str, Any] = {
            "budget_per_minute": self.budget,
            "reports": sum(entry[0] for entry in state.over_budget.values()),
            "titles": state.over_budget,
            "note": "reports beyond the board's budget of new report directories a minute, or that came while "
                    "the worker was far behind, counted by title: [count, kind, first line, last line] of "
                    "console.log",
        }
        try:
            state.session.writer.write_over_budget(summary)
        except OSError as error:
            self._disk_failed(error)
            state.summary_after = now + RETRY_SECONDS
            return False
        state.dirty_summary.clear()
        return True

    def _end(self, state: BootReports, final: bool) -> None:
        """A boot is over (or the watcher stops): write what is due; the marker says
        complete once nothing is left to write."""
        now = time.monotonic()
        if state.unwritten:
            self._retry_unwritten(state)
        for title in list(state.dirty_repeats):
            folder = state.by_title.get(title)
            if folder is not None and folder.directory is not None:
                self._write_repeats(state, folder, now)
            elif not state.unwritten:  # its report could never be written: nowhere to count them
                state.dirty_repeats.discard(title)
        if state.dirty_summary:
            self._write_summary(state, now)
        state.ended = True
        state.progress.complete = not state.unwritten and not state.dirty_repeats and not state.dirty_summary
        self._save(state)
        if state.progress.complete or final:
            if state.unwritten:
                self.not_written += len(state.unwritten)
                self.log.warning("%d report(s) of %s not written: %s (they are in its console.log; a restart on "
                                 "this output finds them)", len(state.unwritten), state.session.directory,
                                 self.disk_trouble or "disk trouble")
            self._boots.pop(state.session.number, None)
            if self._current is state:
                self._current = None

    # -- disk trouble -------------------------------------------------------------------

    def _disk_failed(self, error: OSError) -> None:
        reason = disk_trouble(error)
        if self.disk_trouble is None:
            self.disk_trouble = reason
            # A disk at the edge of full takes a small write and refuses the next: said once a minute.
            self._disk_told = time.monotonic() - self._disk_said >= TROUBLE_REPEAT_SECONDS
            if self._disk_told:
                self._disk_said = time.monotonic()
            self.log.log(logging.WARNING if self._disk_told else logging.DEBUG,
                         "reports: %s (%s); keeping them in memory and retrying every %g s; the console is still "
                         "read and logged", reason, error.filename or error, RETRY_SECONDS)

    def _disk_works(self) -> None:
        if self.disk_trouble is not None:
            self.log.log(logging.INFO if self._disk_told else logging.DEBUG, "reports: writing again after %s",
                         self.disk_trouble)
            self.disk_trouble = None
