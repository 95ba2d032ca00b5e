"""Does a symbol table belong to the kernel that printed a report?

Frames printed as `func+0xoff/0xsize` carry the function's size as the running
kernel's kallsyms computed it. A map of the same build gives the same size for the
same name; a map of another build almost never does. A wrong map is worse than none,
so a table that disagrees is not used to decode the report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from oopswatch.detect.events import banner_build
from oopswatch.detect.frames import Frame
from oopswatch.regex_cache import compile_regex
from oopswatch.symbols.code_bytes import CodeCheck
from oopswatch.symbols.table import SymbolTable


@dataclass(frozen=True)
class SourceCheck:
    """The file:line a WARNING printed against the file:line vmlinux's debug info gives
    for its crash site: the check that works for bare addresses without a `Code:` line."""

    printed: str  # `drivers/misc/lkdtm/bugs.c:85`
    found: str

    @property
    def matches(self) -> bool:
        printed_file, _, printed_line = self.printed.rpartition(":")
        found_file, _, found_line = self.found.rpartition(":")
        return printed_line == found_line and (printed_file.endswith(found_file) or found_file.endswith(printed_file))


@dataclass(frozen=True)
class Verification:
    checked: int  # frames that could be checked (they print func+off/size, not in a module)
    disagreeing: int
    examples: tuple[str, ...] = ()  # a few frames that disagree, for the report
    code: CodeCheck | None = None  # the `Code:` bytes against vmlinux, when both are at hand
    # The report's `CPU: ... 6.1.192 #2` disagrees with the build's banner (release, build number).
    version_problem: str | None = None
    source: SourceCheck | None = None  # a WARNING's file:line against vmlinux, when both are at hand

    @property
    def frames_match(self) -> bool:
        """No frame could be checked, or at most a stray one in ten disagrees."""
        return self.disagreeing * 10 <= self.checked and (self.checked == 0 or self.disagreeing < self.checked)

    @property
    def matches(self) -> bool:
        """Nothing in the report speaks against the build (which may mean nothing could be checked)."""
        return (self.frames_match and (self.code is None or self.code.matches) and self.version_problem is None
                and (self.source is None or self.source.matches))

    @property
    def any_checked(self) -> bool:
        return self.checked > 0 or self.code is not None or self.version_problem is not None or self.source is not None

    @property
    def positive(self) -> bool:
        """The report speaks for the build: frame sizes, code bytes or a WARNING's line
        agree. An equal release and build number alone does not (reproducible builds
        share them)."""
        return self.matches and (self.checked > 0 or self.code is not None or self.source is not None)

    @property
    def message(self) -> str:
        if self.version_problem is not None:
            return self.version_problem
        if not self.frames_match:
            return f"System.map does not match the running kernel: {self.disagreeing} of {self.checked} frames " \
                   f"disagree (e.g. {', '.join(self.examples)})"
        if self.code is not None and not self.code.matches:
            return f"vmlinux does not match the running kernel: the code at the crash site differs " \
                   f"({self.code.total - self.code.equal} of {self.code.total} bytes of the Code: line)"
        if self.source is not None and not self.source.matches:
            return f"vmlinux does not match the running kernel: the WARNING is at {self.source.printed}, vmlinux " \
                   f"puts its crash site at {self.source.found}"
        parts = []
        if self.checked:
            parts.append(f"{self.checked - self.disagreeing} of {self.checked} frames agree")
        if self.code is not None:
            parts.append(f"{self.code.equal} of {self.code.total} code bytes at the crash site agree")
        if self.source is not None:
            parts.append(f"the WARNING's {self.source.printed} is its crash site's line in vmlinux")
        if not parts:
            return "no frame printed func+off/size, so the map could not be checked against the kernel"
        return f"{'System.map' if self.checked else 'vmlinux'} matches the running kernel: {'; '.join(parts)}"


def verify_frames(frames: Iterable[Frame], table: SymbolTable) -> Verification:
    checked = disagreeing = 0
    examples: list[str] = []
    seen: set[tuple[str, int]] = set()
    for frame in frames:
        if frame.function is None or frame.size is None or frame.module or frame.decoded:
            continue
        key = (frame.function, frame.size)
        if key in seen:
            continue
        seen.add(key)
        checked += 1
        sizes = {table.size_of(start) for start in table.addresses_of(frame.function)}
        # A return address may be one past its function's end (`__stack_chk_fail+0x10/0x10`):
        # a call to a noreturn function as the last instruction; %pB looks up address - 1.
        if frame.size not in sizes or frame.offset is None or frame.offset > frame.size:
            disagreeing += 1
            if len(examples) < 3:
                found = ", ".join(f"{size:#x}" for size in sorted(s for s in sizes if s is not None)) or "absent"
                examples.append(f"{frame.function} is {frame.size:#x} bytes in the log, {found} in the map")
    return Verification(checked, disagreeing, tuple(examples))


# `CPU: 0 PID: 25 Comm: sh Not tainted 6.1.192 #1` (and `Tainted: G        W  6.1.192 #1`):
# every oops header names the running kernel's release and build number.
_RUNNING_VERSION_RE = compile_regex(r"^CPU: \d+ .*?(?:Not tainted|Tainted: [A-Z ]*?) +(\d\S*) (#\d+)")
# `WARNING: CPU: 0 PID: 28 at drivers/misc/lkdtm/bugs.c:85 0xffffffc0081929fc`
_WARNING_AT_RE = compile_regex(r"^WARNING: .*? at (\S+:\d+) ")


def warning_location(messages: Iterable[str]) -> str | None:
    """The `file:line` a WARNING printed for its crash site."""
    for message in messages:
        if message.startswith("WARNING: "):
            match = _WARNING_AT_RE.match(message)
            if match is not None:
                return match.group(1)
    return None


def running_version(messages: Iterable[str]) -> tuple[str, str] | None:
    """(release, `#N`) of the kernel that printed the report, from its `CPU:` line."""
    for message in messages:
        if message.startswith("CPU: "):
            match = _RUNNING_VERSION_RE.match(message)
            if match is not None:
                return match.group(1), match.group(2)
    return None


def banner_build_number(banner: str) -> str | None:
    """`#3` from `Linux version 6.1.0 (user@host) (gcc ...) #3 SMP ...`."""
    build = banner_build(banner)
    return build.split()[0] if build else None


def version_problem(messages: Iterable[str], banner: str | None, release: str | None) -> str | None:
    """The report's own `CPU: ... release #N` against a build's banner: a report of
    6.1.192 #2 was not printed by the build whose banner says 6.1.192 #1."""
    running = running_version(messages)
    if running is None or banner is None or release is None:
        return None
    number = banner_build_number(banner)
    if running[0] == release and (number is None or running[1] == number):
        return None
    return (f"System.map does not match the running kernel: the report says {running[0]} {running[1]}, "
            f"the build's banner says {release} {number or ''}".rstrip())
