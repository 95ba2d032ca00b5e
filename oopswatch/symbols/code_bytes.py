"""The `Code:` line of an oops against vmlinux: is this the code that ran?

The kernel prints the instruction bytes around the crash site. A vmlinux of the running
build holds the same bytes at that address; another build (another config, another
compiler, a rebuild that moved the code) almost never does. This is the one check that
works when the oops prints bare addresses (no CONFIG_KALLSYMS, nothing to compare sizes
with) and when two builds of one source agree on every function size.

Boot-time patching (alternatives, static keys, ftrace call sites) changes a few bytes,
so the check asks for most bytes to agree, not all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from oopswatch.regex_cache import compile_regex

# x86: `Code: 0f 1f 44 00 00 c7 04 25 ... <c3> cc cc` (the byte at the crash site in <>).
_X86_CODE_RE = compile_regex(r"^Code: ((?:[0-9a-f]{2} )*)<([0-9a-f]{2})>((?: [0-9a-f]{2})*)")
# arm64: `Code: d2800001 b900003f ... (b9000020)` (instruction words; the crash site in ()).
_ARM64_CODE_RE = compile_regex(r"^Code: ((?:[0-9a-f]{8} )*)\(([0-9a-f]{8})\)")

MATCHING_FRACTION = 0.75  # a wrong build agrees on far fewer bytes than this


@dataclass(frozen=True)
class CodeBytes:
    data: bytes
    before: int  # how many of `data` come before the crash address


@dataclass(frozen=True)
class CodeCheck:
    equal: int
    total: int

    @property
    def matches(self) -> bool:
        return self.equal >= MATCHING_FRACTION * self.total


def parse_code_line(messages: Iterable[str]) -> CodeBytes | None:
    """The first `Code:` line with a marked crash site, as bytes in memory order."""
    for message in messages:
        if not message.startswith("Code: "):
            continue
        match = _X86_CODE_RE.match(message)
        if match is not None:
            before = bytes.fromhex(match.group(1))
            return CodeBytes(before + bytes.fromhex(match.group(2) + match.group(3)), len(before))
        match = _ARM64_CODE_RE.match(message)
        if match is not None:
            words = [*match.group(1).split(), match.group(2)]
            data = b"".join(int(word, 16).to_bytes(4, "little") for word in words)
            return CodeBytes(data, 4 * (len(words) - 1))
    return None


def compare(code: CodeBytes, image: bytes) -> CodeCheck:
    """How many printed bytes equal vmlinux's bytes at the same place."""
    equal = sum(1 for printed, built in zip(code.data, image, strict=False) if printed == built)
    return CodeCheck(equal, len(code.data))
