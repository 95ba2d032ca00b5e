"""`oopswatch reports`: the problems in a report index, grouped by title, newest first."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from oopswatch import DEFAULT_OUTPUT
from oopswatch.errors import InputError

if TYPE_CHECKING:
    from oopswatch.sinks.index import Problem

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def add_reports_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `oopswatch reports`, added to a (sub)parser."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="DIR", help=f"the output directory whose index to read (./{DEFAULT_OUTPUT})")
    where.add_argument("--index", metavar="FILE", help="the index file itself (DIR/reports.sqlite)")
    parser.add_argument("--board", metavar="NAME", help="only reports from this board")
    parser.add_argument("--since", metavar="WHEN",
                        help="only reports since a date or time (2026-11-24, 2026-11-24T10:00) or an age (30m, 2h, 7d)")
    parser.add_argument("--kind", metavar="KIND",
                        help="only reports of this kind (bug, warning, oom, ...); crash or not")
    parser.add_argument("--json", action="store_true", help="one JSON object per problem per line")
    parser.add_argument("--all", action="store_true", help="also records that are not crashes, such as OOM kills")


def run_reports_command(args: argparse.Namespace, out: TextIO) -> int:
    """List the problems; a missing or unreadable index is an InputError."""
    import sqlite3  # here, not at the top: the parser of every command imports this module

    from oopswatch.sinks.index import connect_readonly, index_path, read_problems

    path = Path(args.index) if args.index else index_path(args.output or DEFAULT_OUTPUT)
    since = parse_since(args.since) if args.since else None
    if not path.is_file():
        raise InputError(f"{path}: no report index here; give --output an oopswatch output directory, "
                         "or --index the index file")
    try:
        with contextlib.closing(connect_readonly(path)) as conn:
            problems = read_problems(conn, board=args.board, since=since, kind=args.kind,
                                     crash_only=not (args.all or args.kind))
    except sqlite3.Error as error:
        raise InputError(f"{path}: cannot read the report index: {' '.join(str(error).split())}") from None
    if args.json:
        for problem in problems:
            out.write(json.dumps(problem_json(problem)) + "\n")
    elif problems:
        out.write(format_problems(problems))
    else:
        what = "reports" if args.all or args.kind else "crash reports"
        out.write(f"{path}: no {what}{' match the filters' if _filtered(args) else ''}\n")
    return 0


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


def problem_json(problem: Problem) -> dict:
    """A problem for --json: times as ISO 8601 with the UTC offset."""
    return {**problem.to_json(), "first_seen": _iso(problem.first_seen), "last_seen": _iso(problem.last_seen)}


def format_problems(problems: list[Problem]) -> str:
    """An aligned text table; the title goes last, as it is long and free-form."""
    header = ("COUNT", "LAST SEEN", "FIRST SEEN", "KIND", "BOARDS", "BUILDS", "TITLE")
    rows = [(str(p.count), _local(p.last_seen), _local(p.first_seen), p.kind, ",".join(p.boards),
             ",".join(p.builds) or "-", p.title) for p in problems]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.rjust(width) if column == 0 else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return "".join(lines)


def _filtered(args: argparse.Namespace) -> bool:
    return bool(args.board or args.since or args.kind)


def _local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
