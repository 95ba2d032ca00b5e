"""The few facts of an ELF file's header that are needed before anything else is
loaded: its machine (which binutils to run on it) and where its code starts.

Read with `struct` from the first bytes of the file, so a short command can start
addr2line on a vmlinux before it imports pyelftools or parses a System.map.
"""

from __future__ import annotations

import struct

# ELF e_machine ▶ (architecture, binutils prefix of the cross tools that read it)
MACHINES = {
    "EM_X86_64": ("x86_64", ""),
    "EM_386": ("i386", ""),
    "EM_AARCH64": ("arm64", "aarch64-linux-gnu-"),
    "EM_ARM": ("arm", "arm-linux-gnueabihf-"),
    "EM_RISCV": ("riscv", "riscv64-linux-gnu-"),
    "EM_PPC64": ("powerpc", "powerpc64le-linux-gnu-"),
    "EM_PPC": ("powerpc", "powerpc-linux-gnu-"),
    "EM_MIPS": ("mips", "mips-linux-gnu-"),
}
# The numbers behind those names (the ELF specification's e_machine values).
MACHINE_NUMBERS = {62: "EM_X86_64", 3: "EM_386", 183: "EM_AARCH64", 40: "EM_ARM", 243: "EM_RISCV",
                   21: "EM_PPC64", 20: "EM_PPC", 8: "EM_MIPS"}

_PT_LOAD = 1
_PF_X = 1


class ElfHeader:
    __slots__ = ("code_start", "machine", "tool_prefix")

    def __init__(self, machine: str, tool_prefix: str, code_start: int | None):
        self.machine = machine  # "EM_X86_64", or the number when it is none of MACHINES
        self.tool_prefix = tool_prefix
        self.code_start = code_start  # virtual address of the first executable loaded segment

    def __repr__(self) -> str:
        return f"ElfHeader({self.machine!r}, {self.tool_prefix!r}, {self.code_start!r})"


def read_elf_header(path: str) -> ElfHeader | None:
    """The header's facts, or None for what is not a readable ELF file (the full
    reader says why, later)."""
    try:
        with open(path, "rb") as handle:
            ident = handle.read(64)
            if len(ident) < 52 or ident[:4] != b"\x7fELF" or ident[4] not in (1, 2) or ident[5] not in (1, 2):
                return None
            wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
            machine_number = struct.unpack_from(order + "H", ident, 18)[0]
            if wide:
                phoff, = struct.unpack_from(order + "Q", ident, 32)
                phentsize, phnum = struct.unpack_from(order + "HH", ident, 54)
                vaddr_at = 16
            else:
                phoff, = struct.unpack_from(order + "I", ident, 28)
                phentsize, phnum = struct.unpack_from(order + "HH", ident, 42)
                vaddr_at = 8
            handle.seek(phoff)
            table = handle.read(phentsize * min(phnum, 64))
    except (OSError, struct.error):
        return None
    code_start = None
    for offset in range(0, len(table) - phentsize + 1, phentsize):
        kind = struct.unpack_from(order + "I", table, offset)[0]
        flags = struct.unpack_from(order + "I", table, offset + (4 if wide else 24))[0]
        if kind == _PT_LOAD and flags & _PF_X:
            code_start = struct.unpack_from(order + ("Q" if wide else "I"), table, offset + vaddr_at)[0]
            break
    machine = MACHINE_NUMBERS.get(machine_number, str(machine_number))
    return ElfHeader(machine, MACHINES.get(machine, ("", ""))[1], code_start)
