"""`oopswatch rack RACK.yaml`: many boards in one process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from oopswatch.cli.options import add_boards_dirs, add_index, exit_codes_help, subcommand

RACK_EXIT_CODES = {
    0: "stopped (Ctrl-C, SIGTERM, SIGHUP); a board whose port is missing or busy is retried, not an error",
    2: "bad input: a malformed rack file or board config, or the output directory is in use by another rack",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "rack", "watch many boards in one process (a lab rack)",
                        "Watch every board listed in a rack file, each with its own console log and reports, "
                        "one report index for all (reports.sqlite, or a lab's PostgreSQL database), hooks for new "
                        "problems, a live status table and optional Prometheus metrics.",
                        exit_codes_help(RACK_EXIT_CODES))
    parser.add_argument("rack_file", metavar="RACK.yaml")
    parser.add_argument("--output", metavar="DIR", help="output directory (default: the rack file's, else "
                        "./oopswatch-out)")
    add_index(parser, "the report index: a lab's database (postgresql://USER@HOST/DB) or an index file "
              "(default: the rack file's 'index', else OUTPUT/reports.sqlite)")
    add_boards_dirs(parser)
    parser.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on this port")
    parser.add_argument("--metrics-address", metavar="ADDRESS", default="127.0.0.1",
                        help="the address the metrics server listens on (127.0.0.1; 0.0.0.0 for every interface)")
    parser.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until ^C)")
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.rack import load_rack, run_rack
    from oopswatch.sinks.index import check_index_target

    config = load_rack(args.rack_file, args.boards)
    if args.output:
        config.output = Path(args.output)
    if args.index:
        config.index = check_index_target(args.index)
    return run_rack(config, out, metrics_port=args.metrics_port, metrics_address=args.metrics_address,
                    duration=args.duration)
