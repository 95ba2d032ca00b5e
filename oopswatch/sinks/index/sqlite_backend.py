"""The index in a SQLite file (the default, no server): opening it for writing (WAL, a
quick check on the first open, the schema brought up to date), moving a corrupt file
aside, and opening it read-only for queries."""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from pathlib import Path

from oopswatch.sinks.index.db import SQLITE, Db
from oopswatch.sinks.index.schema import SCHEMA_VERSION, check_not_newer, migrate, schema_version

BUSY_TIMEOUT = 1.0  # seconds to wait for another writer before holding the report
_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}

# A failure to write: the operation is held and tried again later.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)
# An operation that can never be written (holding it would stop every later one).
UNWRITABLE_ERRORS: tuple[type[BaseException], ...] = (sqlite3.IntegrityError, sqlite3.InterfaceError,
                                                      sqlite3.DataError)


class Corrupt(sqlite3.DatabaseError):
    """The quick check found damage."""


class SqliteStore:
    """One index file, opened for writing."""

    dialect = SQLITE

    def __init__(self, path: str | os.PathLike[str], host: str, busy_timeout: float = BUSY_TIMEOUT):
        self.path = Path(path)
        self.host = host
        self.busy_timeout = busy_timeout
        self.description = str(self.path)
        self._checked = False  # the quick check runs once, on the first successful open

    def open(self) -> Db:
        """Open (creating if need be), check and upgrade the file. Raises sqlite3.Error,
        OSError, or SchemaTooNew."""
        if self.path.parent.exists() and not self.path.parent.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(self.path.parent))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        db = Db(conn, SQLITE, self.description)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            if not self._checked:
                damage = [row[0] for row in conn.execute("PRAGMA quick_check")]
                if damage != ["ok"]:
                    raise Corrupt("; ".join(damage[:2]))
            migrate(db, self.host)
        except BaseException:
            conn.close()
            raise
        self._checked = True
        return db

    @staticmethod
    def is_corrupt(error: BaseException) -> bool:
        return isinstance(error, Corrupt) or getattr(error, "sqlite_errorname", None) in _CORRUPT

    def move_aside(self) -> str:
        """Rename a corrupt file (and its WAL and shared-memory files) out of the way;
        the new name. Raises OSError."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        number = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{number}")
            number += 1
        self.path.replace(target)
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists():
                companion.replace(target.with_name(target.name + suffix))
        self._checked = False
        return target.name


def connect_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """Open an index for queries only: never creates, repairs or moves the file, so a
    reader cannot disturb a watcher writing it. Raises sqlite3.Error."""
    uri = Path(path).absolute().as_uri() + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("SELECT 1 FROM problems, reports LIMIT 1").fetchall()
    except BaseException:
        conn.close()
        raise
    return conn


def open_sqlite_reader(path: str | os.PathLike[str], host: str) -> Db:
    """A read-only `Db` on an index file; an index of an older oopswatch is upgraded
    first (the one write a reader makes). Raises sqlite3.Error or SchemaTooNew."""
    db = Db(connect_readonly(path), SQLITE, str(path))
    try:
        version = schema_version(db)
        check_not_newer(db, version)
    except BaseException:
        db.close()
        raise
    if version < SCHEMA_VERSION:
        db.close()
        writer = SqliteStore(path, host)
        writer.open().close()
        db = Db(connect_readonly(path), SQLITE, str(path))
    return db
