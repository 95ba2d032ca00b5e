"""`oopswatch boards`: the board configs found, their builds, and (with check) every
problem a watcher would meet later, found now: a System.map that does not parse or
names no code (Debian's placeholder, with where the real one is), a vmlinux that is not
an ELF file of the board's architecture, serial settings out of range, repeated YAML
keys, a name that is not a name, two files claiming one board name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TextIO

from oopswatch.boards import (
    ARCHES,
    Board,
    BoardError,
    Build,
    board_files,
    build_banner,
    builtin_boards_dir,
    load_board_file,
)
from oopswatch.errors import InputError


def list_boards(extra_dirs: Iterable[str], out: TextIO, check: bool = False) -> int:
    """Write the boards and their builds to `out`; with `check`, a `BoardError` stops at
    the first problem. Returns the number of board files."""
    files = board_files(extra_dirs)
    if not files:
        out.write("no board configs found\n")
        return 0
    names: dict[str, str] = {}  # board name ▶ the file that gave it
    for file in files:
        board = load_board_file(file)  # a BoardError names the file and stops here
        port = board.console.port or "no port"
        out.write(f"{board.name}  {board.arch}  {port} @ {board.console.baud}  ({file})\n")
        if check:
            for name in dict.fromkeys((file.stem, board.name)):  # --board finds a board by either
                if name in names and names[name] != str(file):
                    raise BoardError(f"{file}: board name '{name}' is also {names[name]}'s; --board {name} "
                                     "would find only one of them")
                names[name] = str(file)
        if board.description:
            out.write(f"    {board.description}\n")
        shipped = file.parent.resolve() == builtin_boards_dir().resolve()
        try:
            builds = board.builds()
        except BoardError as error:
            # The shipped boards name places of their own (/srv/builds/rpi4, the test kernel
            # cache) that need not exist on this machine; the user's boards must resolve.
            if check and not shipped:
                raise
            out.write(f"    builds not available: {error}\n")
            continue
        for build in builds:
            if check:
                check_build(board, build)
            default = " [default]" if build.name == board.default_build else ""
            banner = build_banner(build) or "banner unknown"
            out.write(f"    {build.name}{default}: {build.path}\n        {banner}\n")
    if check:
        out.write(f"{len(files)} board config(s) OK\n")
    return len(files)


def check_build(board: Board, build: Build) -> None:
    """What a watcher will need of a build: a System.map that parses and names code, a
    vmlinux of the board's architecture. A BoardError names the board file and the build."""
    from oopswatch.symbols.elf import read_elf_info
    from oopswatch.symbols.system_map import load_system_map
    from oopswatch.symbols.table import TEXT_TYPES

    where = f"{board.file}: build {build.name}"
    if build.system_map is not None:
        try:
            table = load_system_map(build.system_map)
        except InputError as error:
            raise BoardError(f"{where}: {error}") from None
        if not any(letter in TEXT_TYPES for letter in table.types):
            raise BoardError(f"{where}: {build.system_map}: no text (code) symbols in this System.map; "
                             "it cannot name a single function")
    if build.vmlinux is not None:
        try:
            info = read_elf_info(build.vmlinux)
        except InputError as error:
            raise BoardError(f"{where}: {error}") from None
        if info.arch in ARCHES and info.arch != board.arch:  # (a machine the symbol reader does not name: no verdict)
            raise BoardError(f"{where}: {build.vmlinux} is a {info.arch} kernel, the board is {board.arch}")
