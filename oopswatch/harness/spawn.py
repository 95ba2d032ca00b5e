"""pexpect over a console that the watcher reads.

A port has one reader, the watcher: two readers would each get part of the bytes. So
the watcher hands every byte it logged to a `ConsoleSpawn` (`feed`, on its thread), and
pexpect's `expect` reads them from memory on the session's thread; `send` writes to the
port. Feeding never blocks the watcher: past `max_buffered` unread bytes the oldest are
dropped (and counted), the console log still has them.

The session reads text as a terminal shows it: escape sequences (a busybox prompt asks
for the cursor position, `ESC[6n`) and control bytes are taken out, so that prompt and
marker patterns need not expect them; the console log keeps the raw bytes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from pexpect import EOF, TIMEOUT
from pexpect.spawnbase import SpawnBase

from oopswatch.console import clean_bytes
from oopswatch.regex_cache import compile_regex

MAX_BUFFERED = 8 * 1024 * 1024  # unread console bytes kept for the session
# An escape sequence cut by the end of a read: kept for the next read (if short).
_PARTIAL_ESCAPE = compile_regex(rb"\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b\n]*)?\Z")
MAX_ESCAPE = 64


class ConsoleSpawn(SpawnBase):
    """A pexpect spawn whose input is `feed` and whose output is `write(bytes)`."""

    def __init__(self, write: Callable[[bytes], None], name: str = "console", timeout: float = 30.0,
                 max_buffered: int = MAX_BUFFERED):
        super().__init__(timeout=timeout, maxread=65536, encoding="utf-8", codec_errors="replace")
        self.name = name
        self.closed = False
        self.max_buffered = max_buffered
        self.dropped = 0  # bytes pushed out unread
        self.last_input = time.monotonic()  # when the console last sent something
        self._write = write
        self._pending = bytearray()
        self._held = b""  # the start of an escape sequence, from the end of the last read
        self._ended: str | None = None  # why no more bytes will come
        self._condition = threading.Condition()

    # -- the watcher's side ------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        with self._condition:
            self.last_input = time.monotonic()
            self._pending += data
            excess = len(self._pending) - self.max_buffered
            if excess > 0:
                del self._pending[:excess]
                self.dropped += excess
            self._condition.notify_all()

    def end(self, reason: str) -> None:
        """No more bytes will come (the console closed, the watcher stopped): reads
        raise pexpect.EOF with `reason` once the bytes already fed are read."""
        with self._condition:
            if self._ended is None:
                self._ended = reason
            self._condition.notify_all()

    @property
    def ended(self) -> str | None:
        return self._ended

    # -- pexpect's side ----------------------------------------------------------------

    def read_nonblocking(self, size: int = 1, timeout: float | None = -1) -> str:
        if timeout == -1:
            timeout = self.timeout
        with self._condition:
            self._condition.wait_for(lambda: self._pending or self._ended is not None, timeout)
            if self._pending:
                data = bytes(self._pending[:size])
                del self._pending[:size]
            elif self._ended is not None:
                self.flag_eof = True
                raise EOF(self._ended)
            else:
                raise TIMEOUT("Timeout exceeded.")
        data, self._held = self._held + data, b""
        partial = _PARTIAL_ESCAPE.search(data)
        if partial is not None and len(data) - partial.start() <= MAX_ESCAPE:
            data, self._held = data[:partial.start()], data[partial.start():]
        text = self._decoder.decode(clean_bytes(data), final=False)
        self._log(text, "read")
        return text

    def send(self, s: str | bytes) -> int:
        text = self._coerce_send_string(s)
        self._log(text, "send")
        data = self._encoder.encode(text, final=False)
        self._write(data)
        return len(data)

    def sendline(self, s: str = "") -> int:
        return self.send(s + "\n")

    def isalive(self) -> bool:
        return self._ended is None

    def close(self) -> None:
        self.end("closed")
        self.closed = True
