"""`oopswatch serve`: the read-only web dashboard of a report index."""

from __future__ import annotations

import argparse
from typing import TextIO

from oopswatch import DEFAULT_OUTPUT
from oopswatch.cli.options import subcommand


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "serve", "serve a read-only web dashboard of the report index",
                        "Serve a read-only dashboard of a report index: problems (filters by board, kind and age), "
                        "each problem's reports, each report's decoded text and console excerpt, and the boards "
                        "that racks publish. Pages refresh themselves.", epilog=None)
    parser.add_argument("--output", metavar="DIR",
                        help=f"an output directory: its reports.sqlite, and the report files and console logs "
                        f"served from it (./{DEFAULT_OUTPUT} without --index)")
    parser.add_argument("--index", metavar="URL", help="a lab's index database (postgresql://USER@HOST/DB) or an "
                        "index file; with --output, files are served from there")
    parser.add_argument("--bind", metavar="HOST:PORT", default="127.0.0.1:8080",
                        help="the address to listen on (127.0.0.1:8080; 0.0.0.0:8080 for every interface)")
    parser.add_argument("--refresh", type=int, default=30, metavar="SECONDS",
                        help="pages reload themselves this often (30)")
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.errors import InputError
    from oopswatch.sinks.index import check_index_target, index_path
    from oopswatch.web.server import files_root_for, serve

    if args.refresh < 1:
        raise InputError(f"--refresh {args.refresh}: give a number of seconds, 1 or more")
    index = check_index_target(args.index) if args.index else str(index_path(args.output or DEFAULT_OUTPUT))
    return serve(index, files_root_for(index, args.output), args.bind, args.refresh)
