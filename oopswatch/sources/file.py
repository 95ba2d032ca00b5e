"""Replay a saved console log (or stdin) as byte chunks."""

from __future__ import annotations

import os
import select
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from oopswatch.errors import InputError
from oopswatch.sources.base import SourceClosed

CHUNK_SIZE = 64 * 1024


def check_readable(path: str) -> None:
    """An InputError now for a log that cannot be read at all: missing, a directory.
    A FIFO or a process substitution (`<(zcat log.gz)`, /dev/fd/63) is read as it
    comes, so it is not opened here (that would wait for its writer)."""
    if path == "-":
        return
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if os.path.isdir(path):
        raise InputError(f"{path}: is a directory; give the console log files in it")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")


def read_log_start(path: str) -> str:
    """The first chunk of a saved log, read ahead of the scan (to ask addr2line early);
    empty for what cannot be read twice (stdin, a FIFO) or cannot be read at all (the
    scan says why)."""
    if not os.path.isfile(path):
        return ""
    try:
        with open(path, "rb") as handle:
            return handle.read(CHUNK_SIZE).decode("utf-8", "replace")
    except OSError:
        return ""


def read_chunks(path: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Chunks of the file at `path` (a regular file, a FIFO, a process substitution),
    or of standard input for `-`."""
    if path == "-":
        stream = sys.stdin.buffer
        while chunk := stream.read1(chunk_size):
            yield chunk
        return
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_size):
            yield chunk


class FileSource:
    """A file or stdin as a watcher source: it ends (finally) at end of file, so the
    watcher writes what it found and exits."""

    def __init__(self, path: str):
        self.path = path
        self.name = "stdin" if path == "-" else path
        self.description = "until it ends" if path == "-" else "a saved log, read to its end"
        self._handle: BinaryIO | None = None

    def open(self) -> None:
        if self.path == "-":
            self._handle = sys.stdin.buffer
            return
        try:
            self._handle = Path(self.path).open("rb")  # noqa: SIM115 (closed in close())
        except OSError as error:
            raise InputError(f"{self.path}: {error.strerror}") from error

    def read(self, timeout: float) -> bytes:
        handle = self._handle
        if handle is None:
            raise SourceClosed("not open", final=True)
        if handle is sys.stdin.buffer:
            if timeout > 0:
                ready, _, _ = select.select([handle], [], [], timeout)
                if not ready:
                    return b""
            try:
                data = os.read(handle.fileno(), CHUNK_SIZE)
            except BlockingIOError:
                return b""
        else:
            data = handle.read(CHUNK_SIZE)
        if not data:
            raise SourceClosed("end of file", final=True)
        return data

    def fileno(self) -> int | None:
        """Standard input's descriptor, to wait on; None for a file (always ready: polled)."""
        if self._handle is sys.stdin.buffer:
            return self._handle.fileno()
        return None

    def close(self) -> None:
        if self._handle is not None and self._handle is not sys.stdin.buffer:
            self._handle.close()
        self._handle = None
