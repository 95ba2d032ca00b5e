"""The raw console log: every byte received, on disk before anything parses it.

Bytes are appended exactly as they arrived, unbuffered, so whatever the watcher has
read is in the file even if it is killed. Beside the log, `console.times` records when
each line completed, one line per read that completed lines (`FIRST-LAST<tab>TIME`, or
`N<tab>TIME` for one line: lines FIRST to LAST arrived by host time TIME), so the host
time of any line is available without changing the raw bytes and without work per
line (see `line_times`). It is written in batches: a killed watcher may leave the last
half second of it unwritten. The log rotates by size: `console.log`
▶ `console.log.1` ▶ ... up to `keep` old files, each with its own `console.times.N`
(line numbers count from 1 in every file).

A disk that fails (full, read-only, an I/O error) is an event, never a reason to stop:
the log says so once through `on_trouble`, keeps up to `max_buffered` bytes in memory,
retries every `RETRY_SECONDS` (and whenever `retry` is called), and when the disk takes
bytes again writes what it kept, then a note where bytes had to be dropped:
`[oopswatch ...] 12345 bytes lost: disk full`. `line_shift` says how far the file's
line numbers moved from the stream's because of such gaps.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_KEEP = 4
DEFAULT_MAX_BUFFERED = 8 * 1024 * 1024  # console bytes kept in memory while the disk refuses them
NOTE_PREFIX = "[oopswatch "
RETRY_SECONDS = 1.0
TIMES_FLUSH_SECONDS = 0.5
TIMES_FLUSH_BYTES = 16384
MAX_PENDING_TIMES = 1024 * 1024  # bytes of console.times lines kept while that file cannot be written


def disk_trouble(error: OSError) -> str:
    """A short reason for a failed write: `disk full`, or the system's words."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full"
    return f"disk error ({error.strerror or error})"


def make_unique_directory(base: Path) -> Path:
    """Create `base`, or `base-2`, `base-3`... when another watcher of the same board
    (or boot) started in the same second: `mkdir` without exist_ok, so two processes
    never share one. Raises OSError when the directory cannot be made at all."""
    base.parent.mkdir(parents=True, exist_ok=True)
    for suffix in itertools.count(1):
        directory = base if suffix == 1 else base.with_name(f"{base.name}-{suffix}")
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        return directory
    raise AssertionError("unreachable")


def unused_directory(base: Path) -> Path:
    """The name `make_unique_directory` would take, when the disk cannot make it now
    (the caller holds the board's folder, so nobody else takes the name meanwhile)."""
    for suffix in itertools.count(1):
        directory = base if suffix == 1 else base.with_name(f"{base.name}-{suffix}")
        if not os.path.lexists(directory):
            return directory
    raise AssertionError("unreachable")


class ConsoleLog:
    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES,
                 keep: int = DEFAULT_KEEP, max_buffered: int = DEFAULT_MAX_BUFFERED,
                 on_trouble: Callable[[str | None, str], None] | None = None):
        """Opens (appends to) `directory`/console.log, creating the directory if need be.
        A disk that refuses is not an error here: the bytes wait in memory.

        `on_trouble(reason, message)` is told when writing starts failing (reason: `disk
        full`...) and when it works again (reason None), with a one-line message."""
        self.directory = Path(directory)
        self.path = self.directory / "console.log"
        self.times_path = self.directory / "console.times"
        self.max_bytes = max_bytes
        self.keep = keep
        self.max_buffered = max_buffered
        self.on_trouble = on_trouble
        self.trouble: str | None = None  # why the disk refuses, while it does
        self.lost_bytes = 0  # console bytes dropped in all (they did not fit in memory)
        self.line_shift = 0  # file line numbers minus stream line numbers (gap notes minus lost lines)
        self._log: int | None = None  # file descriptors
        self._times: int | None = None
        self._size = 0
        self._line = 1
        self._at_line_start = True
        self._closed = False
        self._pending: deque[tuple[bytes, float]] = deque()  # bytes the disk did not take yet
        self._pending_bytes = 0
        self._dropped = 0  # bytes dropped since the disk last worked
        self._dropped_lines = 0
        self._times_text: list[str] = []
        self._times_bytes = 0
        self._times_due = 0.0
        self._next_retry = 0.0
        try:
            self._open()
        except OSError as error:
            self._fail(error)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def buffered(self) -> int:
        """Console bytes waiting in memory for the disk."""
        return self._pending_bytes

    @property
    def lines_written(self) -> int:
        """Complete lines in the current file."""
        return self._line - 1

    # -- writing ----------------------------------------------------------------------

    def write(self, chunk: bytes, host_time: float | None = None) -> None:
        """Append raw bytes; record the host time of each line the chunk completes."""
        if not chunk or self._closed:
            return
        stamp = host_time if host_time is not None else time.time()
        if self.trouble is not None:
            if time.monotonic() >= self._next_retry:
                self.retry()
            if self.trouble is not None:
                self._keep(chunk, stamp)
                return
        try:
            self._put(chunk, stamp)
        except _Unwritten as unwritten:
            self._keep(unwritten.rest, stamp)
            self._fail(unwritten.error)
            return
        if self._times_bytes >= TIMES_FLUSH_BYTES or time.monotonic() >= self._times_due:
            self._flush_times()

    def tick(self) -> None:
        """Write console.times if its batch is due (a quiet console's last lines)."""
        if self._times_text and self.trouble is None and time.monotonic() >= self._times_due:
            self._flush_times()

    def note(self, message: str, host_time: float | None = None) -> bytes:
        """Write a watcher's note into the log on a line of its own (a gap, a reconnect).

        Returns the bytes written, so the caller can feed the same bytes to the pipeline
        and keep its line numbers equal to the log's.
        """
        data = self._note_bytes(message, host_time, self._ends_a_line())
        self.write(data, host_time)
        return data

    def retry(self) -> bool:
        """Try the disk again now; True when everything kept in memory is written."""
        if self._closed:
            return self.trouble is None
        self._next_retry = time.monotonic() + RETRY_SECONDS
        try:
            if self._log is None:
                self._open()
            while self._pending:
                chunk, stamp = self._pending[0]
                try:
                    self._put(chunk, stamp)
                except _Unwritten as unwritten:
                    self._pending_bytes -= len(chunk) - len(unwritten.rest)
                    self._pending[0] = (unwritten.rest, stamp)
                    raise unwritten.error from None
                self._pending.popleft()
                self._pending_bytes -= len(chunk)
            if self._dropped:
                self._write_gap_note()
            self._flush_times(raise_errors=True)
        except OSError as error:
            self._fail(error)
            return False
        if self.trouble is not None:
            said = self.trouble
            self.trouble = None
            self._say(None, f"{self.path}: writing again after {said}"
                      + (f"; {self.lost_bytes} console bytes lost in all, the gap is marked in the log"
                         if self.lost_bytes else "; no console bytes lost"))
        return True

    def _put(self, chunk: bytes, stamp: float) -> None:
        """Write one chunk whole, or raise `_Unwritten` with the part not written."""
        if self._log is None:
            raise _Unwritten(chunk, OSError(errno.EBADF, "the console log is not open"))
        if self._size + len(chunk) > self.max_bytes and self._size > 0:
            try:
                self._rotate()
            except OSError as error:
                raise _Unwritten(chunk, error) from None
        view = memoryview(chunk)
        written = 0
        try:
            while written < len(chunk):
                written += os.write(self._log, view[written:])  # unbuffered: in the page cache now
        except OSError as error:
            self._account(chunk[:written], stamp)
            raise _Unwritten(chunk[written:], error) from None
        self._account(chunk, stamp)

    def _account(self, data: bytes, stamp: float) -> None:
        """Bytes that reached the file: their size, and a time for each line they complete."""
        if not data:
            return
        self._size += len(data)
        self._at_line_start = data.endswith(b"\n")
        completed = data.count(b"\n")
        if completed:
            last = self._line + completed - 1  # one time for every line the chunk completes
            text = f"{self._line}-{last}\t{stamp:.6f}\n" if completed > 1 else f"{last}\t{stamp:.6f}\n"
            self._line += completed
            if self._times_bytes + len(text) <= MAX_PENDING_TIMES:
                self._times_text.append(text)
                self._times_bytes += len(text)

    def _keep(self, chunk: bytes, stamp: float) -> None:
        """The disk refuses: keep the bytes in memory, or count them when memory is full."""
        if not self._dropped and self._pending_bytes + len(chunk) <= self.max_buffered:
            self._pending.append((chunk, stamp))
            self._pending_bytes += len(chunk)
            return
        # Once bytes are dropped, later ones are dropped too until the disk works again:
        # the log keeps the bytes before the gap, then the note, then what follows it.
        self._dropped += len(chunk)
        self._dropped_lines += chunk.count(b"\n")
        self.lost_bytes += len(chunk)

    def _write_gap_note(self) -> None:
        reason = self.trouble or "disk full"
        data = self._note_bytes(f"{self._dropped} bytes lost: {reason}", time.time(), self._at_line_start)
        try:
            self._put(data, time.time())
        except _Unwritten as unwritten:
            raise unwritten.error from None
        self.line_shift += data.count(b"\n") - self._dropped_lines
        self._dropped = 0
        self._dropped_lines = 0

    def _ends_a_line(self) -> bool:
        """Whether the stream (written or waiting) is at the start of a line."""
        if self._dropped:
            return True  # unknown; the gap note starts a line of its own anyway
        if self._pending:
            return self._pending[-1][0].endswith(b"\n")
        return self._at_line_start

    @staticmethod
    def _note_bytes(message: str, host_time: float | None, at_line_start: bool) -> bytes:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(host_time or time.time()))
        return f"{'' if at_line_start else chr(10)}{NOTE_PREFIX}{stamp}] {message}\n".encode()

    def _fail(self, error: OSError) -> None:
        self._next_retry = time.monotonic() + RETRY_SECONDS
        reason = disk_trouble(error)
        if self.trouble is None:
            self.trouble = reason
            self._say(reason, f"{self.path}: {reason}; keeping up to {self.max_buffered // 1024} KiB of console "
                      f"bytes in memory and retrying every {RETRY_SECONDS:g} s; reading and detecting go on")

    def _say(self, reason: str | None, message: str) -> None:
        if self.on_trouble is not None:
            self.on_trouble(reason, message)

    # -- files ------------------------------------------------------------------------

    def _open(self) -> None:
        """Open (create) the directory and both files, appending."""
        self.directory.mkdir(parents=True, exist_ok=True)
        log = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            times = os.open(self.times_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            os.close(log)
            raise
        size = os.fstat(log).st_size
        if size and self._log is None and self._size == 0:
            self._line, self._at_line_start = _count_lines(self.path)  # resuming an existing log
        self._log, self._times, self._size = log, times, size

    def _flush_times(self, raise_errors: bool = False) -> None:
        self._times_due = time.monotonic() + TIMES_FLUSH_SECONDS
        if not self._times_text or self._times is None:
            return
        data = "".join(self._times_text).encode()
        try:
            written = 0
            while written < len(data):
                written += os.write(self._times, data[written:])
        except OSError:
            self._times_text = [data[written:].decode()]
            self._times_bytes = len(data) - written
            if raise_errors:
                raise
            return
        self._times_text.clear()
        self._times_bytes = 0

    def _rotate(self) -> None:
        self._flush_times()
        self._close_files()
        for base in (self.path, self.times_path):
            for index in range(self.keep - 1, 0, -1):
                older = base.with_name(f"{base.name}.{index}")
                if older.exists():
                    older.replace(base.with_name(f"{base.name}.{index + 1}"))
            base.replace(base.with_name(f"{base.name}.1"))
        self._times_text.clear()
        self._times_bytes = 0
        self._size = 0
        self._line = 1
        self._open()

    def files(self) -> list[Path]:
        """The log's files, oldest first: the rotated ones, then `console.log`."""
        rotated = [self.path.with_name(f"console.log.{index}") for index in range(self.keep, 0, -1)]
        return [path for path in rotated if path.exists()] + [self.path]

    def flush(self) -> None:
        """What is kept in memory to the disk if it takes it, and to stable storage."""
        if self._pending or self._dropped:
            self.retry()
        self._flush_times()
        if self._log is not None:
            with contextlib.suppress(OSError):
                os.fsync(self._log)

    def close(self) -> None:
        """Flush and close; bytes the disk still refuses are counted as lost and said."""
        if self._closed:
            return
        self.flush()
        if self._pending or self._dropped:
            lost = self._pending_bytes + self._dropped
            self.lost_bytes += self._pending_bytes
            self._say(self.trouble, f"{self.path}: closing with {lost} console bytes not written: "
                      f"{self.trouble or 'disk trouble'}")
            self._pending.clear()
            self._pending_bytes = 0
        self._close_files()
        self._closed = True

    def _close_files(self) -> None:
        for descriptor in (self._log, self._times):
            if descriptor is not None:
                with contextlib.suppress(OSError):
                    os.close(descriptor)
        self._log = self._times = None


class _Unwritten(Exception):
    """Part of a chunk the disk did not take, and why."""

    def __init__(self, rest: bytes, error: OSError):
        super().__init__(str(error))
        self.rest = rest
        self.error = error


def line_times(path: str | os.PathLike[str]) -> Iterator[tuple[int, int, float]]:
    """The entries of a console.times file: (first line, last line, host time)."""
    with open(path, encoding="ascii") as times:
        for entry in times:
            lines, _, stamp = entry.partition("\t")
            first, _, last = lines.partition("-")
            yield int(first), int(last or first), float(stamp)


def _count_lines(path: Path) -> tuple[int, bool]:
    """The next line number of an existing log, and whether it ends at a line's start."""
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + 1, last == b"\n"
