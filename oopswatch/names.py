"""Names that become paths: a board's name is a folder under --output, so it must be a
name and nothing else: no `/`, no `..`, not a file oopswatch keeps there itself.

Every path oopswatch makes from a name is also checked to stay under its output
directory (`inside`), so a name that slips past one check still cannot write elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.regex_cache import compile_regex

_NAME_RE = compile_regex(r"[A-Za-z0-9_.-]+")
MAX_NAME = 100
# Files and folders oopswatch keeps beside the boards' folders in an output directory.
RESERVED = frozenset({"reports.sqlite", ".oopswatch.lock"})


def name_problem(name: object) -> str | None:
    """Why `name` cannot name a board's folder, or None when it can."""
    if not isinstance(name, str) or not name:
        return "a name must be a non-empty string"
    if len(name) > MAX_NAME:
        return f"a name is at most {MAX_NAME} characters"
    if not _NAME_RE.fullmatch(name):
        bad = sorted({character for character in name if not _NAME_RE.fullmatch(character)})
        return f"only letters, digits and '-', '_', '.' may be used (not {' '.join(map(repr, bad))})"
    if name in (".", ".."):
        return "'.' and '..' are not names"
    if name.startswith("."):
        return "a name may not start with '.' (hidden files hold oopswatch's own state)"
    if name in RESERVED or name.startswith("reports.sqlite"):  # and its -wal, -shm, .corrupt-* files
        return f"'{name}' is a file oopswatch keeps in the output directory"
    return None


def check_name(name: object, where: str) -> str:
    """`name`, or an InputError naming `where` (the file and key, or the option) and why."""
    problem = name_problem(name)
    if problem is not None:
        raise InputError(f"{where}: {name!r} cannot be a board name: {problem}")
    assert isinstance(name, str)
    return name


def safe_name(text: str) -> str:
    """A name made from anything (a port path, a title): the characters a name may hold,
    the others replaced by '-'."""
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:MAX_NAME] or "console"
    return name if name_problem(name) is None else f"board-{name}"


def inside(base: str | os.PathLike[str], path: str | os.PathLike[str]) -> Path:
    """`path`, after making sure it lies under `base` (symbolic links resolved); an
    InputError otherwise. Guards every folder made from a name."""
    root = Path(os.path.realpath(base))
    target = Path(os.path.realpath(path))
    if target != root and root not in target.parents:
        raise InputError(f"{path}: outside the output directory {base}; not writing there")
    return Path(path)
