"""`oopswatch run [--board NAME] PORT -- CMD...`: commands on a running board's shell, over
its console, each judged on its own while the console is watched."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from oopswatch.cli.options import (
    add_detection_options,
    add_known_issues,
    add_output,
    add_symbol_options,
    exit_codes_help,
    subcommand,
)
from oopswatch.errors import InputError

RUN_EXIT_CODES = {
    0: "every command passed",
    1: "a command failed: a crash report during it (not a known issue), a non-zero exit status (without "
       "--allow-failure), or no exit status within --command-timeout; or a crash report between commands",
    2: "bad input: a missing or malformed option, board config or --known-issues file; a login the board refuses",
    3: "serial port problem: missing, busy, or no permission",
    6: "no shell answered on the console within --shell-timeout",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "run", "run commands on a running board's shell over its console",
                        "Attach to the console of a board that is up (no boot), find its shell (logging in with "
                        "the board config's shell.user and shell.password when a login prompt comes), and run "
                        "each command: it passes when it exits 0 and the kernel reported no crash while it ran. "
                        "The console is logged and its reports written and indexed as by 'oopswatch watch'. "
                        "The words after -- are one command line, as with ssh; --run adds more.",
                        exit_codes_help(RUN_EXIT_CODES))
    parser.add_argument("port", help="the console: /dev/ttyUSB0, socket://host:port, rfc2217://host:port, "
                        "unix:/path")
    parser.add_argument("words", nargs="*", metavar="CMD", help="after --: one command line")
    parser.add_argument("--run", metavar="CMD", action="append", default=[],
                        help="a command line to run (repeat for more; run before the one after --)")
    parser.add_argument("--baud", type=int, help="baud rate (default: the board's, else 115200)")
    add_output(parser)
    parser.add_argument("--command-timeout", type=float, default=300.0, metavar="SECONDS",
                        help="seconds each command may take (300); then Ctrl-C, and it fails")
    parser.add_argument("--shell-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="seconds to find the shell prompt (30)")
    parser.add_argument("--allow-failure", action="store_true",
                        help="a non-zero exit status does not fail a command (crash reports still do)")
    parser.add_argument("--expect", choices=("clean", "any"), default="clean",
                        help="clean: a crash report fails the command it came during; any: reports are only shown")
    add_known_issues(parser)
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case per command")
    add_detection_options(parser)
    add_symbol_options(parser)
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.boards import find_board
    from oopswatch.harness.attach import AttachSpec, run_attached, write_job_junit
    from oopswatch.harness.known_issues import load_known_issues
    from oopswatch.harness.steps import JobRules, summary_line
    from oopswatch.symbols.options import explicit_symbols

    command_lines = args.run + ([" ".join(args.words)] if args.words else [])
    if not command_lines:
        raise InputError("no command given: oopswatch run PORT -- CMD..., or --run CMD")
    if args.baud is not None and args.baud <= 0:
        raise InputError(f"--baud {args.baud}: give a positive baud rate such as 115200")
    rules = JobRules(load_known_issues(args.known_issues), args.allow_failure, args.expect == "clean",
                     args.command_timeout)
    board = find_board(args.board, args.boards) if args.board else None

    def show_step(step) -> None:
        out.write(summary_line(step) + "\n")
        out.flush()

    spec = AttachSpec(port=args.port, commands=command_lines, output=Path(args.output), board=board, baud=args.baud,
                      symbols=explicit_symbols(args.system_map, args.vmlinux, args.modules), arch=args.arch,
                      rules=rules, shell_timeout=args.shell_timeout, idle_timeout=args.idle_timeout,
                      on_step=show_step)
    result = run_attached(spec)
    for issue in rules.known_issues.not_seen():
        out.write(f"known issue not seen: {issue.describe()}\n")
    if args.junit:
        write_job_junit(args.junit, spec, result, f"oopswatch.run.{board.name if board else 'console'}")
    out.write(f"{result.verdict} (console log and reports in {result.directory})\n")
    out.flush()
    return result.exit_code
