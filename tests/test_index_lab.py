"""The report index of a lab: the same answers from SQLite and from PostgreSQL (a private
server, tests/postgres.py), schema versions (an old index upgraded, a newer one refused),
many writers at once counting exactly, and a database that goes away and comes back."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from oopswatch.errors import InputError
from oopswatch.sinks.index import INDEX_NAME, ReportIndex, default_host, load_problems, open_reader
from oopswatch.sinks.index.db import POSTGRESQL, Db
from oopswatch.sinks.index.records import ReportRecord
from oopswatch.sinks.index.spool import Spool
from oopswatch.sinks.index.writes import AlreadyStored, apply_report
from tests.kernels import run_oopswatch
from tests.postgres import PostgresServer, postgres_server

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 24, 10, 0).timestamp()
pytestmark = pytest.mark.slow  # starts a PostgreSQL server
NULL = "BUG: kernel NULL pointer dereference in foo"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    """One server for the module (a test that stops it starts its own)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    return postgres.create_database()


def _record(index: ReportIndex, title: str, board: str = "rpi4", time: float = T0, kind: str = "bug",
            crash: bool = True, build: str | None = "v6.1", boot: str = "boot-001") -> bool:
    return index.record(board=board, build=build, boot=boot, time=time, kind=kind, title=title, crash=crash,
                        corrupted=False, report_dir=f"/out/{board}/{boot}/{time - T0:g}",
                        console_log=f"/out/{board}/{boot}/console.log")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path) -> tuple[str, dict]:
    """An index of each kind, and the options to open it with."""
    if request.param == "sqlite":
        return str(tmp_path / INDEX_NAME), {}
    # A long answer wait: every record() gets the database's own "new problem?" answer.
    return request.getfixturevalue("database_url"), {"spool": tmp_path / "spool.sqlite", "answer_wait": 10.0}


def test_both_databases_answer_alike(target, tmp_path):
    url, options = target
    report_dir = tmp_path / "report-001"
    report_dir.mkdir()
    (report_dir / "report.txt").write_text("== BUG: A\n  lkdtm_EXCEPTION+0x2/0xa drivers/misc/lkdtm/core.c:42\n")
    (report_dir / "excerpt.log").write_text("sh: echo EXCEPTION\nBUG: A\n")
    with ReportIndex(url, host="rack-a", **options) as index:
        assert _record(index, NULL, "rpi4", T0 + 60) is True
        assert _record(index, NULL, "bbb", T0, build=None) is False
        assert _record(index, NULL, "rpi4", T0 + 30, build="v6.2") is False
        assert _record(index, "WARNING in bar", "bbb", T0 + 120, kind="warning") is True
        assert _record(index, "oom-kill: sh", "rpi4", T0 + 10, kind="oom", crash=False) is True
        assert index.record(board="rpi4", build="v6.1", boot="boot-002", time=T0 + 200, kind="bug", title="BUG: A",
                            crash=True, corrupted=False, report_dir=report_dir) is True
        # The same title three more times in that boot: one report row, counted four times.
        index.record_repeat(board="rpi4", boot="boot-002", title="BUG: A", time=T0 + 230, count=3)
        index.record_repeat(board="rpi4", boot="boot-002", title="BUG: A", time=T0 + 260, count=4)
        index.record_repeat(board="rpi4", boot="boot-002", title="BUG: A", time=T0 + 230, count=3)  # sent again
        assert index.wait_sent(30) and index.last_error is None
        problems = index.problems()
        crashes = index.problems(crash_only=True)
        on_bbb = index.problems(board="bbb")
        recent = index.problems(since=T0 + 100)
        warnings = index.problems(kind="warning")
        rows = index.reports(board="rpi4")
    assert [(p.title, p.count, p.first_seen, p.last_seen) for p in problems] == [
        ("BUG: A", 4, T0 + 200, T0 + 260), ("WARNING in bar", 1, T0 + 120, T0 + 120), (NULL, 3, T0, T0 + 60),
        ("oom-kill: sh", 1, T0 + 10, T0 + 10)]
    null = problems[2]
    assert (null.boards, null.builds, null.hosts) == (["bbb", "rpi4"], ["v6.1", "v6.2"], ["rack-a"])
    assert null.last_report_dir == "/out/rpi4/boot-001/60"  # of the newest report, not of the last recorded
    assert [p.title for p in crashes] == ["BUG: A", "WARNING in bar", NULL]
    assert [(p.title, p.count, p.boards, p.builds) for p in on_bbb] == [("WARNING in bar", 1, ["bbb"], ["v6.1"]),
                                                                       (NULL, 1, ["bbb"], [])]
    assert [(p.title, p.count) for p in recent] == [("BUG: A", 4), ("WARNING in bar", 1)]
    assert [p.title for p in warnings] == ["WARNING in bar"]
    assert [(r.title, r.time, r.repeats, r.last_seen, r.boot) for r in rows] == [
        ("BUG: A", T0 + 200, 3, T0 + 260, "boot-002"), (NULL, T0 + 60, 0, T0 + 60, "boot-001"),
        (NULL, T0 + 30, 0, T0 + 30, "boot-001"), ("oom-kill: sh", T0 + 10, 0, T0 + 10, "boot-001")]
    with open_reader(url) as db:
        text, excerpt = db.one("SELECT text, excerpt FROM reports WHERE title = ?", ("BUG: A",))
    assert text == (report_dir / "report.txt").read_text() and excerpt == (report_dir / "excerpt.log").read_text()


OLD_SCHEMA = """
CREATE TABLE problems (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, crash INTEGER NOT NULL);
CREATE TABLE reports (id INTEGER PRIMARY KEY, problem_id INTEGER NOT NULL REFERENCES problems(id), board TEXT NOT NULL,
    build TEXT, boot TEXT, time REAL NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL, crash INTEGER NOT NULL,
    corrupted INTEGER NOT NULL, report_dir TEXT, console_log TEXT);
CREATE INDEX reports_by_problem ON reports(problem_id, time);
CREATE INDEX reports_by_time ON reports(time);
INSERT INTO problems VALUES (1, 'BUG: A', 'bug', 1), (2, 'WARNING in b', 'warning', 1);
INSERT INTO reports VALUES (1, 1, 'rpi4', 'v6.1', 'boot-1', 1000, 'bug', 'BUG: A', 1, 0, '/out/a1', '/out/c1'),
    (2, 1, 'bbb', NULL, 'boot-1', 3000, 'bug', 'BUG: A', 1, 0, '/out/a2', '/out/c2'),
    (3, 2, 'rpi4', 'v6.1', 'boot-1', 2000, 'warning', 'WARNING in b', 1, 0, '/out/w1', '/out/c1');
PRAGMA user_version = 1;
"""


def test_an_index_of_oopswatch_0_1_is_upgraded(tmp_path):
    path = tmp_path / INDEX_NAME
    with sqlite3.connect(path) as conn:
        conn.executescript(OLD_SCHEMA)
    conn.close()
    # A reader upgrades it (the one write a reader makes) and answers as before.
    assert [(p.title, p.count, p.boards, p.builds, p.first_seen, p.last_seen, p.last_report_dir)
            for p in load_problems(path)] == [("BUG: A", 2, ["bbb", "rpi4"], ["v6.1"], 1000, 3000, "/out/a2"),
                                               ("WARNING in b", 1, ["rpi4"], ["v6.1"], 2000, 2000, "/out/w1")]
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        assert conn.execute("SELECT uid, last_seen, repeats FROM reports ORDER BY id").fetchall() == [
            ("v1-1", 1000, 0), ("v1-2", 3000, 0), ("v1-3", 2000, 0)]
    conn.close()
    with ReportIndex(path, host="old-host") as index:
        assert _record(index, "BUG: A", time=4000) is False
        assert [(p.title, p.count, p.hosts) for p in index.problems()] == [
            ("BUG: A", 3, sorted(["old-host", default_host()])), ("WARNING in b", 1, [default_host()])]


def test_an_index_of_a_newer_oopswatch_is_refused(target, tmp_path):
    url, options = target
    with ReportIndex(url, **options) as index:
        _record(index, "BUG: A")
        assert index.wait_sent(30)
    if options:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("UPDATE schema_version SET version = 3")
    else:
        with sqlite3.connect(url) as conn:
            conn.execute("UPDATE schema_version SET version = 3")
        conn.close()
    messages: list[str] = []
    index = ReportIndex(url, on_message=messages.append, **options)
    try:
        assert _record(index, "BUG: B") is True  # answered from what this process knows
        assert _record(index, "BUG: B") is False
        index.wait_sent(0.5)
        assert index.held == 2
        assert messages[0].endswith(": the index has schema version 3, written by a newer oopswatch (this one knows "
                                    "versions up to 2); upgrade oopswatch on this host; " +
                                    ("holding reports in memory until it can be written" if not options else
                                     f"spooling reports to {tmp_path / 'spool.sqlite'} until it is back"))
    finally:
        index.close()
    with pytest.raises(InputError, match=r": the index has schema version 3, written by a newer oopswatch"):
        load_problems(url)


WRITER = textwrap.dedent("""
    import sys
    from oopswatch.sinks.index import ReportIndex
    url, spool, host, number = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    new = []
    with ReportIndex(url, host=host, spool=spool, answer_wait=30.0) as index:
        for i in range(150):
            title = f"BUG: problem {(i + number) % 10}"
            if index.record(board=f"board-{i % 3}", build="v6.1", boot=f"boot-{i // 10}", time=1e9 + i, kind="bug",
                            title=title, crash=True, corrupted=False):
                new.append(title)
        assert index.wait_sent(60) and index.last_error is None, index.last_error
    print("\\n".join(new))
""")


def test_concurrent_writers_on_one_database_count_exactly(database_url, tmp_path):
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, database_url, str(tmp_path / f"spool-{n}.sqlite"),
                                 f"host-{n % 3}", str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                cwd=REPO) for n in range(4)]
    announced: list[str] = []
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        announced += [line for line in out.splitlines() if line]
    # Every title is new to exactly one writer, lab-wide.
    assert sorted(announced) == sorted(f"BUG: problem {n}" for n in range(10))
    problems = load_problems(database_url)
    assert sorted((p.title, p.count) for p in problems) == sorted((f"BUG: problem {n}", 60) for n in range(10))
    assert all(p.hosts == ["host-0", "host-1", "host-2"] for p in problems)
    with open_reader(database_url) as db:
        assert db.one("SELECT COUNT(*), COUNT(DISTINCT uid) FROM reports") == (600, 600)
        assert db.one("SELECT SUM(count), SUM(reports) FROM problem_boards") == (600, 600)


def test_a_report_written_twice_counts_once(database_url):
    entry = ReportRecord("rpi4", "v6.1", "boot-1", T0, "bug", "BUG: A", True, False, None, None, host="h", uid="u-1")
    with open_reader(database_url):  # creates the schema
        pass
    with psycopg.connect(database_url, autocommit=True) as conn:
        db = Db(conn, POSTGRESQL, database_url)
        assert apply_report(db, entry) is True
        with pytest.raises(AlreadyStored):  # the commit's answer was lost, and the spool sends it again
            apply_report(db, entry)
        assert db.one("SELECT count, reports FROM problems") == (1, 1)
        assert db.one("SELECT COUNT(*) FROM reports") == (1,)


def test_a_database_that_goes_away_costs_nothing_and_gets_everything_in_order(tmp_path):
    spool = tmp_path / "out" / "index-spool.sqlite"
    with postgres_server() as server:
        url = server.create_database()
        messages: list[str] = []
        index = ReportIndex(url, on_message=messages.append, spool=spool, host="h")
        for number in range(3):
            _record(index, f"BUG: {number}", time=T0 + number)
        assert index.wait_sent(30)
        server.stop()
        for number in range(3, 8):
            _record(index, f"BUG: {number % 4}", time=T0 + number)
        assert index.held == 5
        index.close()  # a rack restart, with the database still away
        assert len(Spool(spool)) == 5
        assert messages[0].startswith(f"report index {url}: ") and messages[0].endswith(
            f"; spooling reports to {spool} until it is back")
        assert messages[1:] == [f"report index {url}: closing with 5 reports in the spool {spool}; they are sent "
                                "when the index is next opened with it"]
        server.start()
        messages.clear()
        with ReportIndex(url, on_message=messages.append, spool=spool, host="h") as again:
            assert again.wait_sent(30)
            rows = again.reports()
        assert messages == []  # it was not failing in this process: nothing to say
        assert len(Spool(spool)) == 0
    assert [(row.title, row.time) for row in sorted(rows, key=lambda row: row.id)] == [
        (f"BUG: {number % 4}" if number >= 3 else f"BUG: {number}", T0 + number) for number in range(8)]


def test_reports_command_lists_the_lab(database_url, tmp_path):
    for host, board in (("rack-a", "rpi4-01"), ("rack-b", "rpi4-07")):
        with ReportIndex(database_url, host=host, spool=tmp_path / f"{host}.sqlite") as index:
            _record(index, NULL, board)
            assert index.wait_sent(30)
    listed = run_oopswatch("reports", "--index", database_url, "--json")
    assert listed.returncode == 0, listed.stderr
    [problem] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (problem["title"], problem["count"], problem["boards"], problem["hosts"]) == (
        NULL, 2, ["rpi4-01", "rpi4-07"], ["rack-a", "rack-b"])
    wrong = run_oopswatch("reports", "--index", "mysql://lab/db")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().splitlines() == [
        "oopswatch: --index mysql://lab/db: unsupported scheme 'mysql'; give postgresql://USER@HOST/DB or an index "
        "file"]
    away = run_oopswatch("reports", "--index", "postgresql://nobody:secret@127.0.0.1:1/lab")
    assert away.returncode == 2
    [line] = away.stderr.strip().splitlines()
    assert line.startswith("oopswatch: postgresql://nobody:***@127.0.0.1:1/lab: cannot read the report index: ")
    assert "secret" not in line
