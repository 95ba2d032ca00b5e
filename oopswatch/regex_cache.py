"""Compiled regular expressions kept between runs.

Python's `re` compiles every pattern from its text in every new process: the detector's
tables and frame patterns are some 160 of them, about 35 ms of each short command
(`oopswatch scan` on one oops spends more time compiling patterns than decoding). What
the compiler produces, the program `_sre` runs, depends only on the pattern, its flags and
the interpreter, so it is kept in a file in the cache directory, keyed by the exact
Python version and the regex engine's magic number, and handed back to `_sre.compile` as
`re`'s own compiler does. The result is the same `re.Pattern` (patterns compare equal,
code and all: tests/test_regex_cache.py checks every one). Anything unexpected (another
interpreter, an unreadable or damaged file, a read-only cache) falls back to
`re.compile`; the cache only ever saves time.

`_compile_program` and the call of `_sre.compile` follow CPython's Lib/re/_compiler.py
(`compile`), Python Software Foundation License Version 2 (see NOTICE).
"""

from __future__ import annotations

import atexit
import contextlib
import marshal
import os
import re
import sys
import threading
from pathlib import Path

from oopswatch.user_cache import cache_dir

try:  # CPython's regex engine, as `re` itself drives it (3.11 and later)
    import _sre
    from re import _compiler, _parser
    _ENGINE = f"{sys.implementation.cache_tag} {sys.version} sre {_sre.MAGIC} {_sre.CODESIZE}"
except (ImportError, AttributeError):  # another interpreter: plain re.compile
    _ENGINE = ""

_FORMAT = 1
_MAX_ENTRIES = 4096  # bounded: a pattern built from data (a board's title regex) must not grow it forever

_lock = threading.Lock()
_programs: dict[tuple[str | bytes, int], tuple] | None = None
_compiled: dict[tuple[str | bytes, int], re.Pattern] = {}  # this process's, as re keeps its own
_path: Path | None = None
_added = 0


def compile_regex(pattern: str | bytes, flags: int | re.RegexFlag = 0) -> re.Pattern:
    """`re.compile(pattern, flags)`, from the program compiled by an earlier run when
    there is one."""
    flags = int(flags)
    key = (pattern, flags)
    compiled = _compiled.get(key)
    if compiled is None:
        compiled = _compiled[key] = _compile(pattern, flags)
    return compiled


def _compile(pattern: str | bytes, flags: int) -> re.Pattern:
    if not _ENGINE or flags & re.DEBUG:
        return re.compile(pattern, flags)
    programs = _programs if _programs is not None else _load()
    program = programs.get((pattern, flags))
    if program is not None:
        try:
            return _sre.compile(pattern, *program)
        except (TypeError, ValueError, RuntimeError):  # a damaged entry
            pass
    try:
        program = _compile_program(pattern, flags)
    except Exception:  # a bad pattern (re raises the same error), or re's internals changed
        return re.compile(pattern, flags)
    _remember(pattern, flags, program)
    return _sre.compile(pattern, *program)


def _compile_program(pattern: str | bytes, flags: int) -> tuple:
    """What re._compiler.compile hands to _sre.compile, besides the pattern."""
    parsed = _parser.parse(pattern, flags)
    code = [int(word) for word in _compiler._code(parsed, flags)]  # plain ints: re's are named constants
    groupindex = dict(parsed.state.groupdict)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in groupindex.items():
        indexgroup[index] = name
    return (flags | parsed.state.flags, code, parsed.state.groups - 1, groupindex, tuple(indexgroup))


def _load() -> dict:
    global _programs, _path
    with _lock:
        if _programs is not None:
            return _programs
        _path = cache_dir() / "regex" / f"programs-{_FORMAT}.marshal"
        programs: dict = {}
        try:
            with open(_path, "rb") as handle:
                stored = marshal.loads(handle.read())  # one read: load() reads object by object
            if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == _ENGINE and isinstance(stored[1], dict):
                programs = stored[1]
        except (OSError, EOFError, ValueError, TypeError):
            pass  # no cache yet, or a damaged one: it is rewritten at exit
        _programs = programs
        return programs


def _remember(pattern: str | bytes, flags: int, program: tuple) -> None:
    global _added
    with _lock:
        assert _programs is not None
        if len(_programs) >= _MAX_ENTRIES:
            return
        _programs[(pattern, flags)] = program
        if _added == 0:
            atexit.register(save)
        _added += 1


def save() -> None:
    """Write the programs compiled by this process for the next one (at exit; atomic, so
    processes running side by side never read half a file)."""
    global _added
    with _lock:
        if not _added or _programs is None or _path is None:
            return
        temporary = _path.with_name(f".{_path.name}.{os.getpid()}.{threading.get_ident()}")
        try:
            _path.parent.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(marshal.dumps((_ENGINE, _programs)))
            os.replace(temporary, _path)
            _added = 0
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                temporary.unlink()
