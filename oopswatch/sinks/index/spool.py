"""The spool: a local SQLite file of index writes not yet in the shared database, oldest
first. A report goes here before anything is sent, so neither a database that went away
nor a rack that was restarted loses one; the sender removes it once the database has it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from pathlib import Path

from oopswatch.sinks.index.records import RepeatRecord, ReportRecord, operation_from_spool, operation_name

SPOOL_NAME = "index-spool.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    operation TEXT NOT NULL,
    data TEXT NOT NULL
);
"""

Operation = ReportRecord | RepeatRecord


class Spool:
    """Thread-safe; every method raises sqlite3.Error or OSError when the file cannot be used."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")  # survives a killed process; one fsync per checkpoint
                conn.executescript(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def append(self, operation: Operation) -> int:
        """Add at the end; its sequence number."""
        data = json.dumps(operation.to_spool())
        with self._lock:
            try:
                cursor = self._connection().execute("INSERT INTO pending (operation, data) VALUES (?, ?)",
                                                    (operation_name(operation), data))
            except sqlite3.Error:
                self._close()
                raise
            return int(cursor.lastrowid or 0)

    def oldest(self, limit: int = 100) -> list[tuple[int, Operation]]:
        with self._lock:
            try:
                rows = self._connection().execute(
                    "SELECT seq, operation, data FROM pending ORDER BY seq LIMIT ?", (limit,)).fetchall()
            except sqlite3.Error:
                self._close()
                raise
        return [(seq, operation_from_spool(name, json.loads(data))) for seq, name, data in rows]

    def remove_through(self, seq: int) -> None:
        """Remove the oldest entries, up to and including `seq`."""
        with self._lock:
            try:
                self._connection().execute("DELETE FROM pending WHERE seq <= ?", (seq,))
            except sqlite3.Error:
                self._close()
                raise

    def __len__(self) -> int:
        with self._lock:
            try:
                return int(self._connection().execute("SELECT COUNT(*) FROM pending").fetchone()[0])
            except sqlite3.Error:
                self._close()
                raise

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
