"""Command line: one module per subcommand, each with `add_parser` and `run` (and,
for a command that waits on an external tool, `head_start`: called before logging and
the library are imported, so that the tool's work overlaps theirs).

The modules here parse arguments, call the library and turn its outcome into an exit
code; the work itself happens elsewhere (watch.py, scan.py, qemu_boot.py, rack.py...).
A bare `oopswatch [options] PORT` is `oopswatch watch [options] PORT`.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
from collections.abc import Sequence

from oopswatch import __version__
from oopswatch.cli.options import EXIT_CODES_HELP, HelpFormatter, add_log_level
from oopswatch.errors import EXIT_OK, OopswatchError

# Subcommand name ▶ module under oopswatch.cli; imported only when used, so `scan` stays quick.
SUBCOMMANDS = {
    "scan": "scan",
    "qemu": "qemu",
    "watch": "watch",
    "boards": "boards",
    "rack": "rack",
    "reports": "reports",
    "serve": "serve",
    "run": "run",
    "compare": "compare",
}


def _module(name: str):
    return importlib.import_module(f"oopswatch.cli.{SUBCOMMANDS[name]}")


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with `only`, just that subcommand's (the others' modules
    are not imported: `oopswatch scan` does not load what `oopswatch qemu` needs)."""
    parser = argparse.ArgumentParser(
        prog="oopswatch",
        description="Watch Linux kernel consoles for oopses, panics, BUGs and WARNINGs; write decoded reports.",
        epilog=EXIT_CODES_HELP,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"oopswatch {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        if only is None or name == only:
            subparser = _module(name).add_parser(commands)
            add_log_level(subparser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help", "--version"):
        argv.insert(0, "watch")  # `oopswatch --board rpi4 /dev/ttyUSB0`
    parser = build_parser(argv[0] if argv and argv[0] in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_OK
    command = _module(args.command)
    if hasattr(command, "head_start"):
        command.head_start(args)
    import logging

    from oopswatch.log import setup_logging

    setup_logging(args.log_level)
    try:
        return command.run(args, sys.stdout)
    except OopswatchError as error:
        logging.getLogger("oopswatch").debug("error details", exc_info=True)
        print(f"oopswatch: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `oopswatch ... | head`: the reader has gone, nothing to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit must not fail
        return 141
    finally:
        # The command is over: the interpreter's shutdown need not walk every object with
        # the cycle collector (some 20 ms of a short `oopswatch scan`). Objects are
        # still released; only cycles are left to the process's exit.
        gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
