"""`oopswatch [watch]`: from command-line options to a running watcher."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

from oopswatch.boards import SerialSettings, console_settings, find_board
from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.errors import InputError
from oopswatch.scan import explicit_symbols
from oopswatch.sources.base import ByteSource
from oopswatch.sources.file import FileSource
from oopswatch.sources.serial_port import SerialSource
from oopswatch.sources.unix_socket import UnixSocketSource
from oopswatch.stop_signals import stop_on_signals
from oopswatch.watch import Watcher, WatchOptions


def open_source(port: str, settings: SerialSettings) -> ByteSource:
    """The source for a port string: unix:PATH, a pyserial URL or device, a file, or -."""
    if port == "-":
        return FileSource("-")
    if port.startswith("unix:"):
        return UnixSocketSource(port[len("unix:"):])
    if "://" in port or port.startswith("/dev/"):
        return SerialSource(port, settings)
    if os.path.isfile(port):
        return FileSource(port)
    return SerialSource(port, settings)  # a device path outside /dev (a symlink), or a mistake pyserial will name


def run_watch_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    board = find_board(args.board, args.boards) if args.board else None
    port = args.port or (board.console.port if board else None)
    if not port:
        raise InputError("no port given, and no board with a console.port (oopswatch --board NAME PORT)")
    if args.max_log_mb <= 0:
        raise InputError(f"--max-log-mb {args.max_log_mb:g}: give a positive size in megabytes")
    if args.baud is not None and args.baud <= 0:
        raise InputError(f"--baud {args.baud}: give a positive baud rate such as 115200")
    settings = console_settings(board, port, args.baud)
    symbols = explicit_symbols(args.system_map, args.vmlinux, args.modules)
    # A board without builds yet is watched anyway (the console log matters more than
    # decoding); its builds are looked for again at each boot.
    chooser = BuildChooser(board if symbols is None else None, symbols, strict=False)
    if board is not None and symbols is None and not chooser.choice.candidates:
        print(f"oopswatch: {chooser.choice.chosen_by}; watching without symbols until a build is there", file=err)
    errors, warnings = chooser.preload() if (board or symbols) else ([], [])
    for problem in errors + warnings:
        print(f"oopswatch: {problem}", file=err)
    name = board.name if board else _port_name(port)
    options = WatchOptions(board=name, output=Path(args.output), echo=not args.quiet,
                           color=out.isatty() and os.environ.get("NO_COLOR") is None,
                           idle_timeout=args.idle_timeout, exit_on_oops=args.exit_on_oops,
                           arch=args.arch or (board.arch if board else None), junit=args.junit,
                           max_log_bytes=int(args.max_log_mb * 1024 * 1024))
    watcher = Watcher(open_source(port, settings), chooser, options, out=out, err=err)
    try:
        with stop_on_signals(watcher.stop, watcher.stop_event.is_set):
            return watcher.run()
    finally:
        close_loaded_builds()


def _port_name(port: str) -> str:
    """A directory name for a board without a config: ttyUSB0, pts-3, host-4000, stdin."""
    if port == "-":
        return "stdin"
    name = port.split("://")[-1].split(":", 1)[-1] if port.startswith("unix:") else port.split("://")[-1]
    path = Path(name)
    if path.parent.name == "pts":  # /dev/pts/3: "3" alone would say nothing
        return f"pts-{path.name}"
    return path.name.replace(":", "-") or "console"
