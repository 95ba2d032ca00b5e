"""`oopswatch reports`: the problems in a report index, grouped by title, newest first."""

from __future__ import annotations

import argparse
import json
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from oopswatch import DEFAULT_OUTPUT
from oopswatch.cli.options import exit_codes_help, subcommand
from oopswatch.errors import InputError

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

REPORTS_EXIT_CODES = {
    0: "listed (also when no report matches)",
    2: "no report index there, or it cannot be read",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "reports", "list problems from the report index, grouped by title",
                        "List the problems recorded in the report index (reports.sqlite in the output "
                        "directory), grouped by title, newest first.", exit_codes_help(REPORTS_EXIT_CODES))
    add_reports_arguments(parser)
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    return run_reports_command(args, out)


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
    from oopswatch.sinks.index import index_path, load_problems
    from oopswatch.sinks.problem_table import format_problems, problem_json

    path = Path(args.index) if args.index else index_path(args.output or DEFAULT_OUTPUT)
    since = parse_since(args.since) if args.since else None
    problems = load_problems(path, board=args.board, since=since, kind=args.kind,
                             crash_only=not (args.all or args.kind))
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



def _filtered(args: argparse.Namespace) -> bool:
    return bool(args.board or args.since or args.kind)
