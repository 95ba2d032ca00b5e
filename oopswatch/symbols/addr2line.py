"""file:line through one long-lived `addr2line -a -f -i` process per binary.

Addresses go to the process in a batch; after the batch a sentinel address (0) is
sent, whose answer (`0x0000000000000000` then `??` `??:0`) marks the end of the
batch, since `-i` makes the number of answer lines per address vary.

addr2line is a host process that can hang (a huge or damaged vmlinux, a stuck NFS
mount): every batch has a deadline. A process that misses it is killed, the batch
raises `Addr2LineTimeout` (the report goes out without file:line), and the next batch
starts a fresh process.
"""

from __future__ import annotations

import functools
import os
import select
import subprocess
import threading
import time
from dataclasses import dataclass

from oopswatch.errors import InputError
from oopswatch.symbols.addr2line_process import (
    SENTINEL,
    send_addresses,
    spawn_addr2line,
    stop_process,
    take_started_ahead,
)

DEFAULT_TIMEOUT = 30.0  # seconds for one batch, loading the debug info included


class Addr2LineError(InputError):
    """addr2line stopped or gave no answer in time; the report goes out without file:line."""


class Addr2LineTimeout(Addr2LineError):
    """addr2line gave no answer within its deadline; it was killed and will be restarted."""


@dataclass(frozen=True)
class SourceLocation:
    function: str
    file: str | None
    line: int | None


def source_root(path: str) -> str | None:
    """The kernel source tree an absolute path lies in (the directory that holds
    Kbuild, Kconfig and arch/), when that tree is on this machine."""
    return _source_root_of(os.path.dirname(path))


@functools.cache
def _source_root_of(directory: str) -> str | None:
    """Each directory is looked at once, however many paths lie under it."""
    if directory in ("/", ""):
        return None
    if all(os.path.exists(os.path.join(directory, name)) for name in ("Kbuild", "Kconfig", "arch")):
        return directory + "/"
    return _source_root_of(os.path.dirname(directory))


class Addr2Line:
    """One addr2line process for one binary, kept for the life of the watcher.

    Safe to share between threads: one batch at a time goes through the process."""

    def __init__(self, binary: str, tool: str = "addr2line", strip_prefix: str | None = None,
                 source_anchor: int | None = None, timeout: float = DEFAULT_TIMEOUT):
        """`source_anchor`: the address of kernel_init, whose file (init/main.c) tells
        the source directory to strip from paths, as decode_stacktrace.sh finds it.
        It is asked at once, so addr2line loads the debug info while the caller goes on."""
        self.binary = binary
        self.tool = tool
        self.strip_prefix = strip_prefix
        self.timeout = timeout
        self.starts = 0  # processes started, restarts included
        self._source_anchor = source_anchor
        self._process: subprocess.Popen[bytes] | None = None
        self._buffer = bytearray()
        self._lock = threading.Lock()
        # Batches asked ahead of `locate`, answers not read yet, in the order sent: the
        # source anchor (True) or addresses prefetched (False).
        self._unread: list[tuple[bool, list[int]]] = []
        self._prefetched: dict[int, list[str]] = {}  # the prefetched answers, raw
        self._closed = False
        if source_anchor is not None:
            with self._lock:
                self._ensure()

    def _ensure(self) -> subprocess.Popen[bytes]:
        if self._closed:
            raise Addr2LineError(f"{self.tool} for {self.binary} was closed")
        if self._process is None or self._process.poll() is not None:
            started_ahead = take_started_ahead(self.tool, self.binary)
            self._process = started_ahead[0] if started_ahead else spawn_addr2line(self.tool, self.binary)
            self.starts += 1
            self._buffer.clear()
            self._unread.clear()
            if started_ahead:  # its questions' answers come first
                self._unread.extend((False, batch) for batch in started_ahead[1])
            if self.strip_prefix is None and self._source_anchor is not None:
                send_addresses(self._process, [self._source_anchor])
                self._unread.append((True, [self._source_anchor]))
        return self._process

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    def locate(self, addresses: list[int]) -> list[list[SourceLocation]]:
        """For each address, its location, innermost inlined function first. Raises
        `Addr2LineTimeout` when the answer does not come within the deadline (the
        process is killed; the next call starts another) and `Addr2LineError` when
        addr2line stopped."""
        if not addresses:
            return []
        with self._lock:
            deadline = time.monotonic() + self.timeout
            process = self._ensure()
            asked = self._not_asked(addresses)
            try:
                if any(not anchor for anchor, _ in self._unread):  # read before asking more: their answers
                    # must not fill the pipe
                    self._read_pending(process, deadline)
                if asked:
                    send_addresses(process, asked)
                self._read_pending(process, deadline)
                answers = dict(zip(asked, self._read_answers(process, len(asked), deadline), strict=True)) \
                    if asked else {}
            except Addr2LineError:
                self._stop()
                raise
        return [self._parse(answers[address] if address in answers else self._prefetched[address])
                for address in addresses]

    def _read_pending(self, process: subprocess.Popen[bytes], deadline: float) -> None:
        """The answers asked for before `locate`, in the order asked: a process started
        ahead's, the source anchor's, the prefetched ones."""
        while self._unread:
            is_anchor, batch = self._unread[0]
            answers = self._read_answers(process, len(batch), deadline)
            if is_anchor:
                file = answers[0][1].rpartition(":")[0] if len(answers[0]) > 1 else ""
                if self.strip_prefix is None and file.endswith("/init/main.c"):
                    self.strip_prefix = file[: -len("init/main.c")]
            else:
                self._prefetched.update(zip(batch, answers, strict=True))
            self._unread.pop(0)

    def prefetch(self, addresses: list[int]) -> None:
        """Ask for these addresses now without waiting: addr2line parses their compile
        units while the caller goes on, and `locate` takes the answers it finds ready.
        (A short `oopswatch scan` asks for the functions its log names while the
        detector is being imported.)"""
        with self._lock:
            if self._closed:
                return
            process = self._ensure()
            addresses = self._not_asked(addresses)
            if addresses:
                send_addresses(process, addresses)
                self._unread.append((False, addresses))

    def _not_asked(self, addresses: list[int]) -> list[int]:
        """`addresses` without repeats and without those prefetched (answered or on their way)."""
        pending = {address for is_anchor, batch in self._unread if not is_anchor for address in batch}
        return [address for address in dict.fromkeys(addresses) if address not in self._prefetched
                and address not in pending]

    def _read_answers(self, process: subprocess.Popen[bytes], count: int, deadline: float) -> list[list[str]]:
        """The raw answer lines for `count` addresses, then the sentinel's, consumed."""
        answers: list[list[str]] = []
        while True:
            line = self._read_line(process, deadline)
            if line.startswith("0x"):
                if len(answers) == count and int(line, 16) == SENTINEL:
                    self._read_line(process, deadline)  # the sentinel's own answer: two lines
                    self._read_line(process, deadline)
                    return answers
                answers.append([])
            elif answers:
                answers[-1].append(line)

    def _read_line(self, process: subprocess.Popen[bytes], deadline: float) -> str:
        assert process.stdout is not None
        descriptor = process.stdout.fileno()
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                line = self._buffer[:end].decode("utf-8", "replace")
                del self._buffer[:end + 1]
                return line
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([descriptor], [], [], remaining)[0]:
                raise Addr2LineTimeout(f"{self.tool} gave no answer within {self.timeout:g} s for {self.binary}; "
                                       "restarted, this report has no file:line")
            chunk = os.read(descriptor, 65536)
            if not chunk:
                raise Addr2LineError(f"{self.tool} stopped while reading {self.binary}; this report has no file:line")
            self._buffer += chunk

    def _parse(self, lines: list[str]) -> list[SourceLocation]:
        pairs = list(zip(lines[0::2], lines[1::2], strict=False))
        locations = []
        for function, place in pairs:
            file, _, line = place.rpartition(":")
            line = line.split(" ", 1)[0]  # "123 (discriminator 4)"
            if file == "??" or not file:
                file_name, number = None, None
            else:
                file_name = self._strip(file)
                number = int(line) if line.isdigit() and line != "0" else None
            locations.append(SourceLocation(function, file_name, number))
        return locations

    def _strip(self, path: str) -> str:
        """Paths relative to the kernel source tree, as decode_stacktrace.sh prints them."""
        if self.strip_prefix is None and path.startswith("/"):
            self.strip_prefix = source_root(path)
        if self.strip_prefix and path.startswith(self.strip_prefix):
            return path[len(self.strip_prefix):]
        return path

    def _stop(self) -> None:
        process, self._process = self._process, None
        self._buffer.clear()
        self._unread.clear()
        if process is not None:
            stop_process(process)

    def close(self) -> None:
        """Stop the process for good (after any batch in progress)."""
        with self._lock:
            self._closed = True
            self._stop()
