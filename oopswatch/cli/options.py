"""Options and help texts shared by several subcommands."""

from __future__ import annotations

import argparse
import os
import sys
import textwrap

from oopswatch import DEFAULT_OUTPUT
from oopswatch.arches import kernel_arch

# Every exit code of the program, and the commands that give it (`oopswatch --help`).
EXIT_CODES = {
    0: "all went as expected: no crash report (scan, watch), the boot and commands as expected (qemu, run), "
       "nothing new (compare)",
    1: "a crash report (scan; watch --exit-on-oops), a boot or command not as expected (qemu, run), "
       "something new (compare)",
    2: "bad input: a missing or malformed file, option or configuration",
    3: "serial port problem: missing, busy, or no permission (watch, run)",
    4: "QEMU is not installed (qemu)",
    5: "the kernel printed nothing (qemu)",
    6: "hang: the console went quiet or the boot outlasted --timeout (qemu), no shell answered (qemu --run, run)",
    7: "QEMU died mid-boot (qemu)",
    130: "interrupted (Ctrl-C) before the command could stop cleanly",
}


def exit_codes_help(codes: dict[int, str]) -> str:
    """The `exit codes:` epilog of a parser, one wrapped entry per code."""
    lines = ["exit codes:"]
    for code, meaning in codes.items():
        lines += textwrap.wrap(meaning, width=90, initial_indent=f"  {code:<3} ", subsequent_indent=" " * 6)
    return "\n".join(lines) + "\n"


EXIT_CODES_HELP = exit_codes_help(EXIT_CODES)

LOG_LEVELS = ("debug", "info", "warning", "error")


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter that keeps the layout of descriptions and epilogs, sized to
    the terminal as argparse does it, but without importing shutil (and its archive
    modules) for that: argparse makes a formatter for every option it adds, and
    `oopswatch scan` is a short command."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None):
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def subcommand(commands: argparse._SubParsersAction, name: str, help_text: str, description: str,
               epilog: str | None = None) -> argparse.ArgumentParser:
    """A subparser that keeps the layout of its epilog (the exit codes)."""
    return commands.add_parser(name, help=help_text, description=description, epilog=epilog,
                               formatter_class=HelpFormatter)


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


def add_known_issues(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--known-issues", metavar="FILE",
                        help="YAML list of known issues (title regex, optional boards/arches/builds, reason, "
                        "until): a matching report is shown as known and does not fail")


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    """How reports are cut from a live console."""
    parser.add_argument("--idle-timeout", type=float, default=2.0,
                        help="seconds of console quiet that end a report without an end marker (2)")
    parser.add_argument("--arch", type=kernel_arch,
                        help="architecture of the kernel (default: the board's, else guessed)")
