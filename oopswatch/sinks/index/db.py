"""One way to talk to either database: the schema, the writes and the queries are written
once, in SQL both SQLite and PostgreSQL understand, with `?` placeholders; this adaptor
turns them into psycopg's `%s` and gives both the same transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Db:
    """A DB-API connection and its dialect. SQLite connections are opened in autocommit
    mode (isolation_level=None), psycopg ones with autocommit=True: a transaction is
    always explicit (`transaction()`)."""

    def __init__(self, conn: Any, dialect: str, description: str):
        self.conn = conn
        self.dialect = dialect
        self.description = description  # a file path or a URL without its password, for messages

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        if self.dialect == POSTGRESQL:
            sql = sql.replace("?", "%s")
        return self.conn.execute(sql, tuple(params))

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.execute(sql, params).fetchall()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All or nothing; SQLite takes the write lock at once (BEGIN IMMEDIATE), so two
        writers wait for each other instead of failing halfway."""
        if self.dialect == POSTGRESQL:
            with self.conn.transaction():
                yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:
                with contextlib.suppress(Exception):  # else the caller closes it, which rolls back
                    self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


def describe_error(error: BaseException) -> str:
    """One line: the database's message, or the OS error with its file."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return " ".join(str(error).split()) or type(error).__name__
