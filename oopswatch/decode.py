"""Decoder: a detected report plus (optionally) the running build's symbols become a
decoded report: every frame with its function, offset, size, module and, where a
vmlinux is at hand, file and line.

The decoder does not choose the build; it is handed a `Symbolizer` (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from oopswatch.detect.events import Report, title_text
from oopswatch.detect.frames import Frame
from oopswatch.errors import OopswatchError
from oopswatch.regex_cache import compile_regex

# The role of a code address printed inside a message, not as a frame line
# (`Kernel stack is corrupted in: 0xffffffff81180979`): named where it is code, else dropped.
MESSAGE_ROLE = "message"
# `0x` and a whole pointer (8 or 16 digits): how %pS prints a code address without kallsyms.
_MESSAGE_ADDRESS_RE = compile_regex(r"(?<![\w/])0x([0-9a-f]{16}|[0-9a-f]{8})(?![\w/])")
# Lines whose addresses are not code addresses of the report.
_NOT_CODE_LINES = ("Kernel Offset:",)
# arm's unwinder line without KALLSYMS has no stack header before it: it keeps its shape,
# its return address named (`Function entered at [<..>] from [<c024ab18>] direct_entry+0xf0/0x11c`).
_HEADERLESS_ARM_FRAME = "Function entered at "


class Symbolizer(Protocol):
    """What the decoder needs from the symbols of one kernel build. Implementations
    may be called from any thread (a rack decodes off the threads that read ports)."""

    def symbolize(self, frames: list[Frame], messages: list[str], arch: str = "unknown") -> SymbolizeResult: ...


@dataclass
class SymbolizeResult:
    """Frames after symbolization: the same frames, filled in, and inlined frames added."""

    frames: list[Frame]
    notes: list[str] = field(default_factory=list)  # e.g. "System.map does not match ..."
    build: dict | None = None  # which build decoded the report, and how it was chosen
    # Per report line: the decoded frames to print in place of the raw line.
    lines_by_log_line: dict[int, list[Frame]] = field(default_factory=dict)
    # Names nothing confirmed (bare addresses, no way to verify the build): printed
    # beside the raw address, not in its place.
    guessed: bool = False
    # Raw address ▶ the data object it points into (`data_area+0x0/0x40`), for
    # addresses in the kernel's data: as CONFIG_KALLSYMS_ALL prints them, never a function.
    data_names: dict[int, str] = field(default_factory=dict)


@dataclass
class DecodedReport:
    """A report ready for the sinks."""

    report: Report
    source: str  # the log file, port or board the report came from
    title: str
    corrupted: bool
    corrupted_reason: str
    frames: list[Frame]
    text: list[str]  # the report's lines, symbolized where possible
    notes: list[str] = field(default_factory=list)
    build: dict | None = None
    events: list[str] = field(default_factory=list)  # e.g. QEMU's GUEST_PANICKED
    line_offset: int = 0  # subtracted from line numbers: a watcher's later boots have logs of their own

    @property
    def start_line(self) -> int:
        return self.report.start_line - self.line_offset

    @property
    def end_line(self) -> int:
        return self.report.end_line - self.line_offset

    @property
    def kind(self) -> str:
        return self.report.kind

    @property
    def crash(self) -> bool:
        return self.report.crash

    def to_json(self) -> dict:
        report = self.report
        return {
            "source": self.source,
            "kind": report.kind,
            "title": self.title,
            "crash": report.crash,
            "corrupted": self.corrupted,
            "corrupted_reason": self.corrupted_reason,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "arch": report.arch,
            "context": report.context,
            "end_reason": report.end_reason,
            "kernel_time": report.lines[0].kernel_time,
            "host_time": report.start_time,
            "alt_titles": report.alt_titles,
            "frames": [{**frame.to_json(), "log_line": frame.log_line - self.line_offset} for frame in self.frames],
            "notes": self.notes,
            "build": self.build,
            "events": self.events,
            "text": self.text,
        }


def decode(report: Report, source: str, symbolizer: Symbolizer | None = None) -> DecodedReport:
    """Decode one report; without a symbolizer the frames are as the log printed them.
    Pure: callable from any thread (the report and the symbolizer are only read)."""
    frames = list(report.frames)
    messages = report.messages()
    if symbolizer is None:
        return DecodedReport(report, source, report.title, report.corrupted, report.corrupted_reason,
                             frames, messages)
    frames = sorted(frames + message_frames(report), key=lambda frame: frame.log_line)
    # Trailing lines (the panic's `Kernel Offset:`) help undo KASLR.
    try:
        result = symbolizer.symbolize(frames, messages + [line.message for line in report.followups], report.arch)
    except (OopswatchError, OSError) as error:  # e.g. addr2line died: the report is still written
        return DecodedReport(report, source, report.title, report.corrupted, report.corrupted_reason,
                             list(report.frames), messages, [f"not decoded: {error}"])
    result = _without_undecoded_messages(result)
    arch = report.arch
    if arch == "unknown" and result.build and result.build.get("arch"):
        arch = result.build["arch"]  # no register dump said it; the build does
    text = _symbolized_text(report, messages, result)
    title, corrupted, reason = report.title, report.corrupted, report.corrupted_reason
    kind, blamed = report.kind, report.frame
    if any(frame.decoded for frame in result.frames) or result.data_names:
        # Addresses became names: the title can now name the guilty function.
        from oopswatch.detect.title import describe  # the title tables: not needed to load symbols

        description = describe(title_text(report.lines, report.context, _resolved_messages(report, result)),
                               report.group)
        title = description.title
        if description.frame is None:  # still nothing to blame: say why
            corrupted, reason = description.corrupted, description.corrupted_reason
        # Otherwise the verdict on the printed report stands: naming its frames does not
        # make it truncated or garbled (the decoded text need not keep, say, the headerless
        # shape of arm's unwinder lines).
        kind, blamed = description.kind or report.kind, description.frame
    if (arch, kind, blamed) != (report.arch, report.kind, report.frame):
        report = replace(report, arch=arch, kind=kind, frame=blamed)  # the detector's report stays as it was
    return DecodedReport(report, source, title, corrupted, reason, result.frames, text, result.notes,
                         result.build)


def message_frames(report: Report) -> list[Frame]:
    """Code addresses printed inside messages, not as frame lines: `Kernel stack is
    corrupted in: 0x...`, a `%pS` in a driver's message. Offered to the symbolizer like
    frames; only those that turn out to be code are kept."""
    framed = {frame.log_line for frame in report.frames}
    found = []
    for line in report.lines:
        message = line.message
        if line.number in framed or "0x" not in message or message.startswith(_NOT_CODE_LINES):
            continue
        found.extend(Frame(address=int(match.group(1), 16), role=MESSAGE_ROLE, log_line=line.number)
                     for match in _MESSAGE_ADDRESS_RE.finditer(message))
    return found


def _without_undecoded_messages(result: SymbolizeResult) -> SymbolizeResult:
    def kept(frame: Frame) -> bool:
        return frame.role != MESSAGE_ROLE or frame.decoded

    if all(kept(frame) for frame in result.frames):
        return result
    by_line = {number: [frame for frame in frames if kept(frame)]
               for number, frames in result.lines_by_log_line.items()}
    return replace(result, frames=[frame for frame in result.frames if kept(frame)],
                   lines_by_log_line={number: frames for number, frames in by_line.items() if frames})


def _resolved_messages(report: Report, result: SymbolizeResult) -> list[str]:
    """The report's messages as a kernel with CONFIG_KALLSYMS (and KALLSYMS_ALL, for
    addresses in data) would have printed them, for the title engine: a decoded
    call-trace line becomes ` [? ]func+0xoff/0xsize`, and in any other line (`RIP:`,
    `pc :`, `PC is at`, a WARNING, a message) the address becomes the symbol."""
    resolved = []
    for line in report.lines:
        message = line.message
        for frame in result.lines_by_log_line.get(line.number, ()):
            if frame.inlined or frame.address is None:
                continue
            if frame.decoded:
                symbol = _symbol_with_module(frame)
            elif frame.address in result.data_names:
                symbol = result.data_names[frame.address]
            else:
                continue
            if frame.role == "trace" and not message.lstrip().startswith(_HEADERLESS_ARM_FRAME):
                message = " " + ("" if frame.reliable else "? ") + symbol
                break
            message = _replace_address(message, frame.address, symbol)
            if frame.role != MESSAGE_ROLE:
                break
        resolved.append(message)
    return resolved


def _symbol_with_module(frame: Frame) -> str:
    symbol = frame.symbol() or ""
    return f"{symbol} [{frame.module}]" if frame.module else symbol


def _replace_address(message: str, address: int, symbol: str, keep_address: bool = False) -> str:
    """`0xffffffff81153d34` becomes the symbol (or, with `keep_address`, is followed by
    it); an address printed only in brackets (`[<c010b860>]`, powerpc's
    `[c000000000123456]`) keeps them and gets the symbol after."""
    for spelling in (f"0x{address:x}", f"0x{address:016x}", f"0x{address:08x}"):
        if spelling in message:
            return message.replace(spelling, f"{spelling} {symbol}" if keep_address else symbol, 1)
    for spelling in (f"[<{address:x}>]", f"[<{address:08x}>]", f"[<{address:016x}>]", f"[{address:x}]",
                     f"[{address:016x}]"):
        if spelling in message:
            return message.replace(spelling, f"{spelling} {symbol}", 1)
    return message


def _symbolized_text(report: Report, messages: list[str], result: SymbolizeResult) -> list[str]:
    """Report lines as decode_stacktrace.sh prints them: `func+0x4/0xc file.c:85`, and
    an `[inline]` line for each function inlined at that address. A guessed name goes
    beside its raw address; an address in data keeps its place, the data object after it."""
    text = []
    for line, message in zip(report.lines, messages, strict=True):
        decoded = result.lines_by_log_line.get(line.number)
        if not decoded:
            text.append(message)
        elif all(frame.role == MESSAGE_ROLE for frame in decoded):
            for frame in decoded:
                message = _named_in_place(message, frame, result)
            text.append(message)
        else:
            text.extend(_frame_line(message, frame, result) for frame in decoded)
    return text


def _named_in_place(message: str, frame: Frame, result: SymbolizeResult) -> str:
    """`message` with the frame's address named: replaced by its symbol, or followed by
    the guess or the data object it points into."""
    if frame.address is None:
        return message
    symbol = frame.symbol()
    if frame.decoded and symbol is not None:
        symbol = _symbol_with_module(frame)
        if result.guessed:
            return _replace_address(message, frame.address, f"(guessed: {symbol})", keep_address=True)
        return _replace_address(message, frame.address, symbol)
    if frame.address in result.data_names:
        return _replace_address(message, frame.address, f"(data: {result.data_names[frame.address]})",
                                keep_address=True)
    return message


def _frame_line(message: str, frame: Frame, result: SymbolizeResult) -> str:
    location = f" {frame.file}:{frame.line}" if frame.file and frame.line is not None else ""
    if frame.inlined:
        indent = message[: len(message) - len(message.lstrip())]
        return f"{indent}{frame.function}{location} [inline]"
    return _named_in_place(message, frame, result) + location
