"""Command line: argument parsing and exit codes only; the work happens elsewhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oopswatch import DEFAULT_OUTPUT, __version__
from oopswatch.errors import EXIT_OK, OopswatchError

EXIT_CODES_HELP = """\
exit codes:
  0  no crash report (scan), or the expectation was met (qemu)
  1  a crash report was found (scan), or the expectation failed (qemu)
  2  bad input: a missing or malformed file, option or configuration
  3  serial port problem: missing, busy, or no permission
  4  QEMU problem: QEMU or the kernel image missing, QEMU died
"""


QEMU_EXIT_CODES_HELP = """\
exit codes:
  0  the boot went as expected (--expect)
  1  it did not: a kernel report with --expect clean, none (or another title) with --expect oops
  2  bad input: missing kernel image, board, option or file
  4  QEMU is not installed
  5  the kernel printed nothing
  6  hang: the console went quiet for --hang-timeout, or the boot outlasted --timeout
  7  QEMU died mid-boot
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oopswatch",
        description="Watch Linux kernel consoles for oopses, panics, BUGs and WARNINGs; write decoded reports.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oopswatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    scan = commands.add_parser(
        "scan", help="find and decode kernel reports in saved console logs",
        description="Run the detector and decoder over saved console logs ('-' for stdin).",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    scan.add_argument("files", nargs="+", metavar="FILE", help="console log files; '-' reads stdin")
    scan.add_argument("--json", action="store_true", help="one JSON object per report per line")
    scan.add_argument("--arch", help="architecture of the kernel (default: guessed from each report)")
    _add_symbol_options(scan)

    qemu = commands.add_parser(
        "qemu", help="boot a kernel under QEMU and judge the boot (CI regression harness)",
        description="Boot a kernel under QEMU (software emulation), watch its console through a unix socket, "
                    "control it through QMP, and judge the boot against --expect.",
        epilog=QEMU_EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = qemu.add_argument_group("what to boot (one of)")
    target.add_argument("--kernel-dir", metavar="DIR", help="a test kernel build directory (holds qemu.json)")
    target.add_argument("--board", metavar="NAME", help="a QEMU board config")
    target.add_argument("--kernel", metavar="IMAGE", help="a kernel image, with --arch and optionally "
                        "--initrd and --append")
    qemu.add_argument("--build", metavar="NAME", help="with --board: which build (default: the board's default)")
    qemu.add_argument("--boards", metavar="DIR", action="append", default=[], help="also look for board configs here")
    qemu.add_argument("--initrd", metavar="FILE")
    qemu.add_argument("--append", metavar="CMDLINE", default="", help="kernel command line")
    qemu.add_argument("--arch", choices=("x86_64", "arm64", "arm", "riscv", "powerpc", "mips"),
                      help="with --kernel: the kernel's architecture")
    qemu.add_argument("--qemu-binary", metavar="PATH", help="QEMU to run instead of the default for the arch")
    qemu.add_argument("--crash", metavar="TYPE", help="LKDTM crash type for the test initramfs "
                      "(sets oopswatch.crash=TYPE on the command line), e.g. EXCEPTION, WARNING, PANIC")
    qemu.add_argument("--expect", choices=("clean", "oops", "any"), default="clean",
                      help="clean: fail on any kernel report; oops: fail when none appears; any: report only")
    qemu.add_argument("--expect-title", metavar="TITLE", help="with --expect oops: the first report's title")
    qemu.add_argument("--timeout", type=float, default=120.0, help="seconds the whole boot may take (120)")
    qemu.add_argument("--hang-timeout", type=float, default=30.0,
                      help="seconds without console output that make a hang (30)")
    qemu.add_argument("--idle-timeout", type=float, default=2.0, help="seconds of quiet that end a report (2)")
    qemu.add_argument("--output", metavar="DIR", default=DEFAULT_OUTPUT, help="where logs and reports go")
    qemu.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case for this boot")
    qemu.add_argument("--json", action="store_true", help="print reports as JSON lines")
    _add_symbol_options(qemu, with_board=False)

    watch = commands.add_parser(
        "watch", help="watch a live console (the default command: oopswatch [options] PORT)",
        description="Watch a serial console until interrupted: /dev/ttyUSB0, socket://host:port, "
                    "rfc2217://host:port, unix:/path (a QEMU socket), a file, or - for stdin.",
        epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    watch.add_argument("port", nargs="?", help="the console (default: the board's console.port)")
    watch.add_argument("--baud", type=int, help="baud rate (default: the board's, else 115200)")
    watch.add_argument("--output", metavar="DIR", default=DEFAULT_OUTPUT,
                       help="where console logs and reports go (./oopswatch-out)")
    watch.add_argument("--quiet", action="store_true", help="do not copy the console to the terminal")
    watch.add_argument("--max-log-mb", type=float, default=256, metavar="MB",
                       help="rotate console.log beyond this size, keeping 4 old files (256)")
    watch.add_argument("--junit", metavar="FILE", help="at exit, JUnit XML with one test case per boot")
    watch.add_argument("--exit-on-oops", action="store_true", help="exit (code 1) after the first crash report")
    watch.add_argument("--idle-timeout", type=float, default=2.0,
                       help="seconds of console quiet that end a report without an end marker (2)")
    watch.add_argument("--arch", help="architecture of the kernel (default: the board's, else guessed)")
    _add_symbol_options(watch)

    boards = commands.add_parser("boards", help="list board configs and their builds",
                                 description="List the board configs found and the builds each one has.")
    boards.add_argument("--check", action="store_true",
                        help="validate every board file; exit 2 on the first problem")
    boards.add_argument("--boards", metavar="DIR", action="append", default=[],
                        help="also look for board configs here (also $OOPSWATCH_BOARDS)")
    rack = commands.add_parser(
        "rack", help="watch many boards in one process (a lab rack)",
        description="Watch every board listed in a rack file, each with its own console log and reports, "
                    "one report index (reports.sqlite) for all, hooks for new problems, a live status table "
                    "and optional Prometheus metrics.")
    rack.add_argument("rack_file", metavar="RACK.yaml")
    rack.add_argument("--output", metavar="DIR", help="output directory (default: the rack file's, else "
                      "./oopswatch-out)")
    rack.add_argument("--boards", metavar="DIR", action="append", default=[], help="also look for board configs here")
    rack.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on this port")
    rack.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long (default: until ^C)")

    from oopswatch.reports_cli import add_reports_arguments

    reports = commands.add_parser("reports", help="list problems from the report index, grouped by title",
                                  description="List the problems recorded in the report index (reports.sqlite in "
                                              "the output directory), grouped by title, newest first.")
    add_reports_arguments(reports)
    return parser


SUBCOMMANDS = ("scan", "qemu", "watch", "boards", "rack", "reports")


def _add_symbol_options(parser: argparse.ArgumentParser, with_board: bool = True) -> None:
    group = parser.add_argument_group("symbols (without a board config)")
    group.add_argument("--system-map", metavar="PATH", help="System.map of the kernel that printed the log")
    group.add_argument("--vmlinux", metavar="PATH", help="vmlinux with debug info, for file:line")
    group.add_argument("--modules", metavar="DIR", help="directory holding the build's .ko files")
    if with_board:
        group.add_argument("--board", metavar="NAME", help="board config whose builds hold the symbols")
        group.add_argument("--boards", metavar="DIR", action="append", default=[],
                           help="also look for board configs here (also $OOPSWATCH_BOARDS)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "watch")  # `oopswatch --board rpi4 /dev/ttyUSB0`
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    try:
        if args.command == "scan":
            from oopswatch.boards import find_board
            from oopswatch.scan import explicit_symbols, run_scan

            board = find_board(args.board, args.boards) if args.board else None
            symbols = explicit_symbols(args.system_map, args.vmlinux, args.modules)
            return run_scan(args.files, as_json=args.json, arch=args.arch, out=sys.stdout, board=board,
                            symbols=symbols)
        if args.command == "watch":
            from oopswatch.watch_cli import run_watch_command

            return run_watch_command(args, sys.stdout, sys.stderr)
        if args.command == "boards":
            from oopswatch.boards_cli import run_boards_command

            return run_boards_command(args, sys.stdout)
        if args.command == "rack":
            from pathlib import Path

            from oopswatch.rack import load_rack, run_rack

            config = load_rack(args.rack_file, args.boards)
            if args.output:
                config.output = Path(args.output)
            return run_rack(config, sys.stdout, sys.stderr, metrics_port=args.metrics_port, duration=args.duration)
        if args.command == "reports":
            from oopswatch.reports_cli import run_reports_command

            return run_reports_command(args, sys.stdout)
        if args.command == "qemu":
            from oopswatch.qemu_cli import run_qemu_command

            return run_qemu_command(args, sys.stdout)
    except OopswatchError as error:
        print(f"oopswatch: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
