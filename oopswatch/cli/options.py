"""Options and help texts shared by several subcommands."""

from __future__ import annotations

import argparse

from oopswatch import DEFAULT_OUTPUT

EXIT_CODES_HELP = """\
exit codes:
  0  no crash report (scan), or the expectation was met (qemu)
  1  a crash report was found (scan), or the expectation failed (qemu)
  2  bad input: a missing or malformed file, option or configuration
  3  serial port problem: missing, busy, or no permission
  4  QEMU problem: QEMU or the kernel image missing, QEMU died
"""

LOG_LEVELS = ("debug", "info", "warning", "error")


def subcommand(commands: argparse._SubParsersAction, name: str, help_text: str, description: str,
               epilog: str | None = EXIT_CODES_HELP) -> argparse.ArgumentParser:
    """A subparser that keeps the layout of its epilog (the exit codes)."""
    return commands.add_parser(name, help=help_text, description=description, epilog=epilog,
                               formatter_class=argparse.RawDescriptionHelpFormatter)


def add_log_level(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-level", choices=LOG_LEVELS, default="info",
                        help="the least important messages shown on stderr (info)")


def add_output(parser: argparse.ArgumentParser, help_text: str = "where console logs and reports go "
               f"(./{DEFAULT_OUTPUT})", default: str | None = DEFAULT_OUTPUT) -> None:
    parser.add_argument("--output", metavar="DIR", default=default, help=help_text)


def add_boards_dirs(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--boards", metavar="DIR", action="append", default=[],
                        help="also look for board configs here (also $OOPSWATCH_BOARDS)")


def add_symbol_options(parser: argparse.ArgumentParser, with_board: bool = True) -> None:
    group = parser.add_argument_group("symbols (without a board config)")
    group.add_argument("--system-map", metavar="PATH", help="System.map of the kernel that printed the log")
    group.add_argument("--vmlinux", metavar="PATH", help="vmlinux with debug info, for file:line")
    group.add_argument("--modules", metavar="DIR", help="directory holding the build's .ko files")
    if with_board:
        group.add_argument("--board", metavar="NAME", help="board config whose builds hold the symbols")
        add_boards_dirs(group)


def add_index(parser: argparse.ArgumentParser, help_text: str = "the report index that reports go to: a lab's "
              "database (postgresql://USER@HOST/DB) or an index file (default: OUTPUT/reports.sqlite)") -> None:
    parser.add_argument("--index", metavar="URL", help=help_text)
