"""Repeats in the report index: one row per report with a count, updated in place, and an
index written by an older oopswatch (schema 1) carried over."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from oopswatch.sinks.index import ReportIndex

T0 = datetime(2026, 11, 24, 10, 0).timestamp()

SCHEMA_1 = """
CREATE TABLE problems (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, crash INTEGER NOT NULL);
CREATE TABLE reports (id INTEGER PRIMARY KEY, problem_id INTEGER NOT NULL REFERENCES problems(id),
    board TEXT NOT NULL, build TEXT, boot TEXT, time REAL NOT NULL, kind TEXT NOT NULL, title TEXT NOT NULL,
    crash INTEGER NOT NULL, corrupted INTEGER NOT NULL, report_dir TEXT, console_log TEXT);
CREATE INDEX reports_by_problem ON reports(problem_id, time);
CREATE INDEX reports_by_time ON reports(time);
INSERT INTO problems VALUES (1, 'BUG: old', 'bug', 1);
INSERT INTO reports VALUES (1, 1, 'rpi4', NULL, 'boot1', 100.0, 'bug', 'BUG: old', 1, 0, '/out/old', NULL);
PRAGMA user_version=1;
"""


def record(index: ReportIndex, title: str, report_dir: str, time: float = T0) -> bool:
    return index.record(board="rpi4", build="v6.1", boot="boot1", time=time, kind="bug", title=title, crash=True,
                        corrupted=False, report_dir=report_dir, console_log="/out/console.log")


def test_repeats_update_the_one_row_of_their_report(tmp_path):
    with ReportIndex(tmp_path / "reports.sqlite") as index:
        assert record(index, "BUG: A", "/out/rpi4/boot1/report-000001-A") is True
        index.record_repeats("/out/rpi4/boot1/report-000001-A", 4, T0 + 60)
        index.record_repeats("/out/rpi4/boot1/report-000001-A", 9, T0 + 120)  # the count, not an increment
        assert record(index, "BUG: A", "/out/rpi4/boot2/report-000001-A", T0 + 300) is False
        [problem] = index.problems()
        assert (problem.count, problem.first_seen, problem.last_seen) == (11, T0, T0 + 300)
        rows = [(row.report_dir, row.repeats, row.last_seen) for row in index.reports()]
    assert rows == [("/out/rpi4/boot2/report-000001-A", 0, None),
                    ("/out/rpi4/boot1/report-000001-A", 9, T0 + 120)]


def test_a_repeat_of_the_latest_report_is_its_last_seen(tmp_path):
    with ReportIndex(tmp_path / "reports.sqlite") as index:
        record(index, "BUG: B", "/out/b1")
        index.record_repeats("/out/b1", 2, T0 + 500)
        [problem] = index.problems()
    assert (problem.count, problem.last_seen, problem.last_report_dir) == (3, T0 + 500, "/out/b1")


def test_an_index_of_schema_1_is_carried_over(tmp_path):
    path = tmp_path / "reports.sqlite"
    with sqlite3.connect(path) as conn:
        conn.executescript(SCHEMA_1)
    with ReportIndex(path) as index:
        index.record_repeats("/out/old", 2, 200.0)
        assert record(index, "BUG: old", "/out/new", 300.0) is False
        [problem] = index.problems()
    assert (problem.count, problem.first_seen, problem.last_seen) == (4, 100.0, 300.0)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone() == (2,)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
