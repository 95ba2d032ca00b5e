"""KASLR: the offset between the addresses a kernel prints and its System.map."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from oopswatch.detect.frames import Frame
from oopswatch.regex_cache import compile_regex
from oopswatch.symbols.table import SymbolTable

_OFFSET_RE = compile_regex(r"Kernel Offset: (?:(disabled)|0x([0-9a-f]+) from 0x([0-9a-f]+))")


@dataclass(frozen=True)
class KaslrOffset:
    offset: int
    how: str  # "Kernel Offset line", "derived from N frames", "none"


def offset_from_messages(messages: Iterable[str]) -> KaslrOffset | None:
    """The offset the kernel printed (`Kernel Offset: 0x... from 0x...`), if it did."""
    for message in messages:
        match = _OFFSET_RE.search(message)
        if match is not None:
            if match.group(1):
                return KaslrOffset(0, "Kernel Offset: disabled")
            return KaslrOffset(int(match.group(2), 16), "Kernel Offset line")
    return None


def offset_from_frames(frames: Iterable[Frame], table: SymbolTable) -> KaslrOffset | None:
    """Derive the offset from frames that print both an address and `func+off/size`;
    they must agree with each other, or no offset is claimed."""
    votes: Counter[int] = Counter()
    for frame in frames:
        if frame.address is None or frame.function is None or frame.offset is None or frame.decoded:
            continue
        start = table.resolve_name(frame.function, 0, frame.size)
        if start is None:
            continue
        votes[frame.address - (start + frame.offset)] += 1
    if not votes:
        return None
    (offset, count), *others = votes.most_common()
    if others and others[0][1] * 4 > count:  # no clear majority: the frames disagree
        return None
    return KaslrOffset(offset, f"derived from {count} frame{'s' if count > 1 else ''}")
