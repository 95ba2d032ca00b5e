"""`oopswatch boards [--check]`: list board configs and their builds; validate them."""

from __future__ import annotations

import argparse
from typing import TextIO

from oopswatch.boards import BoardError, board_files, build_banner, builtin_boards_dir, load_board_file


def run_boards_command(args: argparse.Namespace, out: TextIO) -> int:
    """List the boards; with --check, stop with a BoardError at the first problem."""
    files = board_files(args.boards)
    if not files:
        out.write("no board configs found\n")
        return 0
    for file in files:
        board = load_board_file(file)  # a BoardError names the file and stops here
        port = board.console.port or "no port"
        out.write(f"{board.name}  {board.arch}  {port} @ {board.console.baud}  ({file})\n")
        if board.description:
            out.write(f"    {board.description}\n")
        try:
            builds = board.builds()
        except BoardError as error:
            # The shipped boards name places of their own (/srv/builds/rpi4, the test kernel
            # cache) that need not exist on this machine; the user's boards must resolve.
            if args.check and file.parent.resolve() != builtin_boards_dir():
                raise
            out.write(f"    builds not available: {error}\n")
            continue
        for build in builds:
            default = " [default]" if build.name == board.default_build else ""
            banner = build_banner(build) or "banner unknown"
            out.write(f"    {build.name}{default}: {build.path}\n        {banner}\n")
    if args.check:
        out.write(f"{len(files)} board config(s) OK\n")
    return 0
