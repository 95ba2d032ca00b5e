"""Questions asked of an index (by `oopswatch reports` and the dashboard), the same SQL on
SQLite and PostgreSQL. Problem lists read the per-problem summaries, so a page costs the
same with a hundred or a million reports; only a `since` filter reads report rows, through
their index by time."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from oopswatch.errors import InputError
from oopswatch.regex_cache import compile_regex
from oopswatch.sinks.index.db import Db
from oopswatch.sinks.index.records import BoardRecord, Problem, ReportRecord

_AGE = compile_regex(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_REPORT_COLUMNS = ("board, build, boot, time, kind, title, crash, corrupted, report_dir, console_log, host, uid, "
                   "repeats, last_seen, id")


def parse_since(text: str, now: float | None = None) -> float:
    """An ISO date or time (local time unless it names a zone) or an age like 30m, 2h, 7d: epoch seconds."""
    age = _AGE.fullmatch(text.strip())
    if age:
        return (time.time() if now is None else now) - float(age.group(1)) * _UNIT_SECONDS[age.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise InputError(f"--since {text!r}: not a date, time or age (2026-11-24, 2026-11-24T10:00, 30m, 2h, 7d)") \
            from None


@dataclass(frozen=True)
class ProblemFilters:
    """Which reports count: `since` keeps reports first seen since then."""

    board: str | None = None
    since: float | None = None
    kind: str | None = None
    crash_only: bool = False

    def on_reports(self, alias: str) -> tuple[list[str], list]:
        """Conditions on report rows (reports, or the problem_boards summaries, as `alias`)."""
        clauses: list[str] = []
        params: list = []
        if self.board is not None:
            clauses.append(f"{alias}.board = ?")
            params.append(self.board)
        if self.since is not None:
            clauses.append(f"{alias}.time >= ?")
            params.append(self.since)
        return clauses, params

    def on_problems(self) -> tuple[list[str], list]:
        """Conditions on the problem (as p)."""
        clauses = ["p.reports > 0"]
        params: list = []
        if self.kind is not None:
            clauses.append("p.kind = ?")
            params.append(self.kind)
        if self.crash_only:
            clauses.append("p.crash = 1")
        return clauses, params


def read_problems(db: Db, board: str | None = None, since: float | None = None, kind: str | None = None,
                  crash_only: bool = False, limit: int | None = None, offset: int = 0) -> list[Problem]:
    """Problems with at least one matching report, newest first. Count (repeats included),
    boards, builds and first/last seen are over the matching reports."""
    filters = ProblemFilters(board, since, kind, crash_only)
    page = _problem_page(db, filters, limit, offset)
    if not page:
        return []
    problems = {row[0]: Problem(title=row[1], kind=row[2], crash=bool(row[3]), count=int(row[4]),
                                first_seen=row[5], last_seen=row[6], id=row[0], first_seen_anywhere=row[7])
                for row in page}
    _add_places(db, filters, problems)
    return [problems[row[0]] for row in page]


def _problem_page(db: Db, filters: ProblemFilters, limit: int | None, offset: int) -> list[tuple]:
    """(id, title, kind, crash, count, first seen, last seen, first seen anywhere) of a page of
    problems. Without a `since`, from the problems' totals or their per-board summaries;
    with one, from the reports' index by time (it holds every column this reads)."""
    paging = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
    wanted, params = filters.on_problems()
    if filters.board is None and filters.since is None:
        return db.all("SELECT p.id, p.title, p.kind, p.crash, p.count, p.first_seen, p.last_seen, p.first_seen "
                      f"FROM problems p WHERE {' AND '.join(wanted)} ORDER BY p.last_seen DESC, p.title{paging}",
                      params)
    if filters.since is None:
        source = "SELECT r.problem_id, SUM(r.count) AS n, MIN(r.first_seen) AS first, MAX(r.last_seen) AS last " \
                 "FROM problem_boards r"
    else:
        source = "SELECT r.problem_id, SUM(1 + r.repeats) AS n, MIN(r.time) AS first, MAX(r.last_seen) AS last " \
                 "FROM reports r"
    matching, matching_params = filters.on_reports("r")
    return db.all(f"SELECT p.id, p.title, p.kind, p.crash, agg.n, agg.first, agg.last, p.first_seen "
                  f"FROM ({source} WHERE {' AND '.join(matching)} GROUP BY r.problem_id) agg "
                  f"JOIN problems p ON p.id = agg.problem_id WHERE {' AND '.join(wanted)} "
                  f"ORDER BY agg.last DESC, p.title{paging}", [*matching_params, *params])


def _add_places(db: Db, filters: ProblemFilters, problems: dict[int, Problem]) -> None:
    """Boards, builds and hosts of the page's problems, and each one's newest report, from
    the summaries (the newest report of a problem, or of a problem on a board)."""
    marks = ", ".join("?" * len(problems))
    matching, params = filters.on_reports("r")
    # With `since`: the places seen since then (a place's last_seen is its newest report's).
    where = " AND ".join([f"r.problem_id IN ({marks})", *(clause.replace("r.time", "r.last_seen")
                                                           for clause in matching)])
    rows = db.all(f"SELECT r.problem_id, r.host, r.board, r.build FROM problem_boards r WHERE {where}",
                  [*problems, *params])
    for problem_id, host, board, build_name in rows:
        problem = problems[problem_id]
        problem.hosts.append(host)
        problem.boards.append(board)
        if build_name:
            problem.builds.append(build_name)
    for problem in problems.values():
        problem.hosts = sorted(set(problem.hosts))
        problem.boards = sorted(set(problem.boards))
        problem.builds = sorted(set(problem.builds))
    newest: dict[int, tuple[float, int]] = {}
    if filters.board is not None:
        for problem_id, last_seen, report_id in db.all(
                f"SELECT problem_id, last_seen, last_report_id FROM problem_boards WHERE problem_id IN ({marks}) "
                "AND board = ?", [*problems, filters.board]):
            if report_id is not None and (problem_id not in newest or last_seen > newest[problem_id][0]):
                newest[problem_id] = (last_seen, report_id)
    else:
        newest = {problem_id: (0.0, report_id) for problem_id, report_id in db.all(
            f"SELECT id, last_report_id FROM problems WHERE id IN ({marks})", list(problems)) if report_id is not None}
    by_report = {report_id: problem_id for problem_id, (_, report_id) in newest.items()}
    if by_report:
        for report_id, report_dir in db.all(f"SELECT id, report_dir FROM reports WHERE id IN "
                                            f"({', '.join('?' * len(by_report))})", list(by_report)):
            problems[by_report[report_id]].last_report_id = report_id
            problems[by_report[report_id]].last_report_dir = report_dir


def read_problem(db: Db, problem_id: int) -> Problem | None:
    row = db.one("SELECT p.id, p.title, p.kind, p.crash, p.count, p.first_seen, p.last_seen FROM problems p "
                 "WHERE p.id = ?", (problem_id,))
    if row is None:
        return None
    problems = {row[0]: Problem(title=row[1], kind=row[2], crash=bool(row[3]), count=int(row[4]),
                                first_seen=row[5], last_seen=row[6], id=row[0], first_seen_anywhere=row[5])}
    _add_places(db, ProblemFilters(), problems)
    return problems[row[0]]


@dataclass(frozen=True)
class Place:
    """Where a problem happened: one host, board and build, with its counts."""

    host: str
    board: str
    build: str
    count: int
    reports: int
    first_seen: float
    last_seen: float


def read_places(db: Db, problem_id: int) -> list[Place]:
    """A problem's reports by host, board and build, most recent first."""
    return [Place(host, board, build, int(count), int(reports), first, last) for host, board, build, count, reports,
            first, last in db.all("SELECT host, board, build, count, reports, first_seen, last_seen FROM "
                                  "problem_boards WHERE problem_id = ? ORDER BY last_seen DESC, host, board, build",
                                  (problem_id,))]


def read_reports(db: Db, board: str | None = None, since: float | None = None, kind: str | None = None,
                 crash_only: bool = False, title: str | None = None, limit: int | None = None, offset: int = 0,
                 problem_id: int | None = None) -> list[ReportRecord]:
    """Matching reports, newest first (without their text)."""
    clauses: list[str] = []
    params: list = []
    for column, value in (("board", board), ("kind", kind), ("title", title), ("problem_id", problem_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("time >= ?")
        params.append(since)
    if crash_only:
        clauses.append("crash = 1")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    paging = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
    # The page's ids first (for a problem, from an index alone), then only their rows.
    ids = [row[0] for row in db.all(f"SELECT id FROM reports {where} ORDER BY time DESC, id DESC{paging}", params)]
    found: dict[int, ReportRecord] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for row in db.all(f"SELECT {_REPORT_COLUMNS} FROM reports WHERE id IN ({', '.join('?' * len(chunk))})",
                          chunk):
            found[row[-1]] = _report(row)
    return [found[report_id] for report_id in ids]


def read_report(db: Db, report_id: int) -> tuple[ReportRecord, int] | None:
    """One report with its text and excerpt, and its problem's id."""
    row = db.one(f"SELECT {_REPORT_COLUMNS}, text, excerpt, problem_id FROM reports WHERE id = ?", (report_id,))
    if row is None:
        return None
    return _report(row[:15], text=row[15], excerpt=row[16]), row[17]


def read_boards(db: Db) -> list[BoardRecord]:
    return [BoardRecord(*row) for row in db.all(
        "SELECT host, board, state, build, boot, boot_started, reports_this_boot, updated FROM boards "
        "ORDER BY board, host")]


def filter_choices(db: Db) -> tuple[list[str], list[str]]:
    """The boards and the kinds there are reports of, for the dashboard's filters."""
    boards = [row[0] for row in db.all("SELECT DISTINCT board FROM problem_boards ORDER BY board")]
    kinds = [row[0] for row in db.all("SELECT DISTINCT kind FROM problems ORDER BY kind")]
    return boards, kinds


def _report(row: tuple, text: str | None = None, excerpt: str | None = None) -> ReportRecord:
    (board, build, boot, when, kind, title, crash, corrupted, report_dir, console_log, host, uid, repeats, last_seen,
     report_id) = row
    return ReportRecord(board, build, boot, when, kind, title, bool(crash), bool(corrupted), report_dir, console_log,
                        host=host, uid=uid or "", repeats=int(repeats),
                        last_seen=last_seen, id=report_id, text=text, excerpt=excerpt)
