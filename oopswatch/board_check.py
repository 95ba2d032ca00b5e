"""`oopswatch boards`: the board configs found, their builds, and (with check) every
problem a watcher would meet later, found now."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from oopswatch.boards import BoardError, board_files, build_banner, builtin_boards_dir, load_board_file


def list_boards(extra_dirs: Iterable[str], out: TextIO, check: bool = False) -> int:
    """Write the boards and their builds to `out`; with `check`, a `BoardError` stops at
    the first problem. Returns the number of board files."""
    files = board_files(extra_dirs)
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
            if check and file.parent.resolve() != builtin_boards_dir().resolve():
                raise
            out.write(f"    builds not available: {error}\n")
            continue
        for build in builds:
            default = " [default]" if build.name == board.default_build else ""
            banner = build_banner(build) or "banner unknown"
            out.write(f"    {build.name}{default}: {build.path}\n        {banner}\n")
    if check:
        out.write(f"{len(files)} board config(s) OK\n")
    return len(files)
