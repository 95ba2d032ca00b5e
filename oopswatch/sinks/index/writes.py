"""The index's writes, each one transaction, the same SQL on SQLite and PostgreSQL.

Several rack hosts write one database at once: a problem is created by an upsert on its
unique title (exactly one writer creates it and is told "new"), counters are increased
in place (`count = count + 1`, never read-modify-write in Python), and a report carries
a unique key, so a report written twice (its commit's answer lost, a spool replayed) is
counted once: the second write finds the key and rolls back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from oopswatch.sinks.index.db import Db
from oopswatch.sinks.index.records import BoardRecord, RepeatRecord, ReportRecord

# The newer of a stored and a new time, and the report that goes with the newer one.
_LATER = "CASE WHEN {new} > {old} THEN {new} ELSE {old} END"
_EARLIER = "CASE WHEN {new} < {old} THEN {new} ELSE {old} END"


class Store(Protocol):
    """A database to write: SqliteStore or PostgresStore."""

    description: str

    def open(self) -> Db: ...


class AlreadyStored(Exception):
    """A report whose key is in the index already: the write changed nothing."""


def lock_problems(db: Db, operations: Sequence[ReportRecord | RepeatRecord]) -> set[str]:
    """PostgreSQL, at the start of a batch's transaction: create the batch's missing
    problems and lock every problem it touches, in title order. Batches of several hosts
    then take their locks in one order and never deadlock. The titles it created."""
    reports: dict[str, ReportRecord] = {}
    titles: set[str] = set()
    for operation in operations:
        titles.add(operation.title)
        if isinstance(operation, ReportRecord):
            reports.setdefault(operation.title, operation)
    created: set[str] = set()
    for title in sorted(titles):
        entry = reports.get(title)
        if entry is None:  # only repeats: their problem exists, or the repeat finds no report
            db.one("SELECT id FROM problems WHERE title = ? FOR UPDATE", (title,))
            continue
        row = db.one("INSERT INTO problems (title, kind, crash, first_seen, last_seen, count, reports) "
                     "VALUES (?, ?, ?, ?, ?, 0, 0) ON CONFLICT (title) DO UPDATE SET title = excluded.title "
                     "RETURNING (xmax = 0)", (title, entry.kind, int(entry.crash), entry.time, entry.time))
        if row is not None and row[0]:  # inserted, not updated
            created.add(title)
    return created


def apply_report(db: Db, entry: ReportRecord, created: set[str] | None = None) -> bool:
    """Store one report; True when its title made a new problem (or is in `created`, the
    problems `lock_problems` made for its batch: the first report of each is new). Raises
    AlreadyStored for a report stored before (nothing is changed then)."""
    with db.transaction():
        row = db.one("INSERT INTO problems (title, kind, crash, first_seen, last_seen, count, reports) "
                     "VALUES (?, ?, ?, ?, ?, 0, 0) ON CONFLICT (title) DO NOTHING RETURNING id",
                     (entry.title, entry.kind, int(entry.crash), entry.time, entry.time))
        new = row is not None or (created is not None and entry.title in created)
        if row is None:
            row = db.one("SELECT id FROM problems WHERE title = ?", (entry.title,))
        assert row is not None
        problem_id = row[0]
        last_seen = max(entry.time, entry.last_seen or entry.time)
        stored = db.one(
            "INSERT INTO reports (problem_id, board, build, boot, time, kind, title, crash, corrupted, report_dir, "
            "console_log, uid, host, repeats, last_seen, text, excerpt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid) DO NOTHING RETURNING id",
            (problem_id, entry.board, entry.build, entry.boot, entry.time, entry.kind, entry.title, int(entry.crash),
             int(entry.corrupted), entry.report_dir, entry.console_log, entry.uid, entry.host, entry.repeats,
             last_seen, entry.text, entry.excerpt))
        if stored is None:
            raise AlreadyStored(entry.uid)
        if created is not None:
            created.discard(entry.title)
        _count(db, problem_id, entry.host, entry.board, entry.build or "", 1 + entry.repeats, 1, entry.time,
               last_seen, stored[0])
    return new


def apply_repeat(db: Db, repeat: RepeatRecord) -> bool:
    """The first report of `repeat.title` in its boot now counts `repeat.count` times.
    False when there is no such report (its boot's report was never indexed)."""
    with db.transaction():
        row = db.one("SELECT id, problem_id, build, repeats, last_seen FROM reports "
                     "WHERE host = ? AND board = ? AND COALESCE(boot, '') = ? AND title = ? "
                     "ORDER BY time, id LIMIT 1", (repeat.host, repeat.board, repeat.boot or "", repeat.title))
        if row is None:
            return False
        report_id, problem_id, build, repeats, last_seen = row
        more = max(0, repeat.count - 1 - repeats)
        if more == 0 and repeat.time <= (last_seen or 0):
            return True
        db.execute(f"UPDATE reports SET repeats = repeats + ?, last_seen = {_LATER.format(new='?', old='last_seen')} "
                   "WHERE id = ?", (more, repeat.time, repeat.time, report_id))
        _count(db, problem_id, repeat.host, repeat.board, build or "", more, 0, repeat.time, repeat.time, None)
    return True


def _count(db: Db, problem_id: int, host: str, board: str, build: str, occurrences: int, reports: int,
           first: float, last: float, report_id: int | None) -> None:
    """Add to a problem's totals and to its host/board/build summary row."""
    newest = "CASE WHEN ? >= last_seen THEN ? ELSE last_report_id END" if report_id is not None \
        else "last_report_id"
    newest_params = (last, report_id) if report_id is not None else ()
    db.execute(f"UPDATE problems SET count = count + ?, reports = reports + ?, "
               f"first_seen = {_EARLIER.format(new='?', old='first_seen')}, "
               f"last_report_id = {newest}, last_seen = {_LATER.format(new='?', old='last_seen')} WHERE id = ?",
               (occurrences, reports, first, first, *newest_params, last, last, problem_id))
    summary = "problem_boards"
    db.execute(
        "INSERT INTO problem_boards (problem_id, host, board, build, count, reports, first_seen, last_seen, "
        "last_report_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (problem_id, host, board, build) DO UPDATE SET "
        f"count = {summary}.count + excluded.count, reports = {summary}.reports + excluded.reports, "
        f"first_seen = {_EARLIER.format(new='excluded.first_seen', old=summary + '.first_seen')}, "
        "last_report_id = CASE WHEN excluded.last_report_id IS NOT NULL "
        f"AND excluded.last_seen >= {summary}.last_seen THEN excluded.last_report_id "
        f"ELSE {summary}.last_report_id END, "
        f"last_seen = {_LATER.format(new='excluded.last_seen', old=summary + '.last_seen')}",
        (problem_id, host, board, build, occurrences, reports, first, last, report_id))


def publish_boards(db: Db, boards: list[BoardRecord]) -> None:
    """The latest state of a rack's boards (one row per host and board)."""
    with db.transaction():
        for board in boards:
            db.execute(
                "INSERT INTO boards (host, board, state, build, boot, boot_started, reports_this_boot, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (host, board) DO UPDATE SET state = excluded.state, "
                "build = excluded.build, boot = excluded.boot, boot_started = excluded.boot_started, "
                "reports_this_boot = excluded.reports_this_boot, updated = excluded.updated",
                (board.host, board.board, board.state, board.build, board.boot, board.boot_started,
                 board.reports_this_boot, board.updated))


def open_for_writing(store: Store) -> tuple[Db, set[str]]:
    """A store opened (schema up to date) and every problem's title in it, which answers
    "new problem?" while the index cannot be written."""
    db = store.open()
    try:
        return db, {row[0] for row in db.all("SELECT title FROM problems")}
    except BaseException:
        db.close()
        raise
