"""Writing a shared database (PostgreSQL) without ever making the caller wait for it.

Every operation goes to the local spool file first, then a sender thread sends the spool
to the database oldest first, one transaction each, and removes what the database has.
A database that goes away costs the caller nothing: the sender says so once, retries
with backoff, and sends the backlog in order when the database is back. What is still in
the spool when oopswatch stops is sent by the next oopswatch that opens the same spool.
A spool file that cannot be written either (a full disk) is replaced by memory, in order,
until it can.

"New problem?" for a title this process has not seen is the database's answer when it
comes within `answer_wait` seconds (so two hosts never both announce one problem while
the database works); otherwise (the database is away, or slow), and for titles it has seen,
it is answered from the titles this process knows, without waiting. The backlog goes to
the database in batches, one transaction each, so a flood is not held to one commit (one
fsync) per report.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TypeVar

from oopswatch.sinks.index.db import Db, describe_error
from oopswatch.sinks.index.health import Health
from oopswatch.sinks.index.postgres_backend import PostgresStore, unwritable_errors
from oopswatch.sinks.index.records import BoardRecord, RepeatRecord, ReportRecord
from oopswatch.sinks.index.schema import SchemaTooNew
from oopswatch.sinks.index.spool import Spool
from oopswatch.sinks.index.writes import (
    AlreadyStored,
    apply_repeat,
    apply_report,
    lock_problems,
    open_for_writing,
    publish_boards,
)

ANSWER_WAIT = 0.25  # seconds a caller may wait for the database's "new problem?" when all is well
CLOSE_WAIT = 10.0  # seconds spent sending the backlog when closing (only while the database answers)
BACKOFF_START = 0.2
BACKOFF_MAX = 5.0
SCHEMA_RETRY = 60.0  # a database of a newer oopswatch is looked at again this often
BATCH = 100  # spool entries sent in one transaction
RETRIES = 5  # a batch rolled back by a deadlock with another host is sent again this often

Operation = ReportRecord | RepeatRecord
Result = TypeVar("Result")


class SpoolingWriter:
    def __init__(self, store: PostgresStore, spool: Spool, on_message: Callable[[str], None] | None,
                 answer_wait: float = ANSWER_WAIT, max_held: int = 10000):
        self.store = store
        self.spool = spool
        self.answer_wait = answer_wait
        self.health = Health(f"report index {store.description}", on_message,
                             f"spooling reports to {spool.path} until it is back")
        self.titles: set[str] = set()
        self._cond = threading.Condition()
        self._memory: deque[Operation] = deque(maxlen=max_held)  # when the spool file cannot be written
        self._dropped = 0
        self._spool_error: str | None = None
        self._backlog = 0  # operations not yet in the database (spool and memory)
        self._waiting: set[str] = set()  # uids of reports whose caller waits for the answer
        self._answers: dict[str, bool] = {}
        self._boards: list[BoardRecord] | None = None  # the latest snapshot not yet published
        # The last attempt to write the database worked; None: the first is under way (a
        # caller waits for it as for a working database, which is the usual case).
        self._healthy: bool | None = None
        self._stopping = False
        self._close_by = 0.0
        self._db: Db | None = None  # the sender thread's own
        self._unwritable = unwritable_errors()
        try:
            self._backlog = len(spool)  # left by an earlier run: sent first
        except (sqlite3.Error, OSError) as error:
            self._spool_failed(error)
        self._thread = threading.Thread(target=self._run, name="oopswatch-index-sender", daemon=True)
        self._thread.start()

    @property
    def held(self) -> int:
        """Operations not yet in the database."""
        return self._backlog

    def submit(self, operation: Operation, wait: bool = True) -> bool | None:
        """Spool it; for a report, the database's "new problem?" when it answers in time, else None.
        `wait=False`: the caller knows the answer (a title it has seen) and does not wait."""
        with self._cond:
            wait = wait and self._healthy is not False and self.answer_wait > 0 and isinstance(operation, ReportRecord)
            if wait:
                self._waiting.add(operation.uid)
            self._enqueue(operation)
            self._backlog += 1
            self._cond.notify_all()
            if not wait:
                return None
            deadline = time.monotonic() + self.answer_wait
            while (operation.uid not in self._answers and self._healthy is not False
                   and time.monotonic() < deadline):
                self._cond.wait(deadline - time.monotonic())
            self._waiting.discard(operation.uid)
            return self._answers.pop(operation.uid, None)

    def publish_boards(self, boards: Sequence[BoardRecord]) -> None:
        """Sent after the reports that are waiting; only the latest snapshot is kept."""
        with self._cond:
            self._boards = list(boards)
            self._cond.notify_all()

    def wait_sent(self, timeout: float) -> bool:
        """Wait until nothing is waiting to be sent (tests and benchmarks); whether it got there."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._backlog and time.monotonic() < deadline:
                self._cond.wait(min(0.1, deadline - time.monotonic()))
            return self._backlog == 0

    def close(self, wait: float = CLOSE_WAIT) -> None:
        """Send what is waiting while the database answers (at most `wait` seconds), then stop.
        What is left stays in the spool for the next start."""
        with self._cond:
            self._stopping = True
            self._close_by = time.monotonic() + wait
            self._cond.notify_all()
        self._thread.join(wait + 5)
        with self._cond:
            memory = len(self._memory)
            spooled = self._backlog - memory
        if spooled:
            self.health.say(f"report index {self.store.description}: closing with {spooled} reports in the spool "
                            f"{self.spool.path}; they are sent when the index is next opened with it")
        if memory:
            self.health.say(f"report index {self.store.description}: closing with {memory} reports not indexed "
                            "(the spool could not be written)")
        self.spool.close()

    # -- the caller's side ------------------------------------------------------------

    def _enqueue(self, operation: Operation) -> None:
        """To the spool; to memory when the spool fails, or while memory holds older ones."""
        if not self._memory:
            try:
                self.spool.append(operation)
            except (sqlite3.Error, OSError) as error:
                self._spool_failed(error)
            else:
                return
        if len(self._memory) == self._memory.maxlen:
            self._dropped += 1
            self._backlog -= 1
        self._memory.append(operation)

    def _spool_failed(self, error: BaseException) -> None:
        reason = f"spool {self.spool.path}: {describe_error(error)}; holding reports in memory"
        if reason != self._spool_error:
            self._spool_error = reason
            self.health.say(f"report index {self.store.description}: {reason}")

    # -- the sender thread -------------------------------------------------------------

    def _run(self) -> None:
        delay = BACKOFF_START
        first = True  # connect at once, so that the first report finds the database open
        while True:
            with self._cond:
                while not first and not self._stopping and not self._backlog and self._boards is None:
                    self._cond.wait()
                first = False
                done = not self._backlog and self._boards is None
                if self._stopping and (done or self._healthy is False or time.monotonic() >= self._close_by):
                    break
            try:
                self._send()
                delay = BACKOFF_START
                continue
            except SchemaTooNew as error:
                self._failed(str(error))
                delay = SCHEMA_RETRY
            except (sqlite3.Error, OSError) as error:  # the spool file itself
                self._spool_failed(error)
                self._healthy = False
            except Exception as error:  # the database went away (or refused this write): try again later
                self._failed(describe_error(error))
            with self._cond:
                if not self._stopping:
                    self._cond.wait(delay)
            delay = min(delay * 2, BACKOFF_MAX) if delay < SCHEMA_RETRY else delay
        self._disconnect()

    def _failed(self, reason: str) -> None:
        self._disconnect()
        with self._cond:
            self._healthy = False
            self._cond.notify_all()  # a waiting caller stops waiting
        self.health.failed(reason)

    def _send(self) -> None:
        """Send a batch of the backlog (spool first, then memory), then the boards."""
        db = self._connection()
        waiting = self._backlog
        batch = self.spool.oldest(BATCH)
        if batch:
            self._deliver(db, [operation for _, operation in batch])
            self.spool.remove_through(batch[-1][0])
            self._delivered([operation for _, operation in batch])
        elif self._memory:
            operations = list(self._memory)[:BATCH]
            self._deliver(db, operations)
            for _ in operations:
                self._memory.popleft()
            self._delivered(operations)
        elif self._spool_error is not None:
            with contextlib.suppress(sqlite3.Error, OSError):
                if len(self.spool) == 0:  # the spool is readable again
                    self._spool_error = None
        with self._cond:
            self._healthy = True
        self.health.recovered(f"recording again; sending the {waiting} reports that were waiting")
        with self._cond:
            boards = self._boards if not self._backlog else None
            self._boards = None if boards is not None else self._boards
        if boards is not None:
            try:
                publish_boards(db, boards)
            except BaseException:
                with self._cond:
                    self._boards = self._boards or boards
                raise

    def _deliver(self, db: Db, operations: list[Operation]) -> None:
        """Write a batch in one transaction, in order (each in a savepoint of its own, so
        one that can never be written is skipped alone), its problems locked first in
        title order (see lock_problems). Should PostgreSQL still roll the batch back for
        a conflict with another host, it is sent again at once."""
        from psycopg.errors import TransactionRollback

        for attempt in range(1, RETRIES + 1):
            answers: dict[str, bool] = {}
            try:
                with db.transaction():
                    created = lock_problems(db, operations)
                    for operation in operations:
                        self._write(db, operation, answers, created)
            except TransactionRollback:
                if attempt == RETRIES:
                    raise
                continue
            break
        with self._cond:
            for uid, answer in answers.items():
                if uid in self._waiting:
                    self._answers[uid] = answer

    def _write(self, db: Db, operation: Operation, answers: dict[str, bool], created: set[str]) -> None:
        try:
            if isinstance(operation, RepeatRecord):
                apply_repeat(db, operation)
            else:
                answers[operation.uid] = apply_report(db, operation, created)
        except AlreadyStored:
            answers[operation.uid] = False
        except self._unwritable as error:
            self.health.say(f"report index {self.store.description}: cannot record {operation.title!r}: "
                            f"{describe_error(error)}; skipped it")

    def _delivered(self, operations: list[Operation]) -> None:
        with self._cond:
            self._backlog -= len(operations)
            self.titles.update(operation.title for operation in operations)
            self._cond.notify_all()

    def _connection(self) -> Db:
        if self._db is None:
            db, titles = open_for_writing(self.store)
            with self._cond:
                self.titles.update(titles)
            self._db = db
        return self._db

    def _disconnect(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
