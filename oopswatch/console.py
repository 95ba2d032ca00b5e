"""Console layer: raw byte chunks from any source become clean `Line` objects.

The splitter is incremental (a chunk may end mid-line or mid UTF-8 character) and
deterministic: the lines it yields depend only on the bytes, never on how they were
chunked, so a live UART and a saved log give the same lines.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from oopswatch.regex_cache import compile_regex

MAX_LINE_BYTES = 16 * 1024
"""A line longer than this is cut into pieces of this size, each marked `truncated`."""

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), and two-byte escapes; none spans a newline.
_ANSI_RE = compile_regex(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]?|\][^\x07\x1b\n]*(?:\x07|\x1b\\)?|[ -/]*[0-~]?)")
# C0 controls other than TAB, LF and CR, plus DEL; removed after escapes are gone.
_CONTROL_BYTES = bytes(range(0x00, 0x09)) + b"\x0b\x0c" + bytes(range(0x0E, 0x20)) + b"\x7f"

# printk prefix: optional syslog level, timestamp `[%5lu.%06lu]`, optional caller tag.
_TIMESTAMP_RE = compile_regex(r"(?:<(\d{1,3})>)?\[\s*(\d+\.\d{6})\](?:\[\s*([TC]\d+)\])? ?")
_LEVEL_ONLY_RE = compile_regex(r"<([0-7])>")
# Saved kernel logs carry their log file's prefix before the message: syslog and
# journalctl (`Nov 24 10:00:00 host kernel: `, `2026-11-24T10:00:00+0000 host kernel: `,
# `-o short-monotonic`'s `[   12.345678] host kernel: `; a bare `kernel: ` where the reporter
# cut the time and host), `dmesg -T` (`[Tue Nov 24 10:00:00 2026] `) and `dmesg -H`/`--reltime`
# (`[Nov24 10:00] ` on a minute's first line, then `[  +0.000004] `, the time since the last line).
# The same files hold other programs' lines: `Nov 24 10:00:00 host vpnd[812]: ...`.
# (The month's name is the locale's: `Nov`, `июл`, `Mär`, `déc.`.)
_SYSLOG_TIME = (r"(?:[^\W\d_]{3,5}\.? [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)?"
                r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)")
_LOG_FILE_PREFIX_RE = compile_regex(
    r"(?:(?:" + _SYSLOG_TIME + r" )?[\w.-]+ )?kernel: "
    r"|\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\] "
    r"|\[(?:[^\W\d_]{3,5} ?[ \d]\d \d\d:\d\d| *\+\d+\.\d{6})\] "
)
# Another program's syslog/journal line: time, host, then the program's tag.
_PROGRAM_LINE_RE = compile_regex(r"(?:<\d{1,3}>)?" + _SYSLOG_TIME + r" [\w.-]+ ([^\s\[\]:]+)(?:\[\d+\])?: ")
# After a printk time, a `prog[pid]: ` tag: a program writing to /dev/kmsg (systemd does), or
# journalctl -o short-monotonic's `host prog[pid]: `. The kernel's own subsystem tags
# (`usb 1-1: `, `rcu: `, `EXT4-fs (sda1): `) never carry a `[pid]`.
_KMSG_PROGRAM_RE = compile_regex(r"(?:[\w.-]+ )?([^\s\[\]:]+)\[\d+\]: ")

KERNEL = "kernel"
"""Owner of a line the kernel printed (printk time, `<N>` level, a `kernel:` syslog tag)."""
PROGRAM = "program"
"""Owner of a line another program wrote (a syslog/journal tag other than `kernel`)."""
UNKNOWN = "unknown"
"""Owner of a bare line: the kernel's on a console without printk times, or anyone's."""


class Line:
    """One console line: its text, where it is in the stream and when it arrived.

    The printk prefix (level, timestamp, caller tag) and whose line it is are parsed
    lazily, because on the hot path most lines are only searched for report headers and
    never looked at again.
    """

    __slots__ = ("_parsed", "host_time", "number", "text", "truncated")

    def __init__(self, number: int, text: str, host_time: float = 0.0, truncated: bool = False):
        self.number = number
        self.text = text
        self.host_time = host_time
        self.truncated = truncated
        self._parsed: _Parsed | None = None

    def _parse(self) -> _Parsed:
        parsed = self._parsed
        if parsed is None:
            parsed = self._parsed = _parse_prefix(self.text)
        return parsed

    @property
    def level(self) -> int | None:
        """Syslog level from a `<N>` prefix, if the console shows it."""
        return self._parse()[0]

    @property
    def kernel_time(self) -> float | None:
        """Seconds since boot from the `[   12.345678]` prefix."""
        return self._parse()[1]

    @property
    def caller(self) -> str | None:
        """printk caller tag (`T1234` for a task, `C0` for a CPU), with CONFIG_PRINTK_CALLER."""
        return self._parse()[2]

    @property
    def message(self) -> str:
        """The text after the printk prefix; the whole text when there is no prefix."""
        return self._parse()[3]

    @property
    def owner(self) -> str:
        """Whose line it is, from its own prefix: `KERNEL` (printk time, `<N>` level,
        syslog tag `kernel`), `PROGRAM` (another program's syslog/journal tag) or
        `UNKNOWN` (a bare line). Whether a bare line on a console whose kernel lines
        carry printk times is the kernel's is the detector's call: it sees the stream."""
        return self._parse()[4]

    @property
    def program(self) -> str | None:
        """The syslog/journal tag of another program's line (`vpnd`, `systemd`)."""
        return self._parse()[5]

    @property
    def context(self) -> str:
        """Who printed the line, for keeping interleaved reports apart.

        The caller tag when present; `console` for timestamped lines without one; the
        empty string for lines without a timestamp (context unknown).
        """
        _, ktime, caller, *_ = self._parse()
        if caller is not None:
            return caller
        return "console" if ktime is not None else ""

    def __repr__(self) -> str:
        return f"Line({self.number}, {self.text!r})"


# level, kernel time, caller tag, message, owner, program
_Parsed = tuple[int | None, float | None, str | None, str, str, str | None]


def _parse_prefix(text: str) -> _Parsed:
    match = _TIMESTAMP_RE.search(text) if "[" in text else None
    if match is not None:
        level = match.group(1)
        message = text[match.end():]
        owner, program = KERNEL, None
        if ": " in message[:80]:
            if " kernel: " in message[:60]:
                prefix = _LOG_FILE_PREFIX_RE.match(message)
                message = message[prefix.end():] if prefix is not None else message
            elif "]: " in message[:80]:
                tag = _KMSG_PROGRAM_RE.match(message)
                if tag is not None:
                    owner, program = PROGRAM, tag.group(1)
        return (int(level) if level is not None else None, float(match.group(2)), match.group(3), message,
                owner, program)
    if " kernel: " in text[:80] or text[:1] == "[" or text[:8] == "kernel: ":
        prefix = _LOG_FILE_PREFIX_RE.match(text)
        if prefix is not None:
            return None, None, None, text[prefix.end():], KERNEL, None
    level_match = _LEVEL_ONLY_RE.match(text)
    if level_match is not None:
        return int(level_match.group(1)), None, None, text[level_match.end():], KERNEL, None
    if ": " in text[:120]:
        tag = _PROGRAM_LINE_RE.match(text)
        if tag is not None:
            program = tag.group(1)
            owner = KERNEL if program == "kernel" else PROGRAM
            return None, None, None, text[tag.end():], owner, None if owner == KERNEL else program
    return None, None, None, text, UNKNOWN, None


def clean_bytes(data: bytes) -> bytes:
    """Remove ANSI escape sequences, NUL and other control bytes (not TAB, LF, CR)."""
    if b"\x1b" in data:
        data = _ANSI_RE.sub(b"", data)
    return data.translate(None, _CONTROL_BYTES)


class LineSplitter:
    """Turns byte chunks into `Line`s; holds at most one partial line of bounded size."""

    def __init__(self, first_line_number: int = 1):
        self._partial = bytearray()
        self._number = first_line_number
        self._cut = False  # the current line already had a piece cut off
        self.bytes_seen = 0

    @property
    def next_line_number(self) -> int:
        return self._number

    def feed(self, chunk: bytes, host_time: float = 0.0) -> list[Line]:
        """Split `chunk` (appended to any partial line) into complete lines."""
        self.bytes_seen += len(chunk)
        lines: list[Line] = []
        last_newline = chunk.rfind(b"\n")
        if last_newline < 0:
            self._partial += chunk
            self._cut_long_partial(lines, host_time)
            return lines
        if self._partial:
            self._partial += chunk[: last_newline + 1]
            complete = bytes(self._partial)
            self._partial.clear()
        else:
            complete = chunk[: last_newline + 1]
        self._emit_complete(complete, host_time, lines)
        if last_newline + 1 < len(chunk):
            self._partial += chunk[last_newline + 1:]
            self._cut_long_partial(lines, host_time)
        return lines

    def flush(self, host_time: float = 0.0) -> list[Line]:
        """End of input: the partial line, if any, becomes a line."""
        lines: list[Line] = []
        if self._partial:
            data = bytes(self._partial)
            self._partial.clear()
            self._emit_segments(data, self._number, host_time, self._cut, lines)
            self._number += 1
            self._cut = False
        return lines

    def _cut_long_partial(self, lines: list[Line], host_time: float) -> None:
        while len(self._partial) > MAX_LINE_BYTES:
            piece = bytes(self._partial[:MAX_LINE_BYTES])
            del self._partial[:MAX_LINE_BYTES]
            self._emit_segments(piece, self._number, host_time, True, lines)
            self._cut = True

    def _emit_complete(self, data: bytes, host_time: float, lines: list[Line]) -> None:
        """`data` ends with LF; emit one line per LF-terminated line in it."""
        raw_lines = data.split(b"\n")
        raw_lines.pop()  # empty tail after the final LF
        number = self._number
        first_cut = self._cut
        if not first_cut and max(map(len, raw_lines), default=0) <= MAX_LINE_BYTES:
            # The common case, cleaned and decoded in bulk: no escape sequence and no
            # UTF-8 character spans a newline, so this equals doing it line by line.
            data = clean_bytes(data)
            if b"\r" in data:
                data = data.replace(b"\r\n", b"\n")  # what serial consoles send
            texts = data.decode("utf-8", "replace").split("\n")
            texts.pop()
            if b"\r" in data:
                for text in texts:
                    self._add_segments(text, number, host_time, False, lines)
                    number += 1
            else:
                lines.extend(map(Line, itertools.count(number), texts, itertools.repeat(host_time, len(texts))))
                number += len(texts)
            self._number = number
            return
        for raw in raw_lines:
            if len(raw) > MAX_LINE_BYTES:
                # Only possible for a line that arrived whole in one chunk.
                for start in range(0, len(raw), MAX_LINE_BYTES):
                    self._emit_segments(raw[start:start + MAX_LINE_BYTES], number, host_time, True, lines)
            else:
                self._emit_segments(raw, number, host_time, first_cut, lines)
            first_cut = False
            number += 1
        self._number = number
        self._cut = False

    @classmethod
    def _emit_segments(cls, raw: bytes, number: int, host_time: float, truncated: bool,
                       lines: list[Line]) -> None:
        cls._add_segments(clean_bytes(raw).decode("utf-8", "replace"), number, host_time, truncated, lines)

    @staticmethod
    def _add_segments(text: str, number: int, host_time: float, truncated: bool, lines: list[Line]) -> None:
        if "\r" in text:
            # CR-LF is a newline; a lone CR (a terminal overwrite) separates lines that
            # share one line number in the file.
            for segment in text.split("\r"):
                if segment:
                    lines.append(Line(number, segment, host_time, truncated))
            return
        lines.append(Line(number, text, host_time, truncated))


def split_lines(chunks: Iterable[bytes]) -> Iterator[Line]:
    """Convenience: all lines of a finite sequence of chunks."""
    splitter = LineSplitter()
    for chunk in chunks:
        yield from splitter.feed(chunk)
    yield from splitter.flush()
