"""Decoder: a detected report plus (optionally) the running build's symbols become a
decoded report: every frame with its function, offset, size, module and, where a
vmlinux is at hand, file and line.

The decoder does not choose the build; it is handed a `Symbolizer` (or None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from oopswatch.detect.events import Report, title_text
from oopswatch.detect.frames import Frame
from oopswatch.detect.title import describe
from oopswatch.errors import OopswatchError


class Symbolizer(Protocol):
    """What the decoder needs from the symbols of one kernel build."""

    def symbolize(self, frames: list[Frame], messages: list[str], arch: str = "unknown") -> SymbolizeResult: ...


@dataclass
class SymbolizeResult:
    """Frames after symbolization: the same frames, filled in, and inlined frames added."""

    frames: list[Frame]
    notes: list[str] = field(default_factory=list)  # e.g. "System.map does not match ..."
    build: dict | None = None  # which build decoded the report, and how it was chosen
    # Per report line: the decoded frames to print in place of the raw line.
    lines_by_log_line: dict[int, list[Frame]] = field(default_factory=dict)


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
    """Decode one report; without a symbolizer the frames are as the log printed them."""
    frames = list(report.frames)
    messages = report.messages()
    if symbolizer is None:
        return DecodedReport(report, source, report.title, report.corrupted, report.corrupted_reason,
                             frames, messages)
    # Trailing lines (the panic's `Kernel Offset:`) help undo KASLR.
    try:
        result = symbolizer.symbolize(frames, messages + [line.message for line in report.followups], report.arch)
    except (OopswatchError, OSError) as error:  # e.g. addr2line died: the report is still written
        return DecodedReport(report, source, report.title, report.corrupted, report.corrupted_reason, frames,
                             messages, [f"not decoded: {error}"])
    if report.arch == "unknown" and result.build and result.build.get("arch"):
        report.arch = result.build["arch"]  # no register dump said it; the build does
    text = _symbolized_text(report, messages, result)
    title, corrupted, reason = report.title, report.corrupted, report.corrupted_reason
    if any(frame.decoded for frame in result.frames):
        # Addresses became names: the title can now name the guilty function.
        description = describe(title_text(report.lines, report.context, _resolved_messages(report, result)),
                               report.group)
        title = description.title
        if description.frame is None:  # still nothing to blame: say why
            corrupted, reason = description.corrupted, description.corrupted_reason
        # Otherwise the verdict on the printed report stands: naming its frames does not
        # make it truncated or garbled (the decoded text need not keep, say, the headerless
        # shape of arm's unwinder lines).
        report.kind = description.kind or report.kind
        report.frame = description.frame
    return DecodedReport(report, source, title, corrupted, reason, result.frames, text, result.notes,
                         result.build)


def _resolved_messages(report: Report, result: SymbolizeResult) -> list[str]:
    """The report's messages as a kernel with CONFIG_KALLSYMS would have printed them, for
    the title engine: a decoded call-trace line becomes ` [? ]func+0xoff/0xsize`, and in
    any other line (`RIP:`, `pc :`, `PC is at`, a WARNING) the address becomes the symbol."""
    resolved = []
    for line in report.lines:
        message = line.message
        for frame in result.lines_by_log_line.get(line.number, ()):
            if frame.decoded and frame.address is not None and not frame.inlined:
                if frame.role == "trace":
                    message = " " + ("" if frame.reliable else "? ") + _symbol_with_module(frame)
                else:
                    message = _replace_address(message, frame)
                break
        resolved.append(message)
    return resolved


def _symbol_with_module(frame: Frame) -> str:
    symbol = frame.symbol() or ""
    return f"{symbol} [{frame.module}]" if frame.module else symbol


def _replace_address(message: str, frame: Frame) -> str:
    """`0xffffffff81153d34` becomes the symbol; an address printed only in brackets
    (`[<c010b860>]`, powerpc's `[c000000000123456]`) keeps them and gets the symbol after."""
    symbol = _symbol_with_module(frame)
    for spelling in (f"0x{frame.address:x}", f"0x{frame.address:016x}"):
        if spelling in message:
            return message.replace(spelling, symbol, 1)
    for spelling in (f"[<{frame.address:x}>]", f"[<{frame.address:08x}>]", f"[{frame.address:x}]",
                     f"[{frame.address:016x}]"):
        if spelling in message:
            return message.replace(spelling, f"{spelling} {symbol}", 1)
    return message


def _symbolized_text(report: Report, messages: list[str], result: SymbolizeResult) -> list[str]:
    """Report lines as decode_stacktrace.sh prints them: `func+0x4/0xc file.c:85`, and
    an `[inline]` line for each function inlined at that address."""
    text = []
    for line, message in zip(report.lines, messages, strict=True):
        decoded = result.lines_by_log_line.get(line.number)
        if not decoded:
            text.append(message)
            continue
        for frame in decoded:
            text.append(_frame_line(message, frame))
    return text


def _frame_line(message: str, frame: Frame) -> str:
    location = f" {frame.file}:{frame.line}" if frame.file and frame.line is not None else ""
    if frame.inlined:
        indent = message[: len(message) - len(message.lstrip())]
        return f"{indent}{frame.function}{location} [inline]"
    symbol = frame.symbol()
    if frame.decoded and frame.address is not None and symbol is not None:
        message = _replace_address(message, frame)
    return message + location
