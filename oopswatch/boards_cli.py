"""`oopswatch boards [--check]`: list board configs and their builds; validate them."""

from __future__ import annotations

import argparse
from typing import TextIO

from oopswatch.boards import BoardError, board_files, build_banner, load_board_file


def run_boards_command(args: argparse.Namespace, out: TextIO) -> int:
    files = board_files(args.boards)
    if not files:
        out.write("no board configs found\n")
        return 0
    for file in files:
        board = load_board_file(file)  # a BoardError names the file and stops here
        try:
            builds = board.builds()
        except BoardError as error:
            if args.check:
                raise
            out.write(f"{board.name}  {board.arch}  ({file})\n    builds not available: {error}\n")
            continue
        port = board.console.port or "no port"
        out.write(f"{board.name}  {board.arch}  {port} @ {board.console.baud}  ({file})\n")
        if board.description:
            out.write(f"    {board.description}\n")
        for build in builds:
            default = " [default]" if build.name == board.default_build else ""
            banner = build_banner(build) or "banner unknown"
            out.write(f"    {build.name}{default}: {build.path}\n        {banner}\n")
    if args.check:
        out.write(f"{len(files)} board config(s) OK\n")
    return 0
