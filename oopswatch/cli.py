"""Command line: argument parsing and exit codes only; the work happens elsewhere."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from oopswatch import __version__
from oopswatch.errors import EXIT_CRASH, EXIT_OK, OopswatchError

EXIT_CODES_HELP = """\
exit codes:
  0  no crash report (scan), or the expectation was met (qemu)
  1  a crash report was found (scan), or the expectation failed (qemu)
  2  bad input: a missing or malformed file, option or configuration
  3  serial port problem: missing, busy, or no permission
  4  QEMU problem: QEMU or the kernel image missing, QEMU died
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_OK
    try:
        if args.command == "scan":
            from oopswatch.scan import run_scan

            crashes = run_scan(args.files, as_json=args.json, arch=args.arch, out=sys.stdout)
            return EXIT_CRASH if crashes else EXIT_OK
    except OopswatchError as error:
        print(f"oopswatch: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
