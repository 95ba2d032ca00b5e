"""The index in PostgreSQL (a lab's shared database), through psycopg 3: connecting with
timeouts that keep a vanished server from hanging the writer for long, the schema
brought up to date, read-only sessions for queries, and which errors mean "try again"."""

from __future__ import annotations

import urllib.parse
from typing import TYPE_CHECKING

from oopswatch.sinks.index.db import POSTGRESQL, Db
from oopswatch.sinks.index.schema import migrate

if TYPE_CHECKING:
    import psycopg

URL_SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT = 5  # seconds
# Over TCP, a server that vanished without closing the connection is noticed within about
# this long (libpq's tcp_user_timeout and keepalives; unix sockets do not need them).
TCP_USER_TIMEOUT_MS = 10_000
STATEMENT_TIMEOUT_MS = 30_000



def unwritable_errors() -> tuple[type[BaseException], ...]:
    """Errors that say this operation can never be written (bad data): holding it would
    stop every later one. (psycopg is imported only when a database is used: it costs
    half a second, which `oopswatch scan` should not pay.)"""
    import psycopg

    return (psycopg.DataError, psycopg.IntegrityError)


def is_database_url(target: object) -> bool:
    return isinstance(target, str) and urllib.parse.urlsplit(target).scheme in URL_SCHEMES


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def connect(url: str, read_only: bool = False) -> psycopg.Connection:
    """A connection in autocommit mode (transactions are explicit). Raises psycopg.Error."""
    import psycopg

    options = f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
    if read_only:
        options += " -c default_transaction_read_only=on"
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, application_name="oopswatch",
                           options=options, keepalives=1, keepalives_idle=5, keepalives_interval=2,
                           keepalives_count=3, tcp_user_timeout=TCP_USER_TIMEOUT_MS)


class PostgresStore:
    """One database, opened for writing."""

    dialect = POSTGRESQL

    def __init__(self, url: str, host: str):
        self.url = url
        self.host = host
        self.description = redacted(url)

    def open(self) -> Db:
        """Connect and bring the schema up to date. Raises psycopg.Error or SchemaTooNew."""
        db = Db(connect(self.url), POSTGRESQL, self.description)
        try:
            migrate(db, self.host)
        except BaseException:
            db.close()
            raise
        return db


def open_postgres_reader(url: str, host: str) -> Db:
    """A read-only `Db`; an empty database gets the schema, an older one is upgraded (a
    short read-write session first). Raises psycopg.Error or SchemaTooNew."""
    PostgresStore(url, host).open().close()
    return Db(connect(url, read_only=True), POSTGRESQL, redacted(url))

