"""The dashboard serves report.json and console logs from the output directory only: a
path with `..`, an absolute path, or one that leads outside the directory through a
symbolic link is refused."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

# What a served file is sent as: never HTML, so a console's bytes cannot become a page.
MEDIA_TYPES = {".json": "application/json"}
DEFAULT_MEDIA_TYPE = "text/plain; charset=utf-8"


def servable(root: Path | None, relative: str) -> Path | None:
    """The file `relative` names under `root`; None when it is not there or not allowed."""
    if root is None or not relative or relative.startswith("/") or "\\" in relative:
        return None
    if any(part == ".." for part in PurePosixPath(relative).parts):
        return None
    base = root.resolve()
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base) or not candidate.is_file():
        return None
    return candidate


def link_path(root: Path | None, stored: str | None, name: str | None = None) -> str | None:
    """The path under `root` of a file the index names (a report directory and a file in
    it, or a console log), for a /files/ link; None when the file is not served here."""
    if root is None or not stored:
        return None
    path = Path(stored) / name if name else Path(stored)
    if not path.is_absolute():
        return None
    try:
        relative = path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return None
    text = relative.as_posix()
    return text if servable(root, text) is not None else None


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix, DEFAULT_MEDIA_TYPE)
