"""vmlinux and `.ko` files through pyelftools: symbol table, machine, debug info,
and the `Linux version` banner the kernel prints at boot."""

from __future__ import annotations

import contextlib
import json
import os
from array import array
from dataclasses import asdict, dataclass, field
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.symbols.elf_header import MACHINES
from oopswatch.symbols.system_map import CacheEntry, derived_cache_file
from oopswatch.symbols.table import SymbolTable


class ElfError(InputError):
    """A vmlinux or module that cannot be used."""


@dataclass
class ElfInfo:
    path: str
    arch: str
    tool_prefix: str
    has_line_info: bool  # DWARF .debug_line present: addr2line can give file:line
    banner: str | None  # `Linux version ...` from linux_banner (vmlinux only)
    # (address, size, file offset) of each loaded section with contents: where the
    # image's bytes are, for the `Code:` check, without opening the ELF file again.
    sections: list[tuple[int, int, int]] = field(default_factory=list)


def _open(path: Path):
    # pyelftools is imported where an ELF file is read: a cached vmlinux needs none of it.
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

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
    """Machine, debug info, banner and loaded sections of an ELF file; cached by path,
    inode, size and mtime, because finding the banner in a large vmlinux takes a while
    (and a cached vmlinux needs no ELF parser at all)."""
    path = Path(path)
    cache = _info_cache(path)
    if cache is not None:
        try:
            cached = json.loads(cache.file.read_text())
            if cached.pop("key") == cache.key:
                return ElfInfo(**{**cached, "path": str(path), "sections": [tuple(s) for s in cached["sections"]]})
        except (OSError, ValueError, TypeError, KeyError):
            pass
    handle, elf = _open(path)
    with handle:
        arch, prefix = MACHINES.get(elf["e_machine"], (str(elf["e_machine"]), ""))
        has_lines = elf.get_section_by_name(".debug_line") is not None
        sections = [(section["sh_addr"], section["sh_size"], section["sh_offset"]) for section in elf.iter_sections()
                    if section["sh_type"] == "SHT_PROGBITS" and section["sh_flags"] & 0x2]  # SHF_ALLOC
        info = ElfInfo(str(path), arch, prefix, has_lines, _banner(elf, handle), sections)
    if cache is not None:
        with contextlib.suppress(OSError):
            cache.file.parent.mkdir(parents=True, exist_ok=True)
            cache.file.write_text(json.dumps({"key": cache.key, **asdict(info)}))
    return info


def _info_cache(path: Path) -> CacheEntry | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return derived_cache_file(path, stat, "elf", "elfinfo-4", ".json")


def _banner(elf, handle) -> str | None:
    """The `Linux version ...` string (linux_banner) from the read-only data."""
    for name in (".rodata", ".data"):
        section = elf.get_section_by_name(name)
        if section is None or section["sh_type"] == "SHT_NOBITS":
            continue
        handle.seek(section["sh_offset"])
        data = handle.read(section["sh_size"])
        start = data.find(b"Linux version ")
        if start >= 0:
            end = data.find(b"\0", start)
            return data[start:end].decode("utf-8", "replace").strip()
    return None


_TEXT_KINDS = {"STT_FUNC", "STT_NOTYPE"}


def read_elf_symbols(path: str | os.PathLike[str], module: str | None = None) -> SymbolTable:
    """The ELF symbol table as a `SymbolTable`, sized like kallsyms (to the next symbol)."""
    from elftools.elf.sections import SymbolTableSection

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
    return SymbolTable(addresses, names, "".join(types), modules)


def read_loaded_bytes(info: ElfInfo, address: int, length: int) -> bytes | None:
    """`length` bytes of the loaded image at `address` (from the section that holds it),
    or None when no section with contents holds all of them."""
    for start, size, offset in info.sections:
        if start <= address and address + length <= start + size:
            try:
                with open(info.path, "rb") as handle:
                    handle.seek(offset + address - start)
                    return handle.read(length)
            except OSError as error:
                raise ElfError(f"{info.path}: cannot read: {error.strerror}") from error
    return None


def read_vermagic(path: str | os.PathLike[str]) -> str | None:
    """A module's `vermagic` (`6.1.192 SMP preempt mod_unload ...`: the release it was
    built for, then the options that must match), from its .modinfo strings."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise ElfError(f"{path}: cannot read: {error.strerror}") from error
    start = data.find(b"vermagic=")
    while start > 0 and data[start - 1] != 0:  # a .modinfo string starts after a NUL
        start = data.find(b"vermagic=", start + 1)
    if start < 0:
        return None
    end = data.find(b"\0", start)
    return data[start + len(b"vermagic="):end if end >= 0 else None].decode("utf-8", "replace").strip() or None
