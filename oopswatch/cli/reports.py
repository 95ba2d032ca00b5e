"""`oopswatch reports`: the problems in a report index, grouped by title, newest first."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from oopswatch import DEFAULT_OUTPUT
from oopswatch.cli.options import exit_codes_help, subcommand
from oopswatch.sinks.index.queries import parse_since

__all__ = ["add_reports_arguments", "parse_since", "run_reports_command"]

REPORTS_EXIT_CODES = {
    0: "listed (also when no report matches)",
    2: "no report index there, or it cannot be read",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "reports", "list problems from the report index, grouped by title",
                        "List the problems recorded in the report index (reports.sqlite in the output "
                        "directory, or a lab's PostgreSQL database), grouped by title, newest first.",
                        exit_codes_help(REPORTS_EXIT_CODES))
    add_reports_arguments(parser)
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    return run_reports_command(args, out)


def add_reports_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `oopswatch reports`, added to a (sub)parser."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--output", metavar="DIR", help=f"the output directory whose index to read (./{DEFAULT_OUTPUT})")
    where.add_argument("--index", metavar="URL", help="a lab's index database (postgresql://USER@HOST/DB) or an "
                       "index file (DIR/reports.sqlite)")
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
    from oopswatch.sinks.index.postgres_backend import redacted
    from oopswatch.sinks.problem_table import format_problems, problem_json

    path = args.index or str(index_path(args.output or DEFAULT_OUTPUT))
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
        out.write(f"{redacted(path)}: no {what}{' match the filters' if _filtered(args) else ''}\n")
    return 0


def _filtered(args: argparse.Namespace) -> bool:
    return bool(args.board or args.since or args.kind)
