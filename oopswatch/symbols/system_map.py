"""System.map reader: the `nm` format (address, type letter, name, optional [module]).

A parsed map is cached in a compact binary form in the cache directory, keyed by the
map's path, inode, size and modification time, so a large map loads in a few
milliseconds the second time. The common map (`nm -n` output) is parsed in a few C-level
passes over the whole file, never a regex match or Python object per line beyond its
tokens; anything unusual goes through the line-by-line parser, which names a bad line.
"""

from __future__ import annotations

import json
import operator
import os
import re
import sys
import zlib
from array import array
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.regex_cache import compile_regex
from oopswatch.symbols.table import Names, SymbolTable
from oopswatch.user_cache import cache_dir

_LINE_RE = compile_regex(rb"^([0-9a-fA-F]{1,16}) ([A-Za-z?-]) (\S+)(?:\t?\s*\[(\S+)\])?\s*$", re.MULTILINE)
_NONBLANK_LINE_RE = compile_regex(rb"^[^\n]*\S[^\n]*$", re.MULTILINE)
_PLACEHOLDER_RE = compile_regex(rb"The real System\.map is in the (\S+) package")
_CACHE_VERSION = 3


class MapError(InputError):
    """A System.map that cannot be used: missing, empty, malformed, or a placeholder."""


@dataclass(frozen=True)
class CacheEntry:
    """Where something derived from a file is cached, and the key the entry must hold:
    the file's resolved path, inode, size and mtime, so a rebuilt or replaced file gets a
    new entry. The name is a checksum of the key (zlib's: hashlib's OpenSSL costs a
    short command more than the lookup), so the entry says whose it is."""

    file: Path
    key: str


def derived_cache_file(path: Path, stat: os.stat_result, kind: str, version: str, suffix: str) -> CacheEntry:
    key = f"{path.resolve()}|{stat.st_ino}|{stat.st_size}|{stat.st_mtime_ns}|{version}"
    raw = key.encode()
    name = f"{zlib.crc32(raw):08x}{zlib.adler32(raw):08x}{len(raw):04x}"
    return CacheEntry(cache_dir() / kind / (name + suffix), key)


def load_system_map(path: str | os.PathLike[str], use_cache: bool = True) -> SymbolTable:
    """Read a System.map; raise `MapError` naming the file (and line) when it is unusable."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise MapError(f"{path}: cannot read System.map: {error.strerror}") from error
    cache = derived_cache_file(path, stat, "maps", str(_CACHE_VERSION), ".idx") if use_cache else None
    if cache is not None:
        last = _last_loaded
        if last is not None and last[0] == cache.key:
            return last[1]
        table = _read_cache(cache)
        if table is not None:
            _remember_last(cache.key, table)
            return table
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MapError(f"{path}: cannot read System.map: {error.strerror}") from error
    table = parse_system_map(data, str(path))
    if cache is not None:
        _write_cache(cache, table)
        _remember_last(cache.key, table)
    return table


# The last map loaded, by its cache key: a short command that looks at a map early (a
# head start for addr2line) and again when it loads the build gets the same table, its
# name index included. One only, so a rack's builds are not kept alive here.
_last_loaded: tuple[str, SymbolTable] | None = None


def _remember_last(key: str, table: SymbolTable) -> None:
    global _last_loaded
    _last_loaded = (key, table)


def forget_last_loaded() -> None:
    """The next load reads the cache file again (benchmarks of the cache itself)."""
    global _last_loaded
    _last_loaded = None


def parse_system_map(data: bytes, source: str) -> SymbolTable:
    placeholder = _PLACEHOLDER_RE.search(data[:4096])
    if placeholder is not None:
        package = placeholder.group(1).decode("latin-1")
        version = package.removeprefix("linux-image-").removesuffix("-dbg")
        raise MapError(f"{source}: this is Debian's placeholder, not a symbol map; the real System.map is in "
                       f"the {package} package (installed as /usr/lib/debug/boot/System.map-{version})")
    table = _parse_plain(data)
    if table is not None:
        return table
    matches = _LINE_RE.findall(data)
    if len(matches) != len(_NONBLANK_LINE_RE.findall(data)):
        raise MapError(f"{source}: line {_first_bad_line(data)}: not a System.map line "
                       "(expected 'address type name', as nm prints it)")
    if not matches:
        raise MapError(f"{source}: the System.map holds no symbols")
    addresses = array("Q", [int(match[0], 16) for match in matches])
    names = Names([match[2] for match in matches])
    types = "".join(match[1].decode("ascii") for match in matches)
    modules = [match[3].decode("utf-8", "replace") or None for match in matches]
    return SymbolTable(addresses, names, types, modules if any(modules) else None)


_TYPE_LETTERS = b"ABCDGINRSTUVWabcdginrstuvw?-"


def _parse_plain(data: bytes) -> SymbolTable | None:
    """The common map, as `nm -n` writes it: every line `address type name`, one space
    apart, addresses of one width. Parsed without a Python object per line beyond its
    tokens (one split, one hex decode of all addresses); None for anything else (module
    tags, tabs, CRs, blank or bad lines), which the line-by-line parser handles and
    reports."""
    if not data.endswith(b"\n") or b"\t" in data or b"\r" in data:
        return None
    # Each line becomes exactly four parts (address, type, name, newline) only if it
    # holds three tokens one space apart: a blank line, a stray space or a missing or
    # extra field shifts every later newline off its place.
    parts = data.replace(b"\n", b" \n ").split(b" ")
    count = len(parts) // 4
    if count == 0 or len(parts) != 4 * count + 1 or parts[3::4].count(b"\n") != count:
        return None
    del parts[-1]  # the empty part after the last newline
    hex_addresses = parts[0::4]
    type_letters = parts[1::4]
    names = parts[2::4]
    width = len(hex_addresses[0])
    if width not in (8, 16):
        return None
    # Fixed-width hex sorts as its numbers do: a map out of order is put in order here,
    # moving references, not numbers.
    if not all(map(operator.le, hex_addresses, islice(hex_addresses, 1, None))):
        order = sorted(range(count), key=hex_addresses.__getitem__)
        pick = operator.itemgetter(*order) if count > 1 else (lambda values: tuple(values))
        hex_addresses, type_letters, names = list(pick(hex_addresses)), list(pick(type_letters)), list(pick(names))
    # Every address `width` lowercase hex digits (as nm prints them, and as they sort):
    # then the separators fall exactly every width+1 bytes.
    spaced = b" ".join(hex_addresses)
    if len(spaced) != (width + 1) * count - 1 or spaced[width::width + 1] != b" " * (count - 1) or \
            spaced.translate(None, b"0123456789abcdef "):
        return None
    letters = b"".join(type_letters)
    if len(letters) != count or letters.translate(None, _TYPE_LETTERS) or b"" in names:
        return None
    raw = bytes.fromhex(spaced.decode("ascii"))  # fromhex skips the spaces between whole bytes
    addresses = array("Q")
    if width == 16:
        addresses.frombytes(raw)
        if sys.byteorder == "little":
            addresses.byteswap()  # the hex digits are big-endian
    else:
        narrow = array("I")
        narrow.frombytes(raw)
        if sys.byteorder == "little":
            narrow.byteswap()
        addresses = array("Q", narrow)
    return SymbolTable(addresses, Names(names), letters.decode("ascii"), in_order=True)


def _first_bad_line(data: bytes) -> int:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip() and _LINE_RE.match(raw) is None:
            return number
    return 1


def _read_cache(cache: CacheEntry) -> SymbolTable | None:
    try:
        data = cache.file.read_bytes()
        header_length = int.from_bytes(data[:4], "little")
        header = json.loads(data[4:4 + header_length])
        if header["key"] != cache.key:
            return None
        offset = 4 + header_length
        count = header["count"]
        addresses = array("Q")
        addresses.frombytes(data[offset:offset + 8 * count])
        offset += 8 * count
        types = data[offset:offset + count].decode("ascii")
        offset += count
        names = Names(data[offset:offset + header["names_length"]].split(b"\n"))
        offset += header["names_length"]
        modules = None
        if header["has_modules"]:
            modules = [module or None for module in data[offset:].decode("utf-8").split("\n")]
        if len(names) != count or len(types) != count:
            return None
        return SymbolTable(addresses, names, types, modules, in_order=True)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_cache(cache: CacheEntry, table: SymbolTable) -> None:
    names = b"\n".join(table.names.raw)
    modules = "\n".join(module or "" for module in table.modules).encode("utf-8") if table.modules else b""
    header = json.dumps({"key": cache.key, "count": len(table), "names_length": len(names),
                         "has_modules": table.modules is not None}).encode()
    try:
        cache.file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache.file.with_suffix(f".tmp{os.getpid()}")
        temporary.write_bytes(len(header).to_bytes(4, "little") + header + table.addresses.tobytes()
                              + table.types.encode("ascii") + names + modules)
        temporary.replace(cache.file)
    except OSError:
        pass  # a read-only cache only costs time
