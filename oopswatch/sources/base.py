"""What every byte source offers the watcher: open, read with a timeout, close."""

from __future__ import annotations

from typing import Protocol


class SourceClosed(Exception):
    """The source ended: a file reached its end, or a port or socket went away.

    `final` is True when nothing more can ever come (end of a file); a port or a socket
    that went away may come back, and the watcher retries.
    """

    def __init__(self, message: str, final: bool = False):
        super().__init__(message)
        self.final = final


class ByteSource(Protocol):
    name: str

    def open(self) -> None:
        """Open the source; raise `PortError` with a one-line reason when it cannot be."""

    def read(self, timeout: float) -> bytes:
        """Bytes received within `timeout` seconds (b"" when none); raise `SourceClosed`.
        With timeout 0, one read that does not wait (the caller's selector said ready)."""

    def fileno(self) -> int | None:
        """The descriptor to wait on with a selector while open; None: poll `read(0)`."""

    def close(self) -> None: ...
