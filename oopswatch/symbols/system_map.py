"""System.map reader: the `nm` format (address, type letter, name, optional [module]).

A parsed map is cached as a compact index in the cache directory, keyed by the map's
path, size and modification time, so a large map loads in a few milliseconds the
second time.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from array import array
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.symbols.table import SymbolTable

_LINE_RE = re.compile(rb"^([0-9a-fA-F]{1,16}) ([A-Za-z?-]) (\S+)(?:\t?\s*\[(\S+)\])?\s*$", re.MULTILINE)
_NONBLANK_LINE_RE = re.compile(rb"^[^\n]*\S[^\n]*$", re.MULTILINE)
_PLACEHOLDER_RE = re.compile(rb"The real System\.map is in the (\S+) package")
_CACHE_VERSION = 2


class MapError(InputError):
    """A System.map that cannot be used: missing, empty, malformed, or a placeholder."""


def cache_dir() -> Path:
    base = os.environ.get("OOPSWATCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "oopswatch")
    return Path(base)


def derived_cache_file(path: Path, stat: os.stat_result, kind: str, version: str, suffix: str) -> Path:
    """Where something derived from the file at `path` is cached: keyed by the file's
    resolved path, size and mtime, so a rebuilt file gets a new entry."""
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{version}"
    return cache_dir() / kind / (hashlib.sha1(key.encode()).hexdigest() + suffix)


def load_system_map(path: str | os.PathLike[str], use_cache: bool = True) -> SymbolTable:
    """Read a System.map; raise `MapError` naming the file (and line) when it is unusable."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError as error:
        raise MapError(f"{path}: cannot read System.map: {error.strerror}") from error
    cache_file = derived_cache_file(path, stat, "maps", _CACHE_VERSION, ".idx") if use_cache else None
    if cache_file is not None:
        table = _read_cache(cache_file)
        if table is not None:
            return table
    try:
        data = path.read_bytes()
    except OSError as error:
        raise MapError(f"{path}: cannot read System.map: {error.strerror}") from error
    table = parse_system_map(data, str(path))
    if cache_file is not None:
        _write_cache(cache_file, table)
    return table


def parse_system_map(data: bytes, source: str) -> SymbolTable:
    placeholder = _PLACEHOLDER_RE.search(data[:4096])
    if placeholder is not None:
        package = placeholder.group(1).decode("latin-1")
        version = package.removeprefix("linux-image-").removesuffix("-dbg")
        raise MapError(f"{source}: this is Debian's placeholder, not a symbol map; the real System.map is in "
                       f"the {package} package (installed as /usr/lib/debug/boot/System.map-{version})")
    matches = _LINE_RE.findall(data)
    if len(matches) != len(_NONBLANK_LINE_RE.findall(data)):
        raise MapError(f"{source}: line {_first_bad_line(data)}: not a System.map line "
                       "(expected 'address type name', as nm prints it)")
    if not matches:
        raise MapError(f"{source}: the System.map holds no symbols")
    addresses = array("Q", [int(match[0], 16) for match in matches])
    names = [match[2].decode("utf-8", "replace") for match in matches]
    types = "".join(match[1].decode("ascii") for match in matches)
    modules = [match[3].decode("utf-8", "replace") or None for match in matches]
    return SymbolTable(addresses, names, types, modules if any(modules) else None)


def _first_bad_line(data: bytes) -> int:
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if raw.strip() and _LINE_RE.match(raw) is None:
            return number
    return 1


def _read_cache(cache_file: Path) -> SymbolTable | None:
    try:
        data = cache_file.read_bytes()
        header_length = int.from_bytes(data[:4], "little")
        header = json.loads(data[4:4 + header_length])
        offset = 4 + header_length
        count = header["count"]
        addresses = array("Q")
        addresses.frombytes(data[offset:offset + 8 * count])
        offset += 8 * count
        types = data[offset:offset + count].decode("ascii")
        offset += count
        names = data[offset:offset + header["names_length"]].decode("utf-8").split("\n")
        offset += header["names_length"]
        indexes = []
        for typecode, length in header["indexes"]:
            index = array(typecode)
            index.frombytes(data[offset:offset + length])
            offset += length
            indexes.append(index)
        modules = None
        if header["has_modules"]:
            modules = [module or None for module in data[offset:].decode("utf-8").split("\n")]
        if len(names) != count or len(types) != count:
            return None
        return SymbolTable(addresses, names, types, modules, indexes=tuple(indexes))
    except (OSError, ValueError, KeyError):
        return None


def _write_cache(cache_file: Path, table: SymbolTable) -> None:
    names = "\n".join(table.names).encode("utf-8")
    modules = "\n".join(module or "" for module in table.modules).encode("utf-8") if table.modules else b""
    indexes = table.indexes()
    header = json.dumps({"count": len(table), "names_length": len(names), "has_modules": table.modules is not None,
                         "indexes": [[index.typecode, len(index) * index.itemsize] for index in indexes]}).encode()
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = cache_file.with_suffix(f".tmp{os.getpid()}")
        temporary.write_bytes(len(header).to_bytes(4, "little") + header + table.addresses.tobytes()
                              + table.types.encode("ascii") + names + b"".join(index.tobytes() for index in indexes)
                              + modules)
        temporary.replace(cache_file)
    except OSError:
        pass  # a read-only cache only costs time
