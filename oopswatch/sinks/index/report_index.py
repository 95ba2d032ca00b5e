"""`ReportIndex`: where watchers, racks and QEMU boots record their reports, in a local
SQLite file or a lab's PostgreSQL database, grouped into problems by title, so a lab can
ask "what crashed, where, since when" and hooks fire only for problems never seen before.

It serves watchers that must not stop: `record` never raises for index trouble, and a
database that is away never makes it wait (see direct.py and spooled.py for how each
kind of index holds what it cannot write yet).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time as clock
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from oopswatch.sinks.index.db import Db
from oopswatch.sinks.index.direct import MAX_HELD, DirectWriter
from oopswatch.sinks.index.postgres_backend import PostgresStore, is_database_url, open_postgres_reader, redacted
from oopswatch.sinks.index.queries import read_problems, read_reports
from oopswatch.sinks.index.records import MAX_TEXT, BoardRecord, Problem, RepeatRecord, ReportRecord, clean_text
from oopswatch.sinks.index.spool import Spool
from oopswatch.sinks.index.spooled import ANSWER_WAIT, SpoolingWriter
from oopswatch.sinks.index.sqlite_backend import BUSY_TIMEOUT, SqliteStore

if TYPE_CHECKING:
    from oopswatch.sinks.board_status import BoardSnapshot

Result = TypeVar("Result")


def default_host() -> str:
    """This machine's name: the `host` of the reports it records."""
    return socket.gethostname()


def default_spool(url: str) -> Path:
    """A spool for an index opened without an output directory: one per database, in the cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "oopswatch"
    return cache / f"index-spool-{hashlib.sha256(url.encode()).hexdigest()[:12]}.sqlite"


class ReportIndex:
    """An index, for writing; safe to share between threads.

    `path` is an index file or a postgresql:// URL. `on_message` receives one-line
    messages (a failure, once until it clears; the recovery; a corrupt file moved aside)
    from any thread that records, or from the sender thread of a database."""

    def __init__(self, path: str | os.PathLike[str], on_message: Callable[[str], None] | None = None,
                 busy_timeout: float = BUSY_TIMEOUT, max_held: int = MAX_HELD, *, host: str | None = None,
                 spool: str | os.PathLike[str] | None = None, answer_wait: float = ANSWER_WAIT):
        self.host = host or default_host()
        self.target = os.fspath(path)
        self._lock = threading.Lock()
        self._reader: Db | None = None
        self._writer: DirectWriter | SpoolingWriter
        if is_database_url(self.target):
            self.path: Path | None = None
            self.description = redacted(self.target)
            self._writer = SpoolingWriter(PostgresStore(self.target, self.host),
                                          Spool(spool if spool is not None else default_spool(self.target)),
                                          on_message, answer_wait, max_held)
        else:
            self.path = Path(self.target)
            self.description = str(self.path)
            self._writer = DirectWriter(SqliteStore(self.path, self.host, busy_timeout), on_message, max_held)

    def __enter__(self) -> ReportIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def last_error(self) -> str | None:
        """One line while the index cannot be written, else None."""
        return self._writer.health.last_error

    @property
    def held(self) -> int:
        """Reports (and repeats) waiting to be written."""
        return self._writer.held

    def record(self, *, board: str, build: str | None, boot: str | None, time: float, kind: str, title: str,
               crash: bool, corrupted: bool, report_dir: str | os.PathLike[str] | None = None,
               console_log: str | os.PathLike[str] | None = None) -> bool:
        """Add one report; True when its title is a new problem (never seen before).

        The report's text and excerpt are read from `report_dir` (report.txt and
        excerpt.log), so the dashboard can show them on any host. When the index cannot
        be written now, the answer comes from the titles this process knows."""
        entry = ReportRecord(clean_text(board) or "", clean_text(build), clean_text(boot), float(time),
                             clean_text(kind) or "", clean_text(title) or "", bool(crash), bool(corrupted),
                             clean_text(report_dir), clean_text(console_log), host=self.host, uid=uuid.uuid4().hex,
                             text=_report_file(report_dir, "report.txt"),
                             excerpt=_report_file(report_dir, "excerpt.log"))
        with self._lock:
            new = entry.title not in self._writer.titles
            self._writer.titles.add(entry.title)
        answer = self._writer.submit(entry, wait=new)  # a title seen before is not new: no need to ask
        return new if answer is None else answer

    def record_repeat(self, *, board: str, boot: str | None, title: str, time: float, count: int) -> None:
        """The same title came again in one boot: the boot's first report of it now counts
        `count` times (itself included), the last at `time`. Absolute, so it may be sent twice."""
        self._writer.submit(RepeatRecord(self.host, clean_text(board) or "", clean_text(boot),
                                         clean_text(title) or "", int(count), float(time)))

    def publish_boards(self, boards: Iterable[BoardSnapshot], now: float | None = None) -> None:
        """The rack's boards as the dashboard shows them; the latest replaces the last."""
        now = clock.time() if now is None else now
        self._writer.publish_boards([
            BoardRecord(self.host, board.name, board.state, board.build, board.boot,
                        now - board.uptime if board.uptime is not None else None, board.reports_this_boot, now)
            for board in boards])

    def problems(self, board: str | None = None, since: float | None = None, kind: str | None = None,
                 crash_only: bool = False) -> list[Problem]:
        """See `read_problems`. Raises for trouble: queries are not on a watcher's path."""
        return self._query(lambda db: read_problems(db, board, since, kind, crash_only))

    def reports(self, board: str | None = None, since: float | None = None, kind: str | None = None,
                crash_only: bool = False, title: str | None = None, limit: int | None = None) -> list[ReportRecord]:
        """See `read_reports`. Raises for trouble."""
        return self._query(lambda db: read_reports(db, board, since, kind, crash_only, title, limit))

    def wait_sent(self, timeout: float) -> bool:
        """Wait until nothing is waiting to be written to a database; whether it got there."""
        if isinstance(self._writer, SpoolingWriter):
            return self._writer.wait_sent(timeout)
        return self._writer.held == 0

    def close(self) -> None:
        """Write what is waiting if the index allows it now (a database: what is left stays
        in the spool for the next start), then close it."""
        self._writer.close()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def _query(self, question: Callable[[Db], Result]) -> Result:
        if isinstance(self._writer, DirectWriter):
            return self._writer.query(question)
        with self._lock:
            if self._reader is None:
                self._reader = open_postgres_reader(self.target, self.host)
            try:
                return question(self._reader)
            except BaseException:
                self._reader.close()
                self._reader = None
                raise


def _report_file(report_dir: str | os.PathLike[str] | None, name: str) -> str | None:
    """A report file's text for the index (cut at MAX_TEXT); None when it is not there."""
    if report_dir is None:
        return None
    try:
        with open(Path(report_dir) / name, "rb") as file:
            data = file.read(MAX_TEXT * 4 + 1)
    except OSError:
        return None
    return clean_text(data.decode(errors="replace"), MAX_TEXT)
