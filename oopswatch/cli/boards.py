"""`oopswatch boards [--check]`: list board configs and their builds; validate them."""

from __future__ import annotations

import argparse
from typing import TextIO

from oopswatch.cli.options import add_boards_dirs, exit_codes_help, subcommand

BOARDS_EXIT_CODES = {
    0: "listed (with --check: every board file is valid)",
    2: "with --check: a board file is not valid (the message names the file and key)",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "boards", "list board configs and their builds",
                        "List the board configs found and the builds each one has.", exit_codes_help(BOARDS_EXIT_CODES))
    parser.add_argument("--check", action="store_true", help="validate every board file; exit 2 on the first problem")
    add_boards_dirs(parser)
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.board_check import list_boards

    list_boards(args.boards, out, check=args.check)
    return 0
