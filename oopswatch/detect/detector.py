"""The streaming detector: console lines in, report blocks out as soon as they end.

Pure: no files, no clocks, no printing. Time only enters through the lines' host
times and the `expire(now)` call a live watcher makes, so a saved log replayed from a
file gives the same reports as the same bytes arriving over a UART.

A report block ends at an end marker (`---[ end trace`, `---[ end Kernel panic`, a
sanitizer's `=====` line), at the start of the next report from the same context,
when ordinary output resumes after its stack trace, after an idle timeout (live), or
at the end of input. Reports from different printk callers (`[T123]`, `[C0]`) are
kept apart, each in its own block.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from oopswatch.console import Line
from oopswatch.detect.events import BootBanner, Event, Panicked, Report, find_banner, title_text
from oopswatch.detect.frames import parse_frame
from oopswatch.detect.kinds import (
    CONTINUATION,
    END_MARKERS,
    KINDS,
    REPORT_TABLE,
    UNEXPECTED_REBOOT,
    HeaderGroup,
    KindInfo,
)
from oopswatch.detect.patterns import (
    INFO_MESSAGES_WITH_STACK,
    REPORT_STRUCTURE_RE,
    STACK_START_RE,
    compile_pattern,
    literal_alternation,
)
from oopswatch.detect.title import describe

DEFAULT_IDLE_TIMEOUT = 2.0
MAX_REPORT_LINES = 5000  # a longer block is closed and reported as it is
MAX_UNSTRUCTURED_RUN = 200  # ordinary lines in a row before any stack: the report is over
CONTEXT_LINES = 50  # console lines kept before each report, for its excerpt
RESUMED_LINES = 10  # ordinary lines in a row after the stack: output has resumed
MAX_OPEN_REPORTS = 64  # concurrent blocks from different printk callers

BANNER_MAX_UPTIME = 30.0  # a kernel prints its banner in its first moments
_BANNER_MARK = "Linux version "
# How a boot ends, or a new one starts, besides the report headers.
_BOOT_MARKS = (_BANNER_MARK, "Booting the kernel", "reboot: ", "Restarting system")
_ORDERLY_END_RE = re.compile(r"reboot: (?:Restarting system|Power down|System halted)|^Restarting system")
_HEADER_RE = literal_alternation([group.header for group in REPORT_TABLE] + list(_BOOT_MARKS))
_END_RE = re.compile(END_MARKERS)
_CONTINUATION_RE = re.compile(CONTINUATION)
_NOTHING: tuple[Event, ...] = ()

# Registers or lines that only one architecture prints, checked in this order.
ARCH_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((arch, re.compile(pattern)) for arch, pattern in (
    ("arm", r"^\s*(?:PC is at |LR is at |pc : \[<|psr: [0-9a-f]{8}|r10 ?: [0-9a-f]{8} )"),
    ("riscv", r"^\s*(?:epc ?: |status: [0-9a-f]+ badaddr: )"),
    ("arm64", r"^\s*(?:pstate: [0-9a-f]{8}|x29: |ESR = 0x)|^\s*(?:pc|lr) : (?!\[<)"),
    ("x86_64", r"^\s*(?:RIP: [0-9a-f]{4}:|RSP: [0-9a-f]{4}:|RAX: [0-9a-f]{16})"),
    ("i386", r"^\s*(?:EIP: |EAX: [0-9a-f]{8})"),
    ("powerpc", r"^\s*(?:NIP[: ]|MSR: |GPR\d\d: )"),
))


class _Stack(IntEnum):
    NONE = 0  # no stack trace seen yet
    STARTED = 1  # a `Call Trace:`-like line, no frame yet
    FRAMES = 2  # inside the frames
    AFTER = 3  # the frames stopped; what follows may be ordinary output


@dataclass
class _Block:
    group: HeaderGroup
    info: KindInfo
    context: str
    lines: list[Line]
    end_re: re.Pattern[str] | None
    stack: _Stack = _Stack.NONE
    pending: list[Line] = field(default_factory=list)  # ordinary lines after the stack
    unstructured: int = 0
    cpu_traceback: bool = False  # after "Sending NMI", other CPUs' lines belong here too
    last_time: float = 0.0
    before: list[Line] = field(default_factory=list)

    def take(self, line: Line) -> None:
        if self.pending:
            self.lines.extend(self.pending)
            self.pending.clear()
        self.lines.append(line)
        self.last_time = line.host_time


@dataclass
class _Tail:
    """After a report's end marker: trailing register dumps and panics belong to it.

    A report whose frames are bare addresses (no CONFIG_KALLSYMS) is `held` until its
    tail ends: only the panic that may follow prints `Kernel Offset: 0x...`, and without
    that offset a KASLR kernel's addresses cannot be decoded. Reports with symbols are
    emitted at their end marker, as always.
    """

    report: Report
    last_time: float
    held: bool = False


class Detector:
    """Feed lines one at a time; get `Report`, `BootBanner` and `Panicked` events."""

    def __init__(self, idle_timeout: float = DEFAULT_IDLE_TIMEOUT, arch: str | None = None):
        self.idle_timeout = idle_timeout
        self.arch = arch  # known architecture (from a board config), else guessed
        self._open: dict[str, _Block] = {}  # by context
        self._interrupted: dict[str, _Block] = {}  # by context, see `_interrupt`
        self._tails: dict[str, _Tail] = {}  # by context
        self._recent: deque[Line] = deque(maxlen=CONTEXT_LINES + 1)  # for the lines before a report
        self._timestamps_seen = False  # kernel lines carry printk times on this console
        self._booted = False  # a kernel banner went by in this stream
        self._boot_end: str | None = None  # how the current boot ended: "panic", "orderly" or "restarted"
        self._restarting = False  # "Booting the kernel." came; its banner is next

    @property
    def busy(self) -> bool:
        """A report is being collected; a live watcher should call `expire` regularly."""
        return bool(self._open or self._tails or self._interrupted)

    def feed(self, line: Line) -> Sequence[Event]:
        self._recent.append(line)
        hit = _HEADER_RE.search(line.text)
        if hit is None and not self._open and not self._tails and not self._interrupted:
            return _NOTHING
        events: list[Event] = []
        group = None
        if hit is not None:
            message = line.message
            if _BANNER_MARK in line.text:
                banner = find_banner(message)
                if banner is not None and self._is_boot(line):
                    self._restart(line, banner, events)
                    return events
            if message.startswith("Booting the kernel"):
                self._note_reboot(line, events)
                self._restarting = True
                return events
            if message.startswith("Kernel panic - not syncing"):
                self._boot_end = "panic"
            elif _ORDERLY_END_RE.search(message):
                self._boot_end = self._boot_end or "orderly"
            group = _starting_group(line)
        context = line.context
        interrupted = self._interrupted.get(context)
        if interrupted is not None:
            self._feed_interrupted(interrupted, line, group is not None, events)
        block = self._open.get(context)
        if group is not None:
            continuation = _CONTINUATION_RE.search(line.message) is not None
            if continuation and block is not None:
                block.take(line)
                return events
            tail = self._tails.get(context)
            if continuation and tail is not None:
                self._absorb(tail, line, events)
                return events
            if block is not None:
                if _replayed(block, line):
                    del self._open[context]
                else:
                    self._interrupt(block, events)
            self._end_tail(context, events)
            self._open_block(group, line, context, events)
            return events
        if block is None:
            tail = self._tails.get(context)
            if tail is not None:
                if _is_structure(line.message):
                    self._absorb(tail, line, events)
                    return events
                self._end_tail(context, events)
            block = self._traceback_block(context)
            if block is None:
                return events
        reason = _advance(block, line)
        if reason is not None:
            report = self._close(block, reason)
            if reason == END_MARKER:
                held = _frames_are_bare(report)
                self._tails[block.context] = _Tail(report, line.host_time, held)
                if held:
                    return events
            events.append(report)
        return events

    def expire(self, now: float) -> list[Event]:
        """Close blocks that received nothing for `idle_timeout` seconds (live use)."""
        deadline = now - self.idle_timeout
        events: list[Event] = []
        for context, tail in list(self._tails.items()):
            if tail.last_time <= deadline:
                self._end_tail(context, events)
        for block in self._all_blocks():
            if block.last_time <= deadline:
                events.append(self._close(block, "idle"))
        return events

    def finish(self) -> list[Event]:
        """End of input: every open block is closed and reported."""
        events: list[Event] = []
        self._end_tails(events)
        events.extend(self._close(block, "end of input") for block in self._all_blocks())
        return events

    # -- internals ---------------------------------------------------------------

    def _end_tail(self, context: str, events: list[Event]) -> None:
        """The report before this context's next lines is complete; a held one goes out."""
        tail = self._tails.pop(context, None)
        if tail is not None and tail.held:
            events.append(tail.report)

    def _end_tails(self, events: list[Event]) -> None:
        for context in list(self._tails):
            self._end_tail(context, events)

    def _all_blocks(self) -> list[_Block]:
        """Open blocks, oldest report first."""
        blocks = list(self._interrupted.values()) + list(self._open.values())
        return sorted(blocks, key=lambda block: block.lines[0].number)

    def _is_boot(self, line: Line) -> bool:
        """A kernel banner, not `cat /proc/version` from user space: printed early in
        the boot, with a printk time when the console shows them."""
        kernel_time = line.kernel_time
        if kernel_time is None:
            return not self._timestamps_seen
        self._timestamps_seen = True
        return kernel_time < BANNER_MAX_UPTIME

    def _restart(self, line: Line, banner: re.Match[str], events: list[Event]) -> None:
        """A new kernel is booting: whatever was open ends here."""
        self._end_tails(events)
        for block in self._all_blocks():
            events.append(self._close(block, "reboot"))
        if not self._restarting:
            self._note_reboot(line, events)
        self._booted, self._boot_end, self._restarting = True, None, False
        events.append(BootBanner(line=line, banner=line.message[banner.start():], release=banner.group(1)))

    def _note_reboot(self, line: Line, events: list[Event]) -> None:
        """A kernel that was running restarts with neither a panic nor an orderly
        reboot before: a watchdog reset, a power cut, a triple fault."""
        if self._booted and self._boot_end is None:
            description = describe([line.message], UNEXPECTED_REBOOT)
            events.append(Report(kind="reboot", title=description.title, corrupted=False, corrupted_reason="",
                                 lines=[line], context=line.context, arch=self.arch or "unknown",
                                 group=UNEXPECTED_REBOOT, end_reason="reboot"))
        self._boot_end = "restarted"

    def _open_block(self, group: HeaderGroup, line: Line, context: str, events: list[Event]) -> None:
        if len(self._open) >= MAX_OPEN_REPORTS:
            oldest = min(self._open.values(), key=lambda block: block.last_time)
            events.append(self._close(oldest, "too many concurrent reports"))
        info = KINDS[_first_kind(group, line.message)]
        end_re = re.compile(info.end) if info.end else None
        before = list(self._recent)[:-1]  # the console as it was when the report began
        self._open[context] = _Block(group, info, context, [line], end_re, last_time=line.host_time, before=before)

    def _interrupt(self, block: _Block, events: list[Event]) -> None:
        """A new report starts in the context of `block`.

        With printk caller tags, a report cut off before its stack trace is usually
        interrupted by its own consequence (the reporting code crashed, a panic), and the
        stack it lacks follows; it keeps collecting the context's lines until it has one.
        """
        if block.context in ("", "console") or block.stack != _Stack.NONE:
            events.append(self._close(block, "next report"))
            return
        del self._open[block.context]
        previous = self._interrupted.get(block.context)
        if previous is not None:
            events.append(self._close(previous, "next report"))
        self._interrupted[block.context] = block

    def _feed_interrupted(self, block: _Block, line: Line, is_header: bool, events: list[Event]) -> None:
        if is_header:
            block.take(line)
            return
        reason = _advance(block, line)
        if reason is not None:
            events.append(self._close(block, reason))

    def _traceback_block(self, context: str) -> _Block | None:
        """A CPU's NMI backtrace that another context's report asked for."""
        if not context.startswith("C"):
            return None
        for block in reversed(self._open.values()):
            if block.cpu_traceback:
                return block
        return None

    def _absorb(self, tail: _Tail, line: Line, events: list[Event]) -> None:
        tail.report.followups.append(line)
        tail.last_time = line.host_time
        if line.message.startswith("Kernel panic"):
            events.append(Panicked(line=line, report=tail.report))
        elif line.message.startswith("---[ end Kernel panic"):  # nothing more follows
            self._end_tail(line.context, events)

    def _close(self, block: _Block, reason: str) -> Report:
        if self._open.get(block.context) is block:
            del self._open[block.context]
        elif self._interrupted.get(block.context) is block:
            del self._interrupted[block.context]
        description = describe(title_text(block.lines, block.context), block.group)
        return Report(
            kind=description.kind or block.info.name,
            title=description.title,
            corrupted=description.corrupted,
            corrupted_reason=description.corrupted_reason,
            lines=block.lines,
            context=block.context,
            arch=self.arch or guess_arch(block.lines),
            group=block.group,
            end_reason=reason,
            frame=description.frame,
            alt_titles=description.alt_titles,
            before=block.before,
        )


END_MARKER = "end marker"


def _advance(block: _Block, line: Line) -> str | None:
    """Add a non-header line to `block`, or not; the reason the block ends, if it does.

    The line is part of the report when the block ends at an end marker, and is not
    when the block ends for any other reason.
    """
    message = line.message
    if _END_RE.match(message) or (block.end_re is not None and block.end_re.match(message)):
        block.take(line)
        return END_MARKER
    if len(block.lines) >= MAX_REPORT_LINES:
        return "too long"
    if block.context in ("", "console") and any(info in message for info in INFO_MESSAGES_WITH_STACK):
        return "another message with a stack"
    if "Sending NMI from CPU" in message:
        block.cpu_traceback = True
    if _is_stack_start(message):
        block.stack = _Stack.STARTED
        block.unstructured = 0
        block.take(line)
        return None
    if parse_frame(message) is not None:
        if block.stack >= _Stack.STARTED:
            block.stack = _Stack.FRAMES
        block.unstructured = 0
        block.take(line)
        return None
    if block.stack == _Stack.FRAMES:
        block.stack = _Stack.AFTER
    if _is_report_furniture(message):  # not a frame: parsed above
        block.unstructured = 0
        block.take(line)
        return None
    if block.info.ends_after_stack and block.stack == _Stack.AFTER:
        block.pending.append(line)
        return "output resumed" if len(block.pending) >= RESUMED_LINES else None
    block.unstructured += 1
    if block.unstructured > MAX_UNSTRUCTURED_RUN:
        del block.lines[-(block.unstructured - 1):]
        return "output resumed"
    block.take(line)
    return None


def _starting_group(line: Line) -> HeaderGroup | None:
    """The header group of the report this line starts, or None."""
    text = line.text
    for group in REPORT_TABLE:
        if group.header not in text:
            continue
        if any(compile_pattern(pattern).search(text) for pattern in group.ignore):
            continue
        if group.strict and not any(compile_pattern(fmt.match).search(line.message) for fmt in group.formats):
            continue
        return group
    return None


def _first_kind(group: HeaderGroup, message: str) -> str:
    """The kind a report probably is, from its first line (the title decides later)."""
    for fmt in group.formats:
        if compile_pattern(fmt.match).search(message):
            return fmt.kind
    return group.kind


def _replayed(block: _Block, line: Line) -> bool:
    """printk cut the block's only line short and now prints it again in full."""
    return len(block.lines) == 1 and line.message.startswith(block.lines[0].message.rstrip())


def _is_stack_start(message: str) -> bool:
    return STACK_START_RE.search(message) is not None


def _frames_are_bare(report: Report) -> bool:
    """The report prints code addresses and no symbol: a kernel without CONFIG_KALLSYMS."""
    frames = report.frames
    return any(frame.address is not None for frame in frames) and all(frame.function is None for frame in frames)


def _is_report_furniture(message: str) -> bool:
    """Register dumps, separators, headers: report lines that are not frames."""
    return REPORT_STRUCTURE_RE.match(message) is not None or _HEADER_RE.search(message) is not None


def _is_structure(message: str) -> bool:
    return _is_report_furniture(message) or parse_frame(message) is not None


def guess_arch(lines: Sequence[Line]) -> str:
    """The architecture whose register names appear in the report, or `unknown`."""
    for line in lines:
        message = line.message
        for arch, marker in ARCH_MARKERS:
            if marker.match(message):
                return arch
    return "unknown"
