"""What the detector emits: report blocks and boot banners.

`Report.extracted_text` and `title_text` follow syzkaller's report extraction
(pkg/report/linux.go findReport and stripLinePrefix, Apache-2.0, see NOTICE).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from oopswatch.console import Line
from oopswatch.detect.frames import Frame, parse_frame
from oopswatch.regex_cache import compile_regex

if TYPE_CHECKING:  # the report table is compiled by the detector, not by whoever reads a banner
    from oopswatch.detect.kinds import HeaderGroup

BANNER_RE = compile_regex(r"^Linux version (\S+) ")  # the kernel's boot banner; group 1 is the release
# Anywhere in a line: a UART gives the banner after a boot loader's last words, a
# firmware's escapes (`Booting from ROM..\ec\e[?7lLinux version`), NULs or line noise.
_BANNER_ANYWHERE_RE = compile_regex(r"Linux version (\d[^\s(]*) ")
_QUESTIONABLE_FRAME = compile_regex(r"(\[\<[0-9a-f]+\>\])? \? ")
_PANIC_OR_DEADLOCK = ("Kernel panic - not syncing", "WARNING: possible circular locking dependency detected")


@dataclass
class Report:
    """A block of console lines that reports one kernel problem."""

    kind: str
    title: str
    corrupted: bool
    corrupted_reason: str
    lines: list[Line]
    context: str
    arch: str
    group: HeaderGroup
    end_reason: str
    frame: str | None = None  # the function the title blames
    alt_titles: list[str] = field(default_factory=list)
    followups: list[Line] = field(default_factory=list)  # e.g. the panic after an oops
    before: list[Line] = field(default_factory=list)  # the console lines just before the report

    @property
    def crash(self) -> bool:
        """False for records such as out-of-memory kills, which are not kernel bugs."""
        from oopswatch.detect.kinds import KINDS

        info = KINDS.get(self.kind)
        return info.crash if info is not None else True

    @property
    def start_line(self) -> int:
        return self.lines[0].number

    @property
    def end_line(self) -> int:
        return self.lines[-1].number

    @property
    def start_time(self) -> float:
        return self.lines[0].host_time

    @property
    def end_time(self) -> float:
        return self.lines[-1].host_time

    def messages(self) -> list[str]:
        return [line.message for line in self.lines]

    @cached_property
    def frames(self) -> list[Frame]:
        """Every frame printed in the report, in order, with the log line it is on
        (parsed once: the detector and the decoder both look at them)."""
        return [frame for line in self.lines if (frame := parse_frame(line.message, line.number)) is not None]

    def extracted_text(self) -> str:
        """The report as syzkaller extracts one: up to 5 lines from before the header in
        the same printk context (50 with a task caller tag, all from that task), then
        the lines the title is computed from (those of any panic that followed too)."""
        context = self.context
        keep = 50 if context.startswith("T") else 5
        before = [line.message for line in self.before if line.context == context and line.message
                  and not (context and _QUESTIONABLE_FRAME.search(line.message))]
        lines = before[-keep:] + title_text(self.lines + self.followups, context)
        return "".join(line + "\n" for line in lines)

    def title_text(self) -> list[str]:
        """The lines a title is computed from: without guessed (`?`) frames, and
        without the panic that panic_on_warn adds after a long enough report."""
        return title_text(self.lines, self.context)


def find_banner(text: str) -> re.Match[str] | None:
    """Where a boot banner (`Linux version 6.1.192 (user@host) ... #1 SMP ...`) begins
    in a console line, whatever came before it on the line; group 1 is the release."""
    return _BANNER_ANYWHERE_RE.search(text) if "Linux version " in text else None


_BANNER_BUILD_RE = compile_regex(r".*\) (#\d+\S* .*)$")


def banner_build(banner: str | None) -> str | None:
    """`#1 SMP PREEMPT Mon Jan  1 00:00:00 UTC 2024`: what follows the compiler's
    description in a banner (the build number and date, uname -v)."""
    match = _BANNER_BUILD_RE.match(banner) if banner else None
    return match.group(1) if match else None


def banner_release(banner: str | None) -> str | None:
    """`6.1.192` from `Linux version 6.1.192 (user@host) ...`."""
    match = BANNER_RE.match(banner + " ") if banner else None
    return match.group(1) if match else None


def title_text(lines: list[Line], context: str, messages: list[str] | None = None) -> list[str]:
    """See `Report.title_text`; `messages` overrides the lines' text (after decoding)."""
    texts = messages if messages is not None else [line.message for line in lines]
    header = texts[0] if texts else ""
    min_lines = 16 if "BUG: KMSAN:" in header else 22
    out: list[str] = []
    for index, message in enumerate(texts):
        if index > 0:
            if context and "<EOI>" not in message and (
                    _QUESTIONABLE_FRAME.search(message) or message.endswith(" (unreliable)")):
                continue
            if "Disabling lock debugging due to kernel taint" in message:
                continue
            if len(out) >= min_lines and any(marker in message for marker in _PANIC_OR_DEADLOCK):
                break
        out.append(message)
    return out


@dataclass
class BootBanner:
    """The `Linux version ...` line a kernel prints as it starts: a new boot."""

    line: Line
    banner: str  # from `Linux version` to the end of the line
    release: str  # e.g. `6.1.0-18-amd64`

    @property
    def build(self) -> str | None:
        """The build number and date: `#1 SMP Mon Jan  1 00:00:00 UTC 2024`."""
        return banner_build(self.banner)


@dataclass
class Panicked:
    """A panic that followed a report already emitted (the oops killed the kernel)."""

    line: Line
    report: Report


Event = Report | BootBanner | Panicked
