"""The streaming detector: console lines in, report blocks out as soon as they end.

Pure: no files, no clocks, no printing. Time only enters through the lines' host
times and the `expire(now)` call a live watcher makes, so a saved log replayed from a
file gives the same reports as the same bytes arriving over a UART.

A report block ends at an end marker (`---[ end trace`, `---[ end Kernel panic`, a
sanitizer's `=====` line), at the start of the next report from the same context,
when ordinary output resumes after its stack trace, after an idle timeout (live), or
at the end of input. Reports from different printk callers (`[T123]`, `[C0]`) are
kept apart, each in its own block.

Whose line a header is: another program's syslog/journal line never starts or joins a
report; a header without a printk time on a console whose kernel lines carry them, and
a generic `WARNING:`/`INFO:`/`BUG:` line in none of its group's own formats, open a
tentative block that the kernel's report structure (`CPU: N PID:`, registers, a call
trace, `---[ end trace`) must confirm within a few lines, or it is dropped unreported.

Where it comes from: the state machine is oopswatch's; which headers continue a report
(CONTINUATION), the NMI-backtrace and info-message rules follow syzkaller's
pkg/report/linux.go (Apache-2.0, see NOTICE).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum

from oopswatch.console import PROGRAM, Line
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
    LiteralSearch,
    compile_pattern,
    literal_alternation,
)
from oopswatch.detect.title import describe
from oopswatch.regex_cache import compile_regex

DEFAULT_IDLE_TIMEOUT = 2.0
MAX_REPORT_LINES = 5000  # a longer block is closed and reported as it is
MAX_UNSTRUCTURED_RUN = 200  # ordinary lines in a row before any stack: the report is over
CONTEXT_LINES = 50  # console lines kept before each report, for its excerpt
RESUMED_LINES = 10  # ordinary lines in a row after the stack: output has resumed
MAX_OPEN_REPORTS = 64  # concurrent blocks from different printk callers
CONTINUED_WITHIN = 1.0  # seconds of printk time: a report's consequence follows it at once (see `_continues`)
TENTATIVE_LINES = 12  # a tentative report shows kernel report structure within this many lines, or is dropped

BANNER_MAX_UPTIME = 30.0  # a kernel prints its banner in its first moments
_BANNER_MARK = "Linux version "
# How a boot ends, or a new one starts, besides the report headers.
_BOOT_MARKS = (_BANNER_MARK, "Booting the kernel", "reboot: ", "Restarting system")
_ORDERLY_END_RE = compile_regex(r"reboot: (?:Restarting system|Power down|System halted)|^Restarting system")
_HEADER_WORDS = [group.header for group in REPORT_TABLE] + list(_BOOT_MARKS)
_HEADER_RE = literal_alternation(_HEADER_WORDS)  # for one line
_HEADER_SEARCH = LiteralSearch(_HEADER_WORDS)  # for a batch of lines
_END_RE = compile_regex(END_MARKERS)
# Lines only the kernel's report machinery prints: they confirm a tentative report.
_KERNEL_STRUCTURE_RE = compile_regex(
    r"\s*(?:CPU: \d+ (?:UID: \d+ )?PID: \d+|Call [Tt]race:|Backtrace:|---\[ end trace|Hardware name: "
    r"|Modules linked in:|(?:RIP|EIP|IP): |pc : |PC is at |LR is at |NIP[: ] |epc *: |ERA: |era *: |Krnl PSW "
    r"|pstate: |Code: |Exception stack"
    r"|<(?:TASK|IRQ|NMI)>|task:\S+ +state:|stack backtrace:|Pid: \d+, comm: |Process \S+ \(pid: \d+,)"
)
_CONTINUATION_RE = compile_regex(CONTINUATION)
_NOTHING: tuple[Event, ...] = ()

# Registers or lines that only one architecture prints, checked in this order.
ARCH_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple((arch, compile_regex(pattern)) for arch, pattern in (
    ("arm", r"^\s*(?:PC is at |LR is at |pc : \[<|psr: [0-9a-f]{8}|r10 ?: [0-9a-f]{8} |Function entered at \[<"
            r"|[a-zA-Z0-9_.]+ from [a-zA-Z0-9_.]+\+0x)"),
    ("mips", r"^\s*(?:\$ ?\d+ +: [0-9a-f]{8}|epc {3}: [0-9a-f]{8}|Cause : [0-9a-f]{8}|PrId  : )"),
    ("loongarch", r"^\s*(?:ERA: [0-9a-f]{16}|CRMD: [0-9a-f]{8}|ESTAT: [0-9a-f]{8})"),
    ("s390", r"^\s*Krnl (?:PSW|GPRS)"),
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
    tentative: bool = False  # opened by a header that cannot stand alone; see `_stands_alone`
    continued_re: re.Pattern[str] | None = None  # headers that continue this report (KindInfo.continued_by)

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
        # The banner of the current boot when it came without a printk time (powerpc's
        # prom_init says `Preparing to boot Linux version ...` before the kernel's own).
        self._untimed_banner: str | None = None
        self._reported = False  # a report went out since the last banner

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
        confirmed = True
        if line.owner == PROGRAM:  # another program's syslog/journal line: not part of a kernel report
            group = _starting_group(line) if hit is not None else None
            if group is None or not group.harness:
                return _NOTHING
        elif hit is not None:
            message = line.message
            if _BANNER_MARK in line.text:
                banner = find_banner(message)
                if banner is not None and self._is_boot(line):
                    if not self._same_boot(line, banner):
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
            if group is not None:
                confirmed = self._stands_alone(group, line)
        context = line.context
        block = self._open.get(context)
        if group is not None and not confirmed and block is not None and not block.tentative:
            group = None  # a header that cannot stand alone does not cut a report short: it is one of its lines
        interrupted = self._interrupted.get(context)
        if interrupted is not None:
            self._feed_interrupted(interrupted, line, group is not None, events)
        if group is not None:
            continuation = _CONTINUATION_RE.search(line.message) is not None or (
                block is not None and _continues(block, line))
            if continuation and block is not None and not block.tentative:
                block.take(line)
                return events
            tail = self._tails.get(context)
            if continuation and tail is not None:
                self._absorb(tail, line, events)
                return events
            leading: list[Line] = []
            if block is not None:
                if block.tentative or _replayed(block, line):
                    del self._open[context]
                elif _lone_die_line(block):  # `Oops[#1]:` printed before the fault's own header
                    del self._open[context]
                    leading = block.lines
                else:
                    self._interrupt(block, events)
            self._end_tail(context, events)
            self._open_block(group, line, context, events, tentative=not confirmed)
            if leading:
                self._open[context].lines[:0] = leading
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
        if block.tentative:
            if _confirms(line.message):
                block.tentative = False
            elif len(block.lines) >= TENTATIVE_LINES:
                del self._open[context]  # nothing of a kernel report followed: not the kernel's
                return events
        reason = _advance(block, line)
        if reason is not None:
            report = self._close(block, reason)
            if report is None:
                return events
            if reason == END_MARKER:
                held = _frames_are_bare(report)
                self._tails[block.context] = _Tail(report, line.host_time, held)
                if held:
                    return events
            events.append(report)
        return events

    def feed_lines(self, lines: Sequence[Line]) -> list[Event]:
        """Feed a batch of lines (a chunk's): the same events as feeding them one by one,
        but while no report is open the header search runs once over the batch's text,
        so an ordinary line costs no regex work of its own."""
        events: list[Event] = []
        text = ""  # the batch's text from line `joined_from` on, joined once when needed
        joined_from = -1
        position = 0  # where line `index` starts in `text`
        index, count = 0, len(lines)
        while index < count:
            if self._open or self._tails or self._interrupted:
                line = lines[index]
                events.extend(self.feed(line))
                position += len(line.text) + 1
                index += 1
                continue
            if joined_from < 0:
                joined_from, position = index, 0
                text = "\n".join([line.text for line in lines[index:]])
            hit = _HEADER_SEARCH.find(text, position)
            if hit < 0:
                self._recent.extend(lines[max(index, count - CONTEXT_LINES - 1):])
                return events
            found = index + text.count("\n", position, hit)
            self._recent.extend(lines[max(index, found - CONTEXT_LINES - 1):found])
            position = text.rfind("\n", 0, hit) + 1
            events.extend(self.feed(lines[found]))
            position += len(lines[found].text) + 1
            index = found + 1
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
                self._emit(block, "idle", events)
        return events

    def finish(self) -> list[Event]:
        """End of input: every open block is closed and reported."""
        events: list[Event] = []
        self._end_tails(events)
        for block in self._all_blocks():
            self._emit(block, "end of input", events)
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
        """A kernel banner, not `cat /proc/version` from user space or a debugger's
        (powerpc's xmon prints the banner into a crash): printed early in the boot, with
        a printk time when the console shows them, and that time does not carry on the
        clock of a kernel still running (a new boot's clock starts again)."""
        kernel_time = line.kernel_time
        if kernel_time is None:
            return not self._timestamps_seen
        self._timestamps_seen = True
        running = max((other.kernel_time or 0.0 for other in self._recent if other is not line), default=0.0)
        return kernel_time < BANNER_MAX_UPTIME and not 0.0 < running <= kernel_time

    def _restart(self, line: Line, banner: re.Match[str], events: list[Event]) -> None:
        """A new kernel is booting: whatever was open ends here."""
        self._end_tails(events)
        for block in self._all_blocks():
            self._emit(block, "reboot", events)
        if not self._restarting:
            self._note_reboot(line, events)
        self._booted, self._boot_end, self._restarting, self._reported = True, None, False, False
        events.append(BootBanner(line=line, banner=line.message[banner.start():], release=banner.group(1)))

    def _same_boot(self, line: Line, banner: re.Match[str]) -> bool:
        """The kernel's own timestamped banner after the same banner printed without a
        time by the code that loaded it (powerpc's prom_init: `Preparing to boot Linux
        version ...`), with nothing of a running kernel in between: one boot, not two."""
        untimed, self._untimed_banner = self._untimed_banner, None
        if line.kernel_time is None:
            self._untimed_banner = line.message[banner.start():]
            return False
        return (untimed == line.message[banner.start():] and not self._reported and not self._open
                and not self._kernel_ran_before(line))

    def _kernel_ran_before(self, line: Line) -> bool:
        """A kernel printed lines with a time past its first moment just before `line`
        (a log that starts mid-run shows no banner; pre-banner lines are at 0.000000)."""
        return any(other is not line and (other.kernel_time or 0.0) > 0.0 for other in self._recent)

    def _note_reboot(self, line: Line, events: list[Event]) -> None:
        """A kernel that was running restarts with neither a panic nor an orderly
        reboot before: a watchdog reset, a power cut, a triple fault."""
        if (self._booted or self._kernel_ran_before(line)) and self._boot_end is None:
            description = describe([line.message], UNEXPECTED_REBOOT)
            events.append(Report(kind="reboot", title=description.title, corrupted=False, corrupted_reason="",
                                 lines=[line], context=line.context, arch=self.arch or "unknown",
                                 group=UNEXPECTED_REBOOT, end_reason="reboot"))
        self._boot_end = "restarted"

    def _stands_alone(self, group: HeaderGroup, line: Line) -> bool:
        """A header line that is the kernel's on its own; else its report is tentative.

        A kernel that prints times prints one on every header; a header without one on
        such a console is another program's. A generic header (`WARNING:`, `INFO:`,
        `BUG:`) is the kernel's when the line is in one of its group's own formats
        (`WARNING: CPU: 0 PID: 1 at f.c:1 f+0x1/0x2`, `watchdog: BUG: soft lockup`);
        `RETBleed: WARNING: ...` or a test runner's `INFO: ...` is not.
        """
        if group.harness:
            return True
        if line.kernel_time is None and self._stream_has_times():
            return False
        return not group.generic or _in_own_format(group, line.message)

    def _stream_has_times(self) -> bool:
        """Kernel lines on this console carry printk times (looked at only for headers)."""
        if not self._timestamps_seen:
            self._timestamps_seen = any(line.kernel_time is not None for line in self._recent)
        return self._timestamps_seen

    def _open_block(self, group: HeaderGroup, line: Line, context: str, events: list[Event],
                    tentative: bool = False) -> None:
        if len(self._open) >= MAX_OPEN_REPORTS:
            oldest = min(self._open.values(), key=lambda block: block.last_time)
            self._emit(oldest, "too many concurrent reports", events)
        info = KINDS[_first_kind(group, line.message)]
        end_re = compile_regex(info.end) if info.end else None
        before = list(self._recent)[:-1]  # the console as it was when the report began
        lines = [line]
        if group.explained_by is not None and before and before[-1].context == context \
                and compile_pattern(group.explained_by).search(before[-1].message):
            lines.insert(0, before.pop())
        self._open[context] = _Block(group, info, context, lines, end_re, last_time=line.host_time, before=before,
                                     tentative=tentative, continued_re=_continued_re(info))

    def _interrupt(self, block: _Block, events: list[Event]) -> None:
        """A new report starts in the context of `block`.

        With printk caller tags, a report cut off before its stack trace is usually
        interrupted by its own consequence (the reporting code crashed, a panic), and the
        stack it lacks follows; it keeps collecting the context's lines until it has one.
        """
        if block.context in ("", "console") or block.stack != _Stack.NONE:
            self._emit(block, "next report", events)
            return
        del self._open[block.context]
        previous = self._interrupted.get(block.context)
        if previous is not None:
            self._emit(previous, "next report", events)
        self._interrupted[block.context] = block

    def _feed_interrupted(self, block: _Block, line: Line, is_header: bool, events: list[Event]) -> None:
        if is_header:
            block.take(line)
            return
        reason = _advance(block, line)
        if reason is not None:
            self._emit(block, reason, events)

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

    def _emit(self, block: _Block, reason: str, events: list[Event]) -> None:
        report = self._close(block, reason)
        if report is not None:
            events.append(report)

    def _close(self, block: _Block, reason: str) -> Report | None:
        """The block's report; None for a tentative block, which ends unconfirmed."""
        if self._open.get(block.context) is block:
            del self._open[block.context]
        elif self._interrupted.get(block.context) is block:
            del self._interrupted[block.context]
        if block.tentative:
            return None
        self._reported = True
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


def _continued_re(info: KindInfo) -> re.Pattern[str] | None:
    return compile_pattern(info.continued_by) if info.continued_by else None


def _continues(block: _Block, line: Line) -> bool:
    """A header the block's kind prints as its own consequence, right after it (within
    CONTINUED_WITHIN seconds of printk time): a later one is a report of its own."""
    if block.continued_re is None or block.continued_re.search(line.message) is None:
        return False
    last, now = block.lines[-1].kernel_time, line.kernel_time
    return last is None or now is None or now - last < CONTINUED_WITHIN


def _in_own_format(group: HeaderGroup, message: str) -> bool:
    """The line is in one of the group's formats (not one that only names a garbled report)."""
    return any(compile_pattern(fmt.match).search(message) for fmt in group.formats if not fmt.corrupted)


def _confirms(message: str) -> bool:
    """Kernel report structure: what makes a tentative report the kernel's."""
    if _KERNEL_STRUCTURE_RE.match(message) is not None:
        return True
    frame = parse_frame(message)
    return frame is not None and (frame.size is not None or frame.role != "trace")


def _first_kind(group: HeaderGroup, message: str) -> str:
    """The kind a report probably is, from its first line (the title decides later)."""
    for fmt in group.formats:
        if compile_pattern(fmt.match).search(message):
            return fmt.kind
    return group.kind


def _lone_die_line(block: _Block) -> bool:
    """The block holds only an architecture's die() line (`Oops[#1]:` on mips and
    loongarch), which some kernels print before the fault header that explains it."""
    return len(block.lines) == 1 and block.info.name == "oops" and block.group.strict


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
