"""vmlinux and `.ko` files through pyelftools: symbol table, machine, debug info,
and the `Linux version` banner the kernel prints at boot."""

from __future__ import annotations

import os
from array import array
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile
from elftools.elf.sections import SymbolTableSection

from oopswatch.errors import InputError
from oopswatch.symbols.table import SymbolTable

# ELF e_machine ▶ (architecture, binutils prefix of the cross tools that read it)
MACHINES = {
    "EM_X86_64": ("x86_64", ""),
    "EM_386": ("i386", ""),
    "EM_AARCH64": ("arm64", "aarch64-linux-gnu-"),
    "EM_ARM": ("arm", "arm-linux-gnueabihf-"),
    "EM_RISCV": ("riscv", "riscv64-linux-gnu-"),
    "EM_PPC64": ("powerpc", "powerpc64le-linux-gnu-"),
    "EM_PPC": ("powerpc", "powerpc-linux-gnu-"),
}


class ElfError(InputError):
    """A vmlinux or module that cannot be used."""


@dataclass
class ElfInfo:
    path: str
    arch: str
    tool_prefix: str
    has_line_info: bool  # DWARF .debug_line present: addr2line can give file:line
    banner: str | None  # `Linux version ...` from linux_banner (vmlinux only)


def _open(path: Path):
    try:
        handle = path.open("rb")
    except OSError as error:
        raise ElfError(f"{path}: cannot read: {error.strerror}") from error
    try:
        return handle, ELFFile(handle)
    except ELFError as error:
        handle.close()
        raise ElfError(f"{path}: not an ELF file ({error})") from error


def read_elf_info(path: str | os.PathLike[str]) -> ElfInfo:
    path = Path(path)
    handle, elf = _open(path)
    with handle:
        arch, prefix = MACHINES.get(elf["e_machine"], (str(elf["e_machine"]), ""))
        has_lines = elf.get_section_by_name(".debug_line") is not None
        return ElfInfo(str(path), arch, prefix, has_lines, _banner(elf))


def _banner(elf: ELFFile) -> str | None:
    symtab = elf.get_section_by_name(".symtab")
    if not isinstance(symtab, SymbolTableSection):
        return None
    symbols = symtab.get_symbol_by_name("linux_banner")
    if not symbols:
        return None
    symbol = symbols[0]
    address, size = symbol["st_value"], symbol["st_size"]
    for section in elf.iter_sections():
        start = section["sh_addr"]
        if section["sh_type"] != "SHT_NOBITS" and start <= address < start + section["sh_size"]:
            data = section.data()[address - start: address - start + (size or 512)]
            return data.split(b"\0", 1)[0].decode("utf-8", "replace").strip()
    return None


_TEXT_KINDS = {"STT_FUNC", "STT_NOTYPE"}


def read_elf_symbols(path: str | os.PathLike[str], module: str | None = None) -> SymbolTable:
    """The ELF symbol table as a `SymbolTable`, sized like kallsyms (to the next symbol)."""
    path = Path(path)
    handle, elf = _open(path)
    with handle:
        symtab = elf.get_section_by_name(".symtab")
        if not isinstance(symtab, SymbolTableSection):
            raise ElfError(f"{path}: has no symbol table (stripped)")
        executable = {index for index, section in enumerate(elf.iter_sections())
                      if section["sh_flags"] & 0x4}  # SHF_EXECINSTR
        addresses = array("Q")
        names: list[str] = []
        types: list[str] = []
        for symbol in symtab.iter_symbols():
            name = symbol.name
            info = symbol["st_info"]
            shndx = symbol["st_shndx"]
            if not name or info["type"] in ("STT_FILE", "STT_SECTION") or name.startswith("$"):
                continue
            in_text = isinstance(shndx, int) and shndx in executable and info["type"] in _TEXT_KINDS
            letter = "t" if in_text else ("a" if shndx == "SHN_ABS" else "d")
            if info["bind"] == "STB_GLOBAL":
                letter = letter.upper()
            elif info["bind"] == "STB_WEAK" and in_text:
                letter = "W"
            addresses.append(symbol["st_value"])
            names.append(name)
            types.append(letter)
    modules = [module] * len(names) if module else None
    return SymbolTable(addresses, names, "".join(types), modules, source=str(path))
