"""The builds loaded in this process, shared by every board that decodes with them.

A lab's builds change under a long-running watcher: CI drops a new vmlinux in place, a
symlink is pointed at another build, a broken build is fixed. So a loaded build is
known by its paths *and* the identity of its files (device, inode, size, mtime): a
changed file is loaded again (and the old version closed), and a build that failed to
load is tried again once its files change.

Loading a vmlinux starts an addr2line process; a rack's boards that share a build must
share that process, so two threads asking for one build at once load it once (the
second waits for the first). The number of builds kept is bounded: the least
recently used is closed (its addr2line stopped) once nobody is decoding with it.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from oopswatch.errors import InputError
from oopswatch.symbols.kernel import KernelSymbols, file_identity, load_kernel_symbols

DEFAULT_CAPACITY = 8  # builds kept loaded; each may hold an addr2line process and a large table

# The keyword arguments of load_kernel_symbols that name files, and the files beside
# them whose change changes the build (its banner).
_FILE_ARGUMENTS = ("system_map", "vmlinux", "modules_dir")


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)  # held while loading
    loaded: KernelSymbols | InputError | None = None
    users: int = 0  # decodes using it now
    evicted: bool = False


class LoadedBuilds:
    """A bounded, thread-safe cache of loaded builds."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self._entries: OrderedDict[tuple, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @contextmanager
    def use(self, load: dict, name: str | None = None) -> Iterator[KernelSymbols]:
        """The build for `load` (keyword arguments of `load_kernel_symbols`), loaded once
        per version of its files; raises `InputError` when it cannot be loaded. It is
        not closed while the caller holds it."""
        entry = self._acquire(load)
        try:
            with entry.lock:  # one thread loads; the others wait for its result
                if entry.loaded is None:
                    try:
                        entry.loaded = load_kernel_symbols(**load, name=name)
                    except InputError as error:
                        entry.loaded = error
            loaded = entry.loaded
            if isinstance(loaded, InputError):
                raise loaded.with_traceback(None)  # the one error of this version of the files, again
            yield loaded
        finally:
            self._release(entry)

    def _acquire(self, load: dict) -> _Entry:
        paths = tuple(sorted(load.items()))
        key = (paths, tuple(file_identity(load.get(argument)) for argument in _FILE_ARGUMENTS),
               file_identity(_banner_file(load)))
        closing: list[_Entry] = []
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                # Another version of the same files is stale now.
                closing += [self._entries.pop(other) for other in list(self._entries) if other[0] == paths
                            and other != key]
                while len(self._entries) > self.capacity:
                    closing.append(self._entries.popitem(last=False)[1])
            self._entries.move_to_end(key)
            entry.users += 1
            for old in closing:
                old.evicted = True
            closing = [old for old in closing if old.users == 0]
        for old in closing:
            _close(old)
        return entry

    def _release(self, entry: _Entry) -> None:
        with self._lock:
            entry.users -= 1
            close = entry.evicted and entry.users == 0
        if close:
            _close(entry)

    def loaded(self) -> list[KernelSymbols]:
        """The builds loaded now (for tests and status)."""
        with self._lock:
            return [entry.loaded for entry in self._entries.values() if isinstance(entry.loaded, KernelSymbols)]

    def close(self) -> None:
        """Close every build (their addr2line processes stop); the cache is empty after."""
        with self._lock:
            entries = list(self._entries.values())
            self._entries.clear()
            for entry in entries:
                entry.evicted = True
            idle = [entry for entry in entries if entry.users == 0]
        for entry in idle:
            _close(entry)


def _close(entry: _Entry) -> None:
    with entry.lock:
        if isinstance(entry.loaded, KernelSymbols):
            entry.loaded.close()


def _banner_file(load: dict) -> str | None:
    system_map = load.get("system_map")
    return os.path.join(os.path.dirname(system_map), "banner") if system_map else None


# The one cache of the process: boards of a rack, files of a scan and boots of a watcher share it.
LOADED = LoadedBuilds()
