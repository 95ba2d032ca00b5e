"""The raw console log: every byte received, on disk before anything parses it.

Bytes are appended exactly as they arrived, unbuffered, so whatever the watcher has
read is in the file even if it is killed. Beside the log, `console.times` records when
each line completed (line number, host time), so the host time of any line is
available without changing the raw bytes. The log rotates by size: `console.log` ▶
`console.log.1` ▶ ... up to `keep` old files, each with its own `console.times.N`
(line numbers count from 1 in every file).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_KEEP = 4
NOTE_PREFIX = "[oopswatch "


def unique_directory(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`... when another watcher of the same board (or
    boot) started in the same second."""
    directory, suffix = base, 1
    while directory.exists():
        suffix += 1
        directory = base.with_name(f"{base.name}-{suffix}")
    return directory


class ConsoleLog:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                 keep: int = DEFAULT_KEEP):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / "console.log"
        self.times_path = self.directory / "console.times"
        self.max_bytes = max_bytes
        self.keep = keep
        self._log = self.path.open("ab", buffering=0)
        self._times = self.times_path.open("a", buffering=1)
        self._size = self.path.stat().st_size
        self._line = 1
        self._at_line_start = True

    @property
    def closed(self) -> bool:
        return self._log.closed

    def write(self, chunk: bytes, host_time: float | None = None) -> None:
        """Append raw bytes; record the host time of each line the chunk completes."""
        if not chunk:
            return
        if self._size + len(chunk) > self.max_bytes and self._size > 0:
            self._rotate()
        self._log.write(chunk)  # unbuffered: in the page cache now
        self._size += len(chunk)
        self._at_line_start = chunk.endswith(b"\n")
        completed = chunk.count(b"\n")
        if completed:
            stamp = host_time if host_time is not None else time.time()
            tail = f"\t{stamp:.6f}\n"  # one time for every line the chunk completes
            self._times.write("".join([f"{number}{tail}" for number in range(self._line, self._line + completed)]))
            self._line += completed

    def note(self, message: str, host_time: float | None = None) -> bytes:
        """Write a watcher's note into the log on a line of its own (a gap, a reconnect).

        Returns the bytes written, so the caller can feed the same bytes to the pipeline
        and keep its line numbers equal to the log's.
        """
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(host_time or time.time()))
        data = f"{'' if self._at_line_start else chr(10)}{NOTE_PREFIX}{stamp}] {message}\n".encode()
        self.write(data, host_time)
        return data

    def _rotate(self) -> None:
        self._log.close()
        self._times.close()
        for base in (self.path, self.times_path):
            for index in range(self.keep - 1, 0, -1):
                older = base.with_name(f"{base.name}.{index}")
                if older.exists():
                    older.replace(base.with_name(f"{base.name}.{index + 1}"))
            base.replace(base.with_name(f"{base.name}.1"))
        self._log = self.path.open("ab", buffering=0)
        self._times = self.times_path.open("a", buffering=1)
        self._size = 0
        self._line = 1

    def files(self) -> list[Path]:
        """The log's files, oldest first: the rotated ones, then `console.log`."""
        rotated = [self.path.with_name(f"console.log.{index}") for index in range(self.keep, 0, -1)]
        return [path for path in rotated if path.exists()] + [self.path]

    def flush(self) -> None:
        self._times.flush()
        os.fsync(self._log.fileno())

    def close(self) -> None:
        if not self._log.closed:
            self.flush()
            self._log.close()
            self._times.close()
