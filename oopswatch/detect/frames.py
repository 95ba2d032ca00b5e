"""Stack frame lines of every architecture the detector knows, parsed into `Frame`s.

(oopswatch's own parser, from the formats of the kernel's arch/*/kernel/traps.c,
dumpstack and unwinder code.)

Kernels print a code address as `func+0xoff/0xsize [module]` with CONFIG_KALLSYMS and
as a bare `0xffffffff81153d34` without it; the line around it depends on the
architecture and on where the address comes from (the crash site, a link register,
a call trace). This module is pure text parsing, shared by the detector (titles) and
the decoder (symbols).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from oopswatch.regex_cache import compile_regex

# `func+0xoff/0xsize` with an optional ` [module]` or ` [module buildid]` after it.
SYMBOL = r"(?P<function>[A-Za-z_.$][A-Za-z0-9_.$]*)\+0x(?P<offset>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)" \
         r"(?: \[(?P<module>[A-Za-z0-9_-]+)(?: [0-9a-f]+)?\])?"
ADDRESS = r"0x(?P<address>[0-9a-f]{6,16})"


@dataclass(slots=True)
class Frame:
    """One code address in a report, as printed and, after decoding, as resolved."""

    function: str | None = None
    offset: int | None = None
    size: int | None = None
    address: int | None = None
    module: str | None = None
    reliable: bool = True
    role: str = "trace"  # "pc": the crash site; "lr"/"ra": a link register
    log_line: int = 0  # line number of the frame in the console log
    # Filled in by the decoder (or printed by an already symbolized log).
    file: str | None = None
    line: int | None = None
    inlined: bool = False  # a function inlined into the next frame; it has no address of its own
    decoded: bool = False  # function/offset/size came from symbols, not from the log

    def symbol(self) -> str | None:
        """`func+0x4/0xc` as the kernel prints it, or None for an unresolved address."""
        if self.function is None:
            return None
        if self.offset is None or self.size is None:
            return self.function
        return f"{self.function}+{self.offset:#x}/{self.size:#x}"

    def to_json(self) -> dict:
        data: dict = {
            "function": self.function,
            "offset": self.offset,
            "size": self.size,
            "address": f"{self.address:#x}" if self.address is not None else None,
            "module": self.module,
            "reliable": self.reliable,
            "role": self.role,
            "log_line": self.log_line,
            "file": self.file,
            "line": self.line,
            "inlined": self.inlined,
            "decoded": self.decoded,
        }
        return data


def _rx(pattern: str) -> str:
    return pattern.replace("{SYMBOL}", SYMBOL).replace("{ADDRESS}", ADDRESS)


# (role, pattern) in order of preference; the first match of a line wins.
_FRAME_PATTERNS: tuple[tuple[str, str], ...] = (
    # x86 crash site: `RIP: 0010:func+0x1/0x2` or `RIP: 0010:0xffffffff81153d34`.
    ("pc", _rx(r"^\s*(?:RIP|EIP|IP):\s+(?:(?P<segment>[0-9a-f]{4}):)?(?:\[<[0-9a-f]+>\]\s+)?(?:{SYMBOL}|{ADDRESS})")),
    # arm64 / riscv registers: `pc : func+0x1/0x2`, `lr : ...`, `epc : ...`, ` ra : ...`.
    ("pc", _rx(r"^\s*(?:pc|epc)\s?:\s+(?:{SYMBOL}|{ADDRESS})")),
    ("lr", _rx(r"^\s*(?:lr|ra)\s?:\s+(?:{SYMBOL}|{ADDRESS})")),
    # mips `epc   : 8001234c func+0x1/0x2`, `ra    : ...`; loongarch `ERA: 9000... func+...`
    # (older `era   : ...`), `RA: ...`.
    ("pc", _rx(r"^\s*(?:epc|ERA|era)\s*:\s+(?P<address>[0-9a-f]{8,16})(?:\s+{SYMBOL})?\s*$")),
    ("lr", _rx(r"^\s*(?:ra|RA)\s*:\s+(?P<address>[0-9a-f]{8,16})(?:\s+{SYMBOL})?\s*$")),
    # s390 `Krnl PSW : 0704c00180000000 000000000012345a (func+0x12/0x40)`.
    ("pc", _rx(r"^\s*Krnl PSW : [0-9a-f]{16} (?P<address>[0-9a-f]{16})(?: \({SYMBOL}\))?")),
    # i386 before 3.x: `EIP is at func+0x1/0x2`.
    ("pc", _rx(r"^\s*EIP is at {SYMBOL}")),
    # arm: `PC is at func+0x1/0x2`, `LR is at ...`.
    ("pc", _rx(r"^\s*PC is at (?:{SYMBOL}|{ADDRESS})")),
    ("lr", _rx(r"^\s*LR is at (?:{SYMBOL}|{ADDRESS})")),
    # powerpc: `NIP [c000000000123456] func+0x1/0x2`, `LR [c000...] func+...`.
    ("pc", _rx(r"^\s*NIP\s+\[(?:0x)?(?P<address>[0-9a-f]+)\]\s+(?:{SYMBOL})?")),
    ("lr", _rx(r"^\s*LR\s+\[(?:0x)?(?P<address>[0-9a-f]+)\]\s+(?:{SYMBOL})?")),
    # arm (old): `[<c010b860>] (func+0x1/0x2) from [<c010b9a0>] (caller+0x3/0x4)`.
    ("trace", _rx(r"^\s*\[<(?P<address>[0-9a-f]+)>\]\s+\({SYMBOL}\) from ")),
    # arm (verbose unwinder): `[<c010b860>] (func [module]) from [<c010b9a0>] (caller+0x3/0x4)`;
    # the address is inside `func`, printed without its offset.
    ("trace", _rx(r"^\s*\[<(?P<address>[0-9a-f]+)>\]\s+\((?P<function>[A-Za-z_.$][A-Za-z0-9_.$]*)"
                  r"(?: \[(?P<module>[A-Za-z0-9_-]+)\])?\) from ")),
    # arm without CONFIG_KALLSYMS: `Function entered at [<c010b860>] from [<c010b9a0>]`, the
    # same pair as `callee from caller+0x3/0x4` with KALLSYMS: the frame is the return
    # address in the caller, as there (the callee is the previous line's caller, or the pc).
    ("trace", _rx(r"^\s*Function entered at \[<[0-9a-f]+>\] from \[<(?P<address>[0-9a-f]+)>\]")),
    # powerpc trace: `[c0000000fffb3a80] [c000000000123456] func+0x1/0x2 (unreliable)`, or a
    # bare `0xc000000000123456` in place of the symbol without CONFIG_KALLSYMS.
    ("trace", _rx(r"^\s*\[[0-9a-f]{8,16}\]\s+\[(?P<address>[0-9a-f]{8,16})\]\s+(?:{SYMBOL}|0x[0-9a-f]+)")),
    # s390: a frame it cannot vouch for, in parentheses: `([<000001e12d421b6a>] full_proxy_read+0x4a/0xc0)`.
    ("trace", _rx(r"^\s*(?P<unreliable>\()\[<(?P<address>[0-9a-f]+)>\]\s+(?:{SYMBOL}|0x[0-9a-f]+)\)")),
    # x86_64 before 2.6.27: a module's frame is `:module:func+0x../0x..`.
    ("trace", _rx(r"^\s*\[<(?P<address>[0-9a-f]+)>\]\s*(?P<unreliable>\?\s+)?:(?P<module>[A-Za-z0-9_-]+):"
                  r"(?P<function>[A-Za-z_.$][A-Za-z0-9_.$]*)\+0x(?P<offset>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)")),
    # Generic call trace line: optional `[<address>]`, optional `? `, then the symbol.
    ("trace", _rx(r"^\s*(?:\[<(?:0x)?(?P<address>[0-9a-f]+)>\]\s*)?(?P<unreliable>\?\s+)?"
                  r"(?:[0-9]+:)?{SYMBOL}")),
    # arm (new): `callee from caller+0x3/0x4`; the printed address is the caller's.
    ("trace", _rx(r"^\s*(?:\[<[0-9a-f]+>\]\s*)?[A-Za-z0-9_.]+ from {SYMBOL}")),
    # Bare addresses without CONFIG_KALLSYMS: ` 0xffffffff81153d34`, ` ? 0x...`,
    # ` [<ffffffff81153d34>] 0xffffffff81153d34`, ` [<c010b860>]`.
    ("trace", _rx(r"^\s*(?:\[<(?:0x)?[0-9a-f]+>\]\s*)?(?P<unreliable>\?\s+)?{ADDRESS}\s*$")),
    ("trace", _rx(r"^\s*(?P<unreliable>\?\s+)?\[<(?:0x)?(?P<address>[0-9a-f]{8,16})>\]\s*$")),
)

# Already symbolized output (decode_stacktrace.sh, syzbot): `func file.c:12 [inline]`.
_INLINE_FRAME_RE = compile_regex(r"^\s*(?P<function>[A-Za-z_][A-Za-z0-9_.]*) (?P<file>[^ :]+):(?P<line>\d+) \[inline\]")

# A WARNING line ends with the caller's address: `WARNING: CPU: 0 PID: 1 at f.c:85 0xffff...`.
_WARNING_SITE = _rx(r"^WARNING: .* at \S+:\d+ (?:{SYMBOL}|{ADDRESS})")


@cache
def _compiled() -> tuple[tuple[tuple[str, re.Pattern[str]], ...], re.Pattern[str]]:
    """The frame patterns and the WARNING site's, compiled at the first frame parsed rather
    than at import: the symbol side imports this module, and `oopswatch scan` starts
    addr2line before the detector parses anything."""
    return tuple((role, compile_regex(pattern)) for role, pattern in _FRAME_PATTERNS), compile_regex(_WARNING_SITE)


def parse_frame(message: str, log_line: int = 0) -> Frame | None:
    """The frame printed on one line (prefix already stripped), or None."""
    if "0x" not in message and "[<" not in message and "[c" not in message and ": " not in message:
        if message.endswith("[inline]"):
            match = _INLINE_FRAME_RE.match(message)
            if match is not None:
                return Frame(function=match.group("function"), file=match.group("file"),
                             line=int(match.group("line")), inlined=True, log_line=log_line)
        return None
    patterns, warning_site = _compiled()
    for role, pattern in patterns:
        match = pattern.match(message)
        if match is None:
            continue
        return _frame_from_match(match, role, log_line)
    match = warning_site.match(message)
    if match is not None:
        return _frame_from_match(match, "pc", log_line)
    return None


# x86 code segments of user mode: `RIP: 0033:0x47b7a0` is a user-space address.
_USER_SEGMENTS = frozenset({"0033", "0023", "002b", "0073"})
_SOURCE_AFTER_RE = compile_regex(r" ([^ :]+\.[a-zA-Z]+):(\d+)")


def _frame_from_match(match: re.Match[str], role: str, log_line: int) -> Frame | None:
    groups = match.groupdict()
    function = groups.get("function")
    address = groups.get("address")
    if (function is None and address is None) or groups.get("segment") in _USER_SEGMENTS:
        return None
    source = _SOURCE_AFTER_RE.match(match.string, match.end())
    return Frame(
        function=function,
        offset=int(groups["offset"], 16) if groups.get("offset") else None,
        size=int(groups["size"], 16) if groups.get("size") else None,
        address=int(address, 16) if address else None,
        module=groups.get("module"),
        reliable=not groups.get("unreliable") and not message_is_unreliable(match.string),
        role=role,
        log_line=log_line,
        file=source.group(1) if source else None,
        line=int(source.group(2)) if source else None,
    )


def message_is_unreliable(message: str) -> bool:
    """powerpc marks guessed frames with a trailing `(unreliable)`."""
    return message.endswith("(unreliable)")
