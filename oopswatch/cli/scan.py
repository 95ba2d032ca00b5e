"""`oopswatch scan`: the live pipeline over saved logs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from oopswatch.arches import kernel_arch
from oopswatch.cli.options import add_symbol_options, exit_codes_help, subcommand

if TYPE_CHECKING:
    from typing import TextIO

SCAN_EXIT_CODES = {
    0: "no crash report in the files",
    1: "crash report(s) found (records such as OOM kills are not crashes)",
    2: "bad input: a missing or unreadable file, option or board config, or symbols that could not be used "
       "(the reports are still printed)",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "scan", "find and decode kernel reports in saved console logs",
                        "Run the detector and decoder over saved console logs ('-' for stdin).",
                        exit_codes_help(SCAN_EXIT_CODES))
    parser.add_argument("files", nargs="+", metavar="FILE", help="console log files; '-' reads stdin")
    parser.add_argument("--json", action="store_true", help="one JSON object per report per line")
    parser.add_argument("--arch", type=kernel_arch,
                        help="architecture of the kernel (default: guessed from each report)")
    add_symbol_options(parser)
    return parser


def head_start(args: argparse.Namespace) -> None:
    """addr2line reads the vmlinux's debug info while the rest is imported (a board's
    build is known only once its log is read: no head start then)."""
    if args.vmlinux and not args.board:
        from oopswatch.symbols.head_start import start_addr2line_ahead

        start_addr2line_ahead(args.vmlinux, args.system_map, args.files[0])


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.boards import find_board
    from oopswatch.scan import run_scan
    from oopswatch.symbols.options import explicit_symbols

    board = find_board(args.board, args.boards) if args.board else None
    symbols = explicit_symbols(args.system_map, args.vmlinux, args.modules)
    return run_scan(args.files, as_json=args.json, arch=args.arch, out=out, board=board, symbols=symbols)
