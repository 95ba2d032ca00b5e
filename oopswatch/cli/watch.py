"""`oopswatch [watch] PORT`: watch a live console until interrupted."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from oopswatch import DEFAULT_REPORT_BUDGET as DEFAULT_BUDGET
from oopswatch.cli.options import (
    add_detection_options,
    add_index,
    add_output,
    add_symbol_options,
    exit_codes_help,
    subcommand,
)
from oopswatch.errors import InputError

WATCH_EXIT_CODES = {
    0: "stopped (Ctrl-C, SIGTERM, SIGHUP, or the end of a file or stdin)",
    1: "with --exit-on-oops: a crash report",
    2: "bad input: a missing or malformed option, board config or symbol file; an output directory that "
       "cannot be written",
    3: "serial port problem at the start: missing, busy, or no permission (later losses are waited for)",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "watch", "watch a live console (the default command: oopswatch [options] PORT)",
                        "Watch a serial console until interrupted: /dev/ttyUSB0, socket://host:port, "
                        "rfc2217://host:port, unix:/path (a QEMU socket), a file, or - for stdin. Reports go to "
                        "the output directory and its report index (oopswatch reports).",
                        exit_codes_help(WATCH_EXIT_CODES))
    parser.add_argument("port", nargs="?", help="the console (default: the board's console.port)")
    parser.add_argument("--baud", type=int, help="baud rate (default: the board's, else 115200)")
    add_output(parser)
    add_index(parser)
    parser.add_argument("--quiet", action="store_true", help="do not copy the console to the terminal")
    parser.add_argument("--max-log-mb", type=float, default=256, metavar="MB",
                        help="rotate console.log beyond this size, keeping 4 old files (256)")
    parser.add_argument("--junit", metavar="FILE", help="at exit, JUnit XML with one test case per boot")
    parser.add_argument("--exit-on-oops", action="store_true", help="exit (code 1) after the first crash report")
    add_detection_options(parser)
    parser.add_argument("--report-budget", type=int, default=DEFAULT_BUDGET, metavar="N",
                        help=f"new report directories a minute ({DEFAULT_BUDGET}; 0: no limit); more are counted by "
                        "title in reports-over-budget.json, and the same problem again in one boot updates its "
                        "first report")
    add_symbol_options(parser)
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.boards import find_board
    from oopswatch.sinks.index import check_index_target
    from oopswatch.symbols.options import explicit_symbols
    from oopswatch.watch import WatchOptions, watch_console

    board = find_board(args.board, args.boards) if args.board else None
    port = args.port or (board.console.port if board else None)
    if not port:
        raise InputError("no port given, and no board with a console.port (oopswatch --board NAME PORT)")
    if args.max_log_mb <= 0:
        raise InputError(f"--max-log-mb {args.max_log_mb:g}: give a positive size in megabytes")
    if args.baud is not None and args.baud <= 0:
        raise InputError(f"--baud {args.baud}: give a positive baud rate such as 115200")
    if args.report_budget < 0:
        raise InputError(f"--report-budget {args.report_budget}: give the new report directories a minute "
                         "(0: no limit)")
    symbols = explicit_symbols(args.system_map, args.vmlinux, args.modules)
    options = WatchOptions(board="", output=Path(args.output), echo=not args.quiet,
                           color=out.isatty() and os.environ.get("NO_COLOR") is None,
                           idle_timeout=args.idle_timeout, exit_on_oops=args.exit_on_oops,
                           arch=args.arch or (board.arch if board else None), junit=args.junit,
                           max_log_bytes=int(args.max_log_mb * 1024 * 1024), budget=args.report_budget,
                           index=check_index_target(args.index) if args.index else None)
    return watch_console(port, options, board=board, symbols=symbols, baud=args.baud, out=out)
