"""The report index: every report of every board in one SQLite file, grouped into
problems by title, so a lab can ask "what crashed, where, since when" and hooks can
fire only for problems never seen before.

The index serves a watcher that must not stop: `record` never raises for index
trouble. A failure (disk full, database locked, an unwritable directory) becomes a
one-line `last_error`, passed to `on_message` once until the index works again; the
reports that could not be written are held in memory and written by a later `record`.
A file that is not a database, or fails SQLite's quick check when first opened, is
moved aside and a new index started. Writes use WAL mode and one transaction per
report, so a process killed mid-write leaves a consistent file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

INDEX_NAME = "reports.sqlite"
SCHEMA_VERSION = 2
MAX_HELD = 10000  # reports kept in memory while the index cannot be written
BUSY_TIMEOUT = 1.0  # seconds to wait for another writer before holding the report

_SCHEMA = """
CREATE TABLE IF NOT EXISTS problems (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    crash INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reports (
    id INTEGER PRIMARY KEY,
    problem_id INTEGER NOT NULL REFERENCES problems(id),
    board TEXT NOT NULL,
    build TEXT,
    boot TEXT,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    crash INTEGER NOT NULL,
    corrupted INTEGER NOT NULL,
    report_dir TEXT,
    console_log TEXT,
    repeats INTEGER NOT NULL DEFAULT 0,
    last_seen REAL
);
CREATE INDEX IF NOT EXISTS reports_by_problem ON reports(problem_id, time);
CREATE INDEX IF NOT EXISTS reports_by_time ON reports(time);
CREATE INDEX IF NOT EXISTS reports_by_dir ON reports(report_dir);
"""
# Version 1 ▶ 2: a report counts the times its problem came back in the same boot.
_MIGRATE_1 = """
ALTER TABLE reports ADD COLUMN repeats INTEGER NOT NULL DEFAULT 0;
ALTER TABLE reports ADD COLUMN last_seen REAL;
"""

_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def index_path(output_dir: str | os.PathLike[str]) -> Path:
    """Where the index of an output directory lives."""
    return Path(output_dir) / INDEX_NAME


@dataclass(frozen=True)
class ReportRecord:
    """One report as the index keeps it."""

    board: str
    build: str | None
    boot: str | None
    time: float  # host time of the report, seconds since the epoch
    kind: str
    title: str
    crash: bool
    corrupted: bool
    report_dir: str | None
    console_log: str | None
    repeats: int = 0  # the problem came back this many more times in the same boot
    last_seen: float | None = None  # host time of the last of them

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Problem:
    """All reports with one title: how often, where, and when."""

    title: str
    kind: str
    crash: bool
    count: int
    boards: list[str] = field(default_factory=list)  # sorted
    builds: list[str] = field(default_factory=list)  # sorted; reports without a build name add none
    first_seen: float = 0.0
    last_seen: float = 0.0
    last_report_dir: str | None = None

    def to_json(self) -> dict:
        return asdict(self)


class ReportIndex:
    """The index file of one output directory, for writing; safe to share between threads.

    `on_message` receives one-line messages (a failure, once until it clears; the
    recovery; a corrupt file moved aside). It may be called from any thread that records."""

    def __init__(self, path: str | os.PathLike[str], on_message: Callable[[str], None] | None = None,
                 busy_timeout: float = BUSY_TIMEOUT, max_held: int = MAX_HELD):
        self.path = Path(path)
        self.on_message = on_message
        self.busy_timeout = busy_timeout
        self.last_error: str | None = None  # one line while the index is failing, else None
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._checked = False  # the quick check runs once, on the first successful open
        self._held: deque[ReportRecord] = deque(maxlen=max_held)
        self._held_repeats: dict[str, tuple[int, float]] = {}  # report_dir ▶ (repeats, last_seen) not written
        self._dropped = 0  # held reports pushed out by newer ones
        self._titles: set[str] = set()  # answers "new problem?" while the file cannot be written
        with self._lock:
            self._try(lambda: None)

    def __enter__(self) -> ReportIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def held(self) -> int:
        """Reports waiting in memory for the index to work again."""
        return len(self._held)

    def record(self, *, board: str, build: str | None, boot: str | None, time: float, kind: str, title: str,
               crash: bool, corrupted: bool, report_dir: str | os.PathLike[str] | None = None,
               console_log: str | os.PathLike[str] | None = None) -> bool:
        """Add one report. True when its title is a new problem (never seen before).

        When the file cannot be written the report is held, the answer comes from the
        titles this process has seen, and a later call writes it."""
        entry = ReportRecord(_text(board) or "", _text(build), _text(boot), float(time), _text(kind) or "",
                             _text(title) or "", bool(crash), bool(corrupted), _text(report_dir), _text(console_log))
        with self._lock:
            new = entry.title not in self._titles
            self._titles.add(entry.title)
            if len(self._held) == self._held.maxlen:
                self._dropped += 1
            self._held.append(entry)
            written = self._try(self._write_held, entry)
            return new if written is None else written

    def record_repeats(self, report_dir: str | os.PathLike[str], repeats: int, last_seen: float) -> None:
        """The report in `report_dir` came back: it has `repeats` repeats now, the last at
        `last_seen`. One row per report, updated in place; never raises (held like reports)."""
        key = _text(report_dir) or ""
        with self._lock:
            if key not in self._held_repeats and len(self._held_repeats) >= (self._held.maxlen or MAX_HELD):
                self._dropped += 1
                return
            self._held_repeats[key] = (int(repeats), float(last_seen))
            self._try(self._write_held, None)

    def problems(self, board: str | None = None, since: float | None = None, kind: str | None = None,
                 crash_only: bool = False) -> list[Problem]:
        """See `read_problems`. Raises sqlite3.Error: queries are not on a watcher's path."""
        with self._lock:
            return read_problems(self._connection(), board, since, kind, crash_only)

    def reports(self, board: str | None = None, since: float | None = None, kind: str | None = None,
                crash_only: bool = False, title: str | None = None, limit: int | None = None) -> list[ReportRecord]:
        """See `read_reports`. Raises sqlite3.Error."""
        with self._lock:
            return read_reports(self._connection(), board, since, kind, crash_only, title, limit)

    def close(self) -> None:
        """Write what is held if the file allows it now, then close it."""
        with self._lock:
            if self._held or self._held_repeats:
                self._try(self._write_held, None)
            if self._held or self._held_repeats:
                repeats = f" and {len(self._held_repeats)} repeat counts" if self._held_repeats else ""
                self._say(f"report index {self.path}: closing with {len(self._held)} reports{repeats} not indexed")
                self._held.clear()
                self._held_repeats.clear()
            self._disconnect()

    # Internals below; the callers hold self._lock.

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._connect()
        assert self._conn is not None
        return self._conn

    def _try(self, action: Callable[..., bool | None], *args: object, retry: bool = True) -> bool | None:
        """Run an action on the open file, turning a failure into `last_error`.
        Returns the action's result, or None when it failed."""
        waiting = len(self._held)
        try:
            self._connection()
            result = action(*args)
        except (sqlite3.Error, OSError) as error:
            self._disconnect()
            if retry and _is_corrupt(error):
                # A corrupt file is moved aside (which says so, or says why it cannot be).
                return self._try(action, *args, retry=False) if self._move_aside(_describe(error)) else None
            self._failed(_describe(error))
            return None
        self._recovered(waiting)
        return result

    def _connect(self) -> None:
        """Open (creating if need be) and check the file."""
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(self.path.parent))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            if not self._checked:
                damage = [row[0] for row in conn.execute("PRAGMA quick_check")]
                if damage != ["ok"]:
                    raise _Corrupt("; ".join(damage[:2]))
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"written by a newer oopswatch (schema version {version})")
            if version == 1:
                conn.executescript(f"BEGIN IMMEDIATE; {_MIGRATE_1} {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; "
                                   "COMMIT;")
            elif version < SCHEMA_VERSION:
                conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
            self._titles.update(row[0] for row in conn.execute("SELECT title FROM problems"))
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._checked = True

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None

    def _write_held(self, current: ReportRecord | None) -> bool | None:
        """Write the held reports oldest first, each in its own transaction.
        Returns whether `current` was a new problem when it was written."""
        new = None
        while self._held:
            entry = self._held[0]
            try:
                is_new = _insert(self._connection(), entry)
            except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError) as error:
                # This report can never be written; holding it would stop every later one.
                self._held.popleft()
                self._say(f"report index {self.path}: cannot record {entry.title!r}: {_describe(error)}; skipped it")
                continue
            self._held.popleft()
            if entry is current:
                new = is_new
        while self._held_repeats:
            report_dir, (repeats, last_seen) = next(iter(self._held_repeats.items()))
            self._connection().execute("UPDATE reports SET repeats = ?, last_seen = ? WHERE report_dir = ?",
                                       (repeats, last_seen, report_dir))
            del self._held_repeats[report_dir]
        return new

    def _move_aside(self, reason: str) -> bool:
        """Rename a corrupt file (and its WAL and shared-memory files) out of the way."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        number = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{number}")
            number += 1
        try:
            self.path.replace(target)
            for suffix in ("-wal", "-shm"):
                companion = self.path.with_name(self.path.name + suffix)
                if companion.exists():
                    companion.replace(target.with_name(target.name + suffix))
        except OSError as error:
            self._failed(f"corrupt ({reason}) and cannot be moved aside: {_describe(error)}")
            return False
        self._checked = False
        self._say(f"report index {self.path}: corrupt ({reason}); moved aside to {target.name}, starting a new one")
        return True

    def _failed(self, reason: str) -> None:
        message = f"report index {self.path}: {reason}; holding reports in memory until it can be written"
        if message != self.last_error:
            self.last_error = message
            self._say(message)

    def _recovered(self, written: int) -> None:
        if self.last_error is None:
            return
        self.last_error = None
        lost = f"; {self._dropped} more did not fit in memory and are not indexed" if self._dropped else ""
        self._dropped = 0
        self._say(f"report index {self.path}: recording again; wrote the {written} reports that were waiting{lost}")

    def _say(self, message: str) -> None:
        if self.on_message is not None:
            self.on_message(message)


def connect_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an index for queries only: never creates, repairs or moves the file, so a
    reader cannot disturb a watcher writing it. Raises sqlite3.Error."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None)
    try:
        conn.execute("SELECT 1 FROM problems, reports LIMIT 1").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def load_problems(path: Path, **filters: object) -> list[Problem]:
    """`read_problems` of the index file at `path`; a missing or unreadable index is an
    `InputError` that says what to give instead."""
    from oopswatch.errors import InputError

    if not path.is_file():
        raise InputError(f"{path}: no report index here; give --output an oopswatch output directory, "
                         "or --index the index file")
    try:
        with contextlib.closing(connect_readonly(path)) as conn:
            return read_problems(conn, **filters)  # type: ignore[arg-type]
    except sqlite3.Error as error:
        raise InputError(f"{path}: cannot read the report index: {' '.join(str(error).split())}") from None


def read_problems(conn: sqlite3.Connection, board: str | None = None, since: float | None = None,
                  kind: str | None = None, crash_only: bool = False) -> list[Problem]:
    """Problems with at least one matching report, newest first. Count, boards, builds and
    first/last seen are over the matching reports (`since` counts only reports since then)."""
    where, params = _filters(board, since, kind, crash_only, None)
    # With MAX(), SQLite takes the bare column r.report_dir from the row holding the maximum.
    rows = conn.execute(
        "SELECT p.id, p.title, p.kind, p.crash, r.board, r.build, SUM(1 + r.repeats), MIN(r.time), "
        "MAX(COALESCE(r.last_seen, r.time)), r.report_dir "
        f"FROM reports r JOIN problems p ON p.id = r.problem_id {where} GROUP BY p.id, r.board, r.build",
        params).fetchall()
    problems: dict[int, Problem] = {}
    for pid, title, pkind, pcrash, rboard, rbuild, count, first, last, report_dir in rows:
        problem = problems.get(pid)
        if problem is None:
            problem = problems[pid] = Problem(title, pkind, bool(pcrash), 0, [], [], first, last, report_dir)
        problem.count += count
        problem.boards.append(rboard)
        if rbuild is not None:
            problem.builds.append(rbuild)
        problem.first_seen = min(problem.first_seen, first)
        if last > problem.last_seen:
            problem.last_seen, problem.last_report_dir = last, report_dir
    for problem in problems.values():
        problem.boards = sorted(set(problem.boards))
        problem.builds = sorted(set(problem.builds))
    return sorted(problems.values(), key=lambda problem: (-problem.last_seen, problem.title))


def read_reports(conn: sqlite3.Connection, board: str | None = None, since: float | None = None,
                 kind: str | None = None, crash_only: bool = False, title: str | None = None,
                 limit: int | None = None) -> list[ReportRecord]:
    """Matching reports, newest first."""
    where, params = _filters(board, since, kind, crash_only, title)
    sql = ("SELECT board, build, boot, time, kind, title, crash, corrupted, report_dir, console_log, repeats, "
           f"last_seen FROM reports r {where} ORDER BY time DESC, id DESC")
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return [ReportRecord(*row[:6], bool(row[6]), bool(row[7]), *row[8:]) for row in conn.execute(sql, params)]


def _insert(conn: sqlite3.Connection, entry: ReportRecord) -> bool:
    """One report, one transaction. True when it made a new problem."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        cursor = conn.execute("INSERT OR IGNORE INTO problems (title, kind, crash) VALUES (?, ?, ?)",
                              (entry.title, entry.kind, int(entry.crash)))
        new = cursor.rowcount == 1
        problem_id = conn.execute("SELECT id FROM problems WHERE title = ?", (entry.title,)).fetchone()[0]
        conn.execute(
            "INSERT INTO reports (problem_id, board, build, boot, time, kind, title, crash, corrupted, "
            "report_dir, console_log) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (problem_id, entry.board, entry.build, entry.boot, entry.time, entry.kind, entry.title,
             int(entry.crash), int(entry.corrupted), entry.report_dir, entry.console_log))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # else the caller closes it, which rolls back
                conn.execute("ROLLBACK")
        raise
    return new


class _Corrupt(sqlite3.DatabaseError):
    """The quick check found damage."""


def _is_corrupt(error: BaseException) -> bool:
    return isinstance(error, _Corrupt) or getattr(error, "sqlite_errorname", None) in _CORRUPT


def _describe(error: BaseException) -> str:
    """One line: SQLite's message, or the OS error with its file."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return " ".join(str(error).split()) or type(error).__name__


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    try:
        text.encode()
    except UnicodeEncodeError:  # surrogates, e.g. from a file name: SQLite takes only UTF-8
        text = text.encode(errors="backslashreplace").decode()
    return text


def _filters(board: str | None, since: float | None, kind: str | None, crash_only: bool,
             title: str | None) -> tuple[str, list]:
    clauses: list[str] = []
    params: list = []
    for column, value in (("r.board", board), ("r.kind", kind), ("r.title", title)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("r.time >= ?")
        params.append(since)
    if crash_only:
        clauses.append("r.crash = 1")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params
