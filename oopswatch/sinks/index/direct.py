"""Writing a local index file (SQLite) at once, in the caller's thread.

A local file is either writable now or not (disk full, locked by another writer for
longer than the busy timeout, an unwritable directory): what cannot be written is held
in memory, oldest first, and written by a later call; the failure is one message, the
recovery another. A file that is not a database, or fails SQLite's quick check when
first opened, is moved aside and a new index started.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from oopswatch.sinks.index.db import Db, describe_error
from oopswatch.sinks.index.health import Health
from oopswatch.sinks.index.records import BoardRecord, RepeatRecord, ReportRecord
from oopswatch.sinks.index.schema import SchemaTooNew
from oopswatch.sinks.index.sqlite_backend import TRANSIENT_ERRORS, UNWRITABLE_ERRORS, SqliteStore
from oopswatch.sinks.index.writes import AlreadyStored, apply_repeat, apply_report, open_for_writing, publish_boards

MAX_HELD = 10000  # operations kept in memory while the index cannot be written

Result = TypeVar("Result")


class DirectWriter:
    """Safe to share between threads."""

    def __init__(self, store: SqliteStore, on_message: Callable[[str], None] | None, max_held: int = MAX_HELD):
        self.store = store
        self.health = Health(f"report index {store.path}", on_message,
                             "holding reports in memory until it can be written")
        self.titles: set[str] = set()  # every title known: answers "new problem?" while the file fails
        self._lock = threading.RLock()
        self._db: Db | None = None
        self._held: deque[ReportRecord | RepeatRecord] = deque(maxlen=max_held)
        self._dropped = 0  # held operations pushed out by newer ones
        with self._lock:
            self._try(lambda: None)

    @property
    def held(self) -> int:
        return len(self._held)

    def submit(self, operation: ReportRecord | RepeatRecord, wait: bool = True) -> bool | None:
        """Write it (after what is held); for a report, whether it made a new problem;
        None when it could not be written now (it is held). A file answers at once: `wait`
        is for the spooling writer's sake."""
        with self._lock:
            if len(self._held) == self._held.maxlen:
                self._dropped += 1
            self._held.append(operation)
            return self._try(self._write_held, operation)

    def publish_boards(self, boards: Sequence[BoardRecord]) -> None:
        with self._lock:
            self._try(lambda: publish_boards(self._connection(), list(boards)))

    def query(self, question: Callable[[Db], Result]) -> Result:
        """Ask the open file; raises for trouble (queries are not on a watcher's path)."""
        with self._lock:
            return question(self._connection())

    def close(self) -> None:
        """Write what is held if the file allows it now, then close it."""
        with self._lock:
            if self._held:
                self._try(self._write_held, None)
            if self._held:
                self.health.say(f"report index {self.store.path}: closing with {len(self._held)} reports not indexed")
                self._held.clear()
            self._disconnect()

    # Internals below; the callers hold self._lock.

    def _connection(self) -> Db:
        if self._db is None:
            self._db, titles = open_for_writing(self.store)
            self.titles.update(titles)
        return self._db

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _try(self, action: Callable[..., Result], *args: object, retry: bool = True) -> Result | None:
        """Run an action on the open file, turning a failure into one message.
        Returns the action's result, or None when it failed."""
        waiting = len(self._held)
        try:
            self._connection()
            result = action(*args)
        except SchemaTooNew as error:
            self._disconnect()
            self.health.failed(str(error))
            return None
        except TRANSIENT_ERRORS as error:
            self._disconnect()
            if retry and self.store.is_corrupt(error):
                # A corrupt file is moved aside (which says so, or says why it cannot be).
                return self._try(action, *args, retry=False) if self._move_aside(describe_error(error)) else None
            self.health.failed(describe_error(error))
            return None
        if self.health.last_error is not None:
            lost = f"; {self._dropped} more did not fit in memory and are not indexed" if self._dropped else ""
            self._dropped = 0
            self.health.recovered(f"recording again; wrote the {waiting} reports that were waiting{lost}")
        return result

    def _write_held(self, current: ReportRecord | RepeatRecord | None) -> bool | None:
        """Write the held operations oldest first, each in its own transaction.
        Returns whether `current` made a new problem when it was written."""
        new = None
        while self._held:
            operation = self._held[0]
            try:
                made_new = self._apply(operation)
            except UNWRITABLE_ERRORS as error:
                # This one can never be written; holding it would stop every later one.
                self._held.popleft()
                self.health.say(f"report index {self.store.path}: cannot record {operation.title!r}: "
                                f"{describe_error(error)}; skipped it")
                continue
            self._held.popleft()
            if operation is current:
                new = made_new
        return new

    def _apply(self, operation: ReportRecord | RepeatRecord) -> bool:
        db = self._connection()
        if isinstance(operation, RepeatRecord):
            apply_repeat(db, operation)
            return False
        try:
            new = apply_report(db, operation)
        except AlreadyStored:
            return False
        self.titles.add(operation.title)
        return new

    def _move_aside(self, reason: str) -> bool:
        try:
            name = self.store.move_aside()
        except OSError as error:
            self.health.failed(f"corrupt ({reason}) and cannot be moved aside: {describe_error(error)}")
            return False
        self.health.say(f"report index {self.store.path}: corrupt ({reason}); moved aside to {name}, "
                        "starting a new one")
        return True
