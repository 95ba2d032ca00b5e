"""A kernel symbol table: address ▶ `symbol+off/size` and name ▶ address.

Built from System.map, from vmlinux's ELF symbol table, or from a module's `.ko`.
A function's size runs to the next text symbol, as kallsyms computes it, so a decoded
address reads exactly as the kernel itself would have printed it.
"""

from __future__ import annotations

import bisect
from array import array
from dataclasses import dataclass

TEXT_TYPES = frozenset("TtWw")
# Symbols that mark the end of a region, not code; an address past them is not in a function.
END_MARKERS = frozenset({"_etext", "_einittext", "__init_end", "_end", "__irqentry_text_end",
                         "__softirqentry_text_end", "__entry_text_end", "_sinittext_end"})
# Types that never name code: undefined, debugging, absolute.
_IGNORED_TYPES = frozenset("UNnAa?-")


@dataclass(frozen=True)
class Resolved:
    """An address resolved to a symbol."""

    name: str
    offset: int
    size: int
    address: int  # the symbol's start
    module: str | None = None

    def __str__(self) -> str:
        text = f"{self.name}+{self.offset:#x}/{self.size:#x}"
        return f"{text} [{self.module}]" if self.module else text


class SymbolTable:
    """Text symbols sorted by address, with every name findable.

    `addresses`, `names`, `types` (nm's letters) and `modules` are parallel.
    """

    def __init__(self, addresses: array, names: list[str], types: str, modules: list[str | None] | None = None,
                 indexes: tuple[array, array, array, array] | None = None):
        """`indexes`, when given, are the lookup indexes as `indexes()` returned them for
        the same symbols (a cached table); otherwise they are built here."""
        if indexes is None and any(addresses[i] > addresses[i + 1] for i in range(len(addresses) - 1)):
            order = sorted(range(len(addresses)), key=addresses.__getitem__)
            addresses = array("Q", (addresses[i] for i in order))
            names = [names[i] for i in order]
            types = "".join(types[i] for i in order)
            modules = [modules[i] for i in order] if modules else None
        self.addresses = addresses
        self.names = names
        self.types = types
        self.modules = modules
        self._text_addresses, self._text_index, self._data_addresses, self._data_index = (
            indexes or _build_indexes(addresses, names, types))
        self._by_name: dict[str, list[int]] | None = None

    def indexes(self) -> tuple[array, array, array, array]:
        return self._text_addresses, self._text_index, self._data_addresses, self._data_index

    def __len__(self) -> int:
        return len(self.addresses)

    def lookup(self, address: int) -> Resolved | None:
        """The function containing `address`; else the data object containing it; None
        when it is in neither (klogd called such addresses module addresses)."""
        return (self._find(address, self._text_addresses, self._text_index)
                or self._find(address, self._data_addresses, self._data_index))

    def _find(self, address: int, starts: array, indexes: array) -> Resolved | None:
        position = bisect.bisect_right(starts, address) - 1
        if position < 0 or position + 1 >= len(starts):
            return None
        index = indexes[position]
        name = self.names[index]
        if name in END_MARKERS:
            return None
        start = starts[position]
        size = starts[position + 1] - start
        offset = address - start
        if offset >= size:
            return None
        module = self.modules[index] if self.modules else None
        return Resolved(name, offset, size, start, module)

    def addresses_of(self, name: str) -> list[int]:
        """Every text address named `name` (static functions can share a name)."""
        return [self.addresses[i] for i in self._indexes_of(name) if self.types[i] in TEXT_TYPES]

    def address_of(self, name: str) -> int | None:
        """Name ▶ address, text symbols preferred."""
        indexes = self._indexes_of(name)
        if not indexes:
            return None
        best = min(indexes, key=lambda i: _type_rank(self.types[i]))
        return self.addresses[best]

    def resolve_name(self, name: str, offset: int, size: int | None = None) -> int | None:
        """The address of `name+offset`; with several same-named functions, the one
        whose size matches `size` (as printed in the oops)."""
        candidates = self.addresses_of(name)
        if not candidates:
            return None
        if size is not None and len(candidates) > 1:
            for start in candidates:
                resolved = self.lookup(start)
                if resolved is not None and resolved.size == size:
                    return start + offset
        return candidates[0] + offset

    def size_of(self, start: int) -> int | None:
        resolved = self.lookup(start)
        return resolved.size if resolved is not None and resolved.address == start else None

    def _indexes_of(self, name: str) -> list[int]:
        if self._by_name is None:
            by_name: dict[str, list[int]] = {}
            for i, symbol in enumerate(self.names):
                by_name.setdefault(symbol, []).append(i)
            self._by_name = by_name
        return self._by_name.get(name, [])


# Symbols only one architecture's kernel has, in the order they are checked.
ARCH_MARKER_SYMBOLS = (
    ("x86_64", ("entry_SYSCALL_64", "startup_64")),
    ("i386", ("entry_INT80_32", "startup_32")),
    ("arm64", ("el0t_64_sync", "__primary_switch", "el0_sync")),
    ("riscv", ("handle_exception", "_start_kernel")),
    ("powerpc", ("system_call_common", "__start_initialization_multiplatform")),
    ("arm", ("vector_swi", "__vectors_start")),
)


def guess_table_arch(table: SymbolTable) -> str:
    """The architecture of the kernel a symbol table came from, or `unknown`."""
    for arch, markers in ARCH_MARKER_SYMBOLS:
        if any(table.address_of(name) is not None for name in markers):
            return arch
    return "unknown"


def _build_indexes(addresses: array, names: list[str], types: str) -> tuple[array, array, array, array]:
    """Code lookups go through text symbols: one per address, named as kallsyms names it
    among aliases. Data lookups (a crash site in data, as CONFIG_KALLSYMS_ALL kernels
    print it) go through every symbol that names something."""
    text_addresses, text_index = array("Q"), array("I")
    data_addresses, data_index = array("Q"), array("I")
    for i, (address, kind) in enumerate(zip(addresses, types, strict=True)):
        if kind in TEXT_TYPES:
            if text_addresses and text_addresses[-1] == address:
                if _alias_rank(names[i], kind) < _alias_rank(names[text_index[-1]], types[text_index[-1]]):
                    text_index[-1] = i
            else:
                text_addresses.append(address)
                text_index.append(i)
        if kind not in _IGNORED_TYPES and not (data_addresses and data_addresses[-1] == address):
            data_addresses.append(address)
            data_index.append(i)
    return text_addresses, text_index, data_addresses, data_index


def _alias_rank(name: str, kind: str) -> tuple[int, int, int]:
    """kallsyms' choice among symbols at one address: not weak, not a linker-script
    marker, fewest leading underscores."""
    linker_marker = name.startswith(("__start_", "__stop_", "__end_")) or name.endswith(("_start", "_end"))
    return (kind in "Ww", linker_marker, len(name) - len(name.lstrip("_")))


def _type_rank(kind: str) -> int:
    """Text first, then weak, then data, then absolute and the rest."""
    if kind in "Tt":
        return 0
    if kind in "Ww":
        return 1
    if kind in _IGNORED_TYPES:
        return 3
    return 2
