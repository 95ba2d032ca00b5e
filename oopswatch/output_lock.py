"""One owner per output directory: two watchers writing the same boot directories,
console logs and index would interleave them. The lock is an flock on
`<dir>/.oopswatch.lock`, so the kernel drops it when its holder dies however it dies;
the file names the holder so that the refusal can say who it is.

A rack holds its whole output (an exclusive lock). A single watcher shares the output
with other single watchers (a shared lock: it refuses a rack's output, and a rack
refuses an output a watcher is writing) and holds its board's folder alone (an
exclusive lock on `<dir>/<board>/.oopswatch.lock`, which names it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from pathlib import Path
from typing import TextIO

from oopswatch.errors import InputError, OopswatchError

LOCK_NAME = ".oopswatch.lock"


class OutputInUseError(OopswatchError):
    """Another live oopswatch process holds the output directory."""

    exit_code = 2


class OutputLock:
    """Hold an output directory for this process, as a context manager or with acquire/release.
    Keep the object: the lock lives as long as its open file."""

    def __init__(self, directory: str | os.PathLike[str], command_line: str | None = None, shared: bool = False):
        """`shared`: several holders at once (single watchers), none with an exclusive one."""
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.command_line = command_line if command_line is not None else _our_command_line()
        self.shared = shared
        self._file: TextIO | None = None

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> None:
        """Take the lock now or raise: OutputInUseError when another process has it,
        InputError when the directory or lock file cannot be made."""
        if self._file is not None:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock_file = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as error:
            raise InputError(f"{self.directory}: cannot create the output directory's lock file: "
                             f"{error.strerror or error}") from None
        try:
            fcntl.flock(lock_file.fileno(), (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(lock_file) or _board_holders(self.directory) or "another process"
            lock_file.close()
            raise OutputInUseError(f"{self.directory}: already in use by oopswatch ({holder}); "
                                   "use another --output directory") from None
        except OSError as error:
            lock_file.close()
            raise InputError(f"{self.directory}: cannot lock {self.path.name}: {error.strerror or error}") from None
        if not self.shared:  # a shared lock's file is not ours alone to write
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command_line,
                      "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            with contextlib.suppress(OSError):  # a full disk: the lock holds, only its name is missing
                lock_file.seek(0)
                lock_file.truncate()
                lock_file.write(json.dumps(holder) + "\n")
                lock_file.flush()
        self._file = lock_file

    def release(self) -> None:
        """Let go; the file stays (removing it would race with a process about to lock it)."""
        if self._file is None:
            return
        if not self.shared:
            with contextlib.suppress(OSError):
                self._file.truncate(0)
                self._file.flush()
        self._file.close()  # closing drops the flock
        self._file = None


class BoardLock:
    """What a single watcher holds: its output, shared, and its board's folder, alone."""

    def __init__(self, output: str | os.PathLike[str], board: str, command_line: str | None = None):
        self.output = OutputLock(output, command_line, shared=True)
        self.board = OutputLock(Path(output) / board, command_line)

    def __enter__(self) -> BoardLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        self.output.acquire()
        try:
            self.board.acquire()
        except BaseException:
            self.output.release()
            raise

    def release(self) -> None:
        self.board.release()
        self.output.release()


def _read_holder(lock_file: TextIO, patience: int = 10) -> str | None:
    """`pid 1234: oopswatch rack lab.yaml`, from what the holder wrote. The holder may have
    the lock but not yet have written it, so look again briefly. None: nobody named
    (shared holders do not write their names there)."""
    text = ""
    for attempt in range(patience):
        lock_file.seek(0)
        text = lock_file.read()
        if text.strip() or attempt == patience - 1:
            break
        time.sleep(0.02)
    try:
        holder = json.loads(text)
        pid, host, command = int(holder["pid"]), str(holder.get("host", "")), str(holder.get("command", ""))
    except (ValueError, KeyError, TypeError):
        return None
    where = f" on {host}" if host and host != socket.gethostname() else ""
    return f"pid {pid}{where}" + (f": {command}" if command else "")


def _board_holders(directory: Path) -> str | None:
    """The single watchers holding boards' folders of an output, named by their own lock files."""
    holders = []
    with contextlib.suppress(OSError):
        for path in sorted(directory.glob(f"*/{LOCK_NAME}")):
            with contextlib.suppress(OSError), path.open(encoding="utf-8") as lock_file:
                try:
                    fcntl.flock(lock_file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                except BlockingIOError:  # held: by whom
                    holder = _read_holder(lock_file, patience=1)
                    if holder is not None:
                        holders.append(holder)
    return "; ".join(holders[:3]) + (f" and {len(holders) - 3} more" if len(holders) > 3 else "") if holders \
        else None


def _our_command_line() -> str:
    """How this process was started, as a user would type it."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "oopswatch"
    if name in ("__main__.py", "-c", "-m", ""):
        name = "oopswatch"
    return shlex.join([name, *sys.argv[1:]])
