"""A kernel symbol table: address ▶ `symbol+off/size` and name ▶ address.

Built from System.map, from vmlinux's ELF symbol table, or from a module's `.ko`.
A function's size runs to the next text symbol, as kallsyms computes it, so a decoded
address reads exactly as the kernel itself would have printed it.

Only code is named as a function. Where the map marks the kernel's text
(`_stext`..`_etext`, `_sinittext`..`_einittext`, `__exittext_begin`..`__exittext_end`,
the ranges kallsyms itself treats as text), an address outside them is not code,
whatever text symbol precedes it (arm64's `_etext` is a data symbol, its page tables
are text symbols in the middle of read-only data). Without those markers (a module, a
partial map) the type letters decide: an address whose nearest symbol is data is data.

Nothing is indexed when the table is built (a 200,000-symbol map is only split into
its columns): a lookup bisects the sorted addresses and walks to the nearest text
symbol, which inside the kernel's text is the next one. Names are kept as bytes and
decoded when looked at; the index by name is built at the first name lookup.
"""

from __future__ import annotations

import bisect
import operator
import threading
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, islice
from typing import overload

from oopswatch.regex_cache import compile_regex

# A kernel function as a log names it: `func+0xoff/0xsize`, not a module's (` [module]`).
NAMED_ADDRESS_RE = compile_regex(r"(?P<function>[A-Za-z_.$][A-Za-z0-9_.$]*)\+0x(?P<offset>[0-9a-f]+)"
                                 r"/0x(?P<size>[0-9a-f]+)\b(?! \[)")
TEXT_TYPES = frozenset("TtWw")
# nm's letters of data: initialised, bss, read-only, weak objects, small data, common.
DATA_TYPES = frozenset("DdBbRrVvGgSsC")
# Symbols that mark the end of a region, not code; an address past them is not in a function.
END_MARKERS = frozenset({"_etext", "_einittext", "__init_end", "_end", "__irqentry_text_end",
                         "__softirqentry_text_end", "__entry_text_end", "_sinittext_end", "__exittext_end"})
# Types that never name code: undefined, debugging, absolute.
_IGNORED_TYPES = frozenset("UNnAa?-")
# The kernel's text, as kallsyms sees it: (names that may start it, the name that ends it).
TEXT_REGIONS = ((("_text", "_stext"), "_etext"), (("_sinittext",), "_einittext"),
                (("__exittext_begin",), "__exittext_end"))
MARKER_NAMES = frozenset(name for starts, end in TEXT_REGIONS for name in (*starts, end)) | {"_end"}
_MARKER_BYTES = frozenset(name.encode() for name in MARKER_NAMES)


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


@dataclass(frozen=True)
class Placement:
    """Where an address lies: in a function (`text`), in the kernel's data (`data`, with
    the data object around it when the map names one), or in neither (`outside`: a
    module, vmalloc, user space, or an address the map does not cover)."""

    kind: str
    symbol: Resolved | None = None


class Names(Sequence[str]):
    """Symbol names kept as the bytes they were read as, each decoded when looked at:
    a 200,000-symbol map needs a handful of its names, not all of them as strings."""

    __slots__ = ("raw",)

    def __init__(self, raw: list[bytes]):
        self.raw = raw

    def __len__(self) -> int:
        return len(self.raw)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [name.decode("utf-8", "replace") for name in self.raw[index]]
        return self.raw[index].decode("utf-8", "replace")

    def __iter__(self) -> Iterator[str]:
        return (name.decode("utf-8", "replace") for name in self.raw)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Names):
            return self.raw == other.raw
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class SymbolTable:
    """Symbols sorted by address, with every name findable.

    `addresses`, `names`, `types` (nm's letters) and `modules` are parallel. Lookups
    only read; what is found lazily (the index by name, the region markers) is found
    under a lock, so a table may be shared by threads.
    """

    def __init__(self, addresses: array, names: Sequence[str] | Names, types: str,
                 modules: list[str | None] | None = None, in_order: bool = False):
        """`in_order`: the caller knows the addresses are sorted (a parser that sorted them)."""
        raw = names.raw if isinstance(names, Names) else [name.encode("utf-8") for name in names]
        if not in_order and not _is_sorted(addresses):
            order = sorted(range(len(addresses)), key=addresses.__getitem__)
            pick = operator.itemgetter(*order) if len(order) > 1 else (lambda values: tuple(values))
            addresses = array("Q", pick(addresses))
            raw = list(pick(raw))
            types = "".join(pick(types))
            modules = list(pick(modules)) if modules else None
        self.addresses = addresses
        self.names = Names(raw)
        self.types = types
        self.modules = modules
        self._lock = threading.Lock()
        self._regions: list[tuple[int, int]] | None = None
        self._image: tuple[int, int] | None = None
        self._by_name: dict[bytes, int] | None = None  # name ▶ its only (or last) index
        self._same_names: dict[bytes, list[int]] = {}  # name ▶ every index, for names several symbols share

    def __len__(self) -> int:
        return len(self.addresses)

    # -- address ▶ symbol ---------------------------------------------------------------

    def lookup(self, address: int) -> Resolved | None:
        """The function containing `address`, or None when it is not in code."""
        placement = self.place(address)
        return placement.symbol if placement.kind == "text" else None

    def place(self, address: int) -> Placement:
        """Is `address` in a function, in the kernel's data, or in neither?"""
        function = self._find_text(address)
        nearest = self._nearest_symbol(address)
        data_by_letter = nearest is not None and self.types[nearest] in DATA_TYPES
        if function is not None and not (data_by_letter and self.addresses[nearest] > function.address):
            return Placement("text", function)
        image = self.image
        if (image[0] <= address < image[1]) if image is not None else data_by_letter:
            return Placement("data", self._data_object(address))
        return Placement("outside")

    def _find_text(self, address: int) -> Resolved | None:
        """The text symbol around `address`: the nearest text symbol at or before it
        (kallsyms' choice among aliases), sized to the next one or to the end of its region."""
        low, high = 0, len(self.addresses)
        regions = self.regions
        if regions:
            region = bisect.bisect_right(regions, (address, 2**64)) - 1
            if region < 0 or address >= regions[region][1]:
                return None
            low = bisect.bisect_left(self.addresses, regions[region][0])
            high = bisect.bisect_left(self.addresses, regions[region][1])
        addresses, types = self.addresses, self.types
        position = bisect.bisect_right(addresses, address, low, high) - 1
        while position >= low and types[position] not in TEXT_TYPES:
            position -= 1
        if position < low:
            return None
        start = addresses[position]
        first = position
        while first > low and addresses[first - 1] == start:
            first -= 1
        aliases = [index for index in range(first, position + 1) if types[index] in TEXT_TYPES]
        index = min(aliases, key=lambda i: _alias_rank(self.names[i], types[i]))
        name = self.names[index]
        if name in END_MARKERS:
            return None
        following = position + 1
        while following < high and (addresses[following] == start or types[following] not in TEXT_TYPES):
            following += 1
        if following < high:
            end = addresses[following]
        elif regions:
            end = regions[region][1]
        else:
            return None  # the last symbol of a table without regions: its size is unknown
        if address - start >= end - start:
            return None
        module = self.modules[index] if self.modules else None
        return Resolved(name, address - start, end - start, start, module)

    def _nearest_symbol(self, address: int) -> int | None:
        """The index of the symbol that names what lies at `address`: the last named
        (not absolute, not undefined) symbol at or before it, the first of those at
        its address."""
        position = bisect.bisect_right(self.addresses, address) - 1
        types, addresses = self.types, self.addresses
        while position >= 0 and types[position] in _IGNORED_TYPES:
            position -= 1
        if position < 0:
            return None
        start = addresses[position]
        while position > 0 and addresses[position - 1] == start and types[position - 1] not in _IGNORED_TYPES:
            position -= 1
        return position

    def _data_object(self, address: int) -> Resolved | None:
        """The data object around `address`, as kallsyms with CONFIG_KALLSYMS_ALL names it;
        None when the nearest symbol is a marker (an end of a section), not an object."""
        index = self._nearest_symbol(address)
        if index is None:
            return None
        name = self.names[index]
        if name in END_MARKERS or _is_linker_marker(name):
            return None
        start = self.addresses[index]
        following = index + 1
        while following < len(self.addresses) and (self.addresses[following] == start
                                                   or self.types[following] in _IGNORED_TYPES):
            following += 1
        if following >= len(self.addresses):
            return None
        module = self.modules[index] if self.modules else None
        return Resolved(name, address - start, self.addresses[following] - start, start, module)

    @property
    def regions(self) -> list[tuple[int, int]]:
        """The kernel's text as [start, end) ranges (empty: the map does not mark them)."""
        if self._regions is None:
            self._find_markers()
        assert self._regions is not None
        return self._regions

    @property
    def image(self) -> tuple[int, int] | None:
        """[start, end) of the kernel image, when the map marks it."""
        if self._regions is None:
            self._find_markers()
        return self._image

    def _find_markers(self) -> None:
        with self._lock:
            if self._regions is None:
                markers = marker_addresses(self.addresses, self.names.raw)
                self._image = image_range(markers)
                self._regions = text_regions(markers)

    # -- name ▶ address -----------------------------------------------------------------

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
                resolved = self._find_text(start)
                if resolved is not None and resolved.size == size:
                    return start + offset
        return candidates[0] + offset

    def named_addresses(self, text: str, limit: int = 64) -> list[int]:
        """The addresses of the first `limit` kernel functions `text` names as
        `func+0xoff/0xsize` (those this table knows), in the order named."""
        addresses: dict[int, None] = {}
        for match in NAMED_ADDRESS_RE.finditer(text):
            start = self.resolve_name(match["function"], 0, int(match["size"], 16))
            if start is not None:
                addresses[start + int(match["offset"], 16)] = None
                if len(addresses) == limit:
                    break
        return list(addresses)

    def size_of(self, start: int) -> int | None:
        resolved = self._find_text(start)
        return resolved.size if resolved is not None and resolved.address == start else None

    def _indexes_of(self, name: str) -> list[int]:
        by_name = self._by_name
        if by_name is None:
            with self._lock:
                by_name = self._by_name
                if by_name is None:
                    by_name = self._index_names()
        key = name.encode("utf-8")
        index = by_name.get(key)
        if index is None:
            return []
        return self._same_names.get(key) or [index]

    def _index_names(self) -> dict[bytes, int]:
        """Name ▶ index for every symbol, in C-level passes: the dict keeps each name's
        last index, and the symbols whose index it did not keep are the earlier ones of
        a shared name (static functions); only those are listed in Python."""
        names = self.names.raw
        by_name = dict(zip(names, range(len(names)), strict=True))
        if len(by_name) < len(names):
            kept = map(by_name.__getitem__, names)
            for position in compress(range(len(names)), map(operator.ne, kept, range(len(names)))):
                name = names[position]
                self._same_names.setdefault(name, []).append(position)
            for name, positions in self._same_names.items():
                positions.append(by_name[name])
        self._by_name = by_name
        return by_name


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


def marker_addresses(addresses: array, names: list[bytes]) -> dict[str, int]:
    """The address of each region marker the map has (the first of each name), found
    in one C-level pass over the names."""
    found: dict[str, int] = {}
    for position in compress(range(len(names)), map(_MARKER_BYTES.__contains__, names)):
        found.setdefault(names[position].decode(), addresses[position])
    return found


def text_regions(markers: dict[str, int]) -> list[tuple[int, int]]:
    """The kernel's text as [start, end) ranges, merged; empty when the map does not
    say where its text ends (a module, a partial map)."""
    regions = []
    for start_names, end_name in TEXT_REGIONS:
        end = markers.get(end_name)
        starts = [markers[name] for name in start_names if name in markers]
        if end is not None and starts and min(starts) < end:
            regions.append((min(starts), end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(regions):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def image_range(markers: dict[str, int]) -> tuple[int, int] | None:
    """[start of the kernel image, `_end`), when the map marks both."""
    regions = text_regions(markers)
    end = markers.get("_end")
    if not regions or end is None:
        return None
    return regions[0][0], end


def _is_sorted(addresses: array) -> bool:
    return all(map(operator.le, addresses, islice(addresses, 1, None)))


def _is_linker_marker(name: str) -> bool:
    return name.startswith(("__start_", "__stop_", "__end_")) or name.endswith(("_start", "_end"))


def _alias_rank(name: str, kind: str) -> tuple[int, int, int]:
    """kallsyms' choice among symbols at one address: not weak, not a linker-script
    marker, fewest leading underscores."""
    return (kind in "Ww", _is_linker_marker(name), len(name) - len(name.lstrip("_")))


def _type_rank(kind: str) -> int:
    """Text first, then weak, then data, then absolute and the rest."""
    if kind in "Tt":
        return 0
    if kind in "Ww":
        return 1
    if kind in _IGNORED_TYPES:
        return 3
    return 2
