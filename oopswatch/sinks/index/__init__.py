"""The report index: problems (reports grouped by title) and reports, in a SQLite file in
the output directory (the default, no server) or in a lab's PostgreSQL database shared
by many rack hosts (`index: postgresql://user@host/db`, or `--index URL`).

Everyone opens it the same way: `open_index(output, url)` for writing (watch, rack,
qemu), `open_reader(target)` for questions (`oopswatch reports`, the dashboard).

    records.py          what is stored: reports, repeats, boards, problems
    schema.py           the tables, created and upgraded (a version table)
    writes.py           the writes, one transaction each, safe with many writers
    queries.py          the questions
    sqlite_backend.py   a SQLite file: open, check, move a corrupt one aside
    postgres_backend.py a PostgreSQL database: connect with timeouts, read-only sessions
    direct.py           writing a local file at once, holding what fails in memory
    spool.py, spooled.py  writing a database through a local spool and a sender thread
    report_index.py     ReportIndex, the one writer API
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.sinks.index.db import Db, describe_error
from oopswatch.sinks.index.postgres_backend import is_database_url, open_postgres_reader, redacted
from oopswatch.sinks.index.queries import parse_since, read_problems, read_reports
from oopswatch.sinks.index.records import BoardRecord, Problem, RepeatRecord, ReportRecord
from oopswatch.sinks.index.report_index import ReportIndex, default_host
from oopswatch.sinks.index.schema import SCHEMA_VERSION, SchemaTooNew
from oopswatch.sinks.index.spool import SPOOL_NAME
from oopswatch.sinks.index.sqlite_backend import connect_readonly, open_sqlite_reader

INDEX_NAME = "reports.sqlite"

__all__ = [
    "INDEX_NAME",
    "SCHEMA_VERSION",
    "SPOOL_NAME",
    "BoardRecord",
    "Problem",
    "RepeatRecord",
    "ReportIndex",
    "ReportRecord",
    "check_index_target",
    "connect_readonly",
    "index_path",
    "load_problems",
    "open_index",
    "open_reader",
    "parse_since",
    "read_problems",
    "read_reports",
]


def index_path(output_dir: str | os.PathLike[str]) -> Path:
    """Where the index of an output directory lives."""
    return Path(output_dir) / INDEX_NAME


def check_index_target(target: str, what: str = "--index") -> str:
    """A postgresql:// URL or an index file path; any other URL is a one-line InputError."""
    scheme = urllib.parse.urlsplit(target).scheme
    if "://" in target and not is_database_url(target):
        raise InputError(f"{what} {redacted(target)}: unsupported scheme {scheme!r}; give postgresql://USER@HOST/DB "
                         "or an index file")
    return target


def open_index(output: str | os.PathLike[str], url: str | None = None, **options: object) -> ReportIndex:
    """The index an oopswatch writing to `output` records into: `url` (a PostgreSQL
    database, spooled through `output`/index-spool.sqlite, or an index file) or else the
    output directory's reports.sqlite. `options` go to ReportIndex (on_message, host...)."""
    if url is None:
        return ReportIndex(index_path(output), **options)  # type: ignore[arg-type]
    check_index_target(url)
    if is_database_url(url):
        options.setdefault("spool", Path(output) / SPOOL_NAME)
    return ReportIndex(url, **options)  # type: ignore[arg-type]


def connect_reader(target: str | os.PathLike[str], host: str | None = None) -> Db:
    """An index opened for questions: a postgresql:// URL or an index file. A missing,
    unreadable or too new index is an InputError that says what to give instead."""
    text = os.fspath(target)
    check_index_target(text)
    description = redacted(text)
    try:
        if is_database_url(text):
            return open_postgres_reader(text, host or default_host())
        if not Path(text).is_file():
            raise InputError(f"{text}: no report index here; give --output an oopswatch output directory, "
                             "or --index the index file or a postgresql:// URL")
        return open_sqlite_reader(text, host or default_host())
    except SchemaTooNew as error:
        raise InputError(f"{description}: {error}") from None
    except InputError:
        raise
    except Exception as error:  # SQLite's or psycopg's: unreadable, the server is away, refuses us, ...
        raise InputError(f"{description}: cannot read the report index: {describe_error(error)}") from None


@contextlib.contextmanager
def open_reader(target: str | os.PathLike[str], host: str | None = None) -> Iterator[Db]:
    """`connect_reader`, closed at the end."""
    db = connect_reader(target, host)
    try:
        yield db
    finally:
        db.close()


def load_problems(path: str | os.PathLike[str], **filters: object) -> list[Problem]:
    """`read_problems` of an index file or database; a missing or unreadable index is an
    `InputError` that says what to give instead."""
    with open_reader(path) as db:
        try:
            return read_problems(db, **filters)  # type: ignore[arg-type]
        except (sqlite3.Error, OSError) as error:
            raise InputError(f"{db.description}: cannot read the report index: {describe_error(error)}") from None
