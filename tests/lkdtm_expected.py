"""What a kernel developer (or syzkaller's rules) calls each LKDTM crash of the test
kernels: the report's kind, its exact title and the function it blames, per
architecture. The one table of it is tests/logs/EXPECTED.tsv (a row per architecture
and crash type, with the reason where an architecture's report differs); this module
reads it for the end-to-end tests, the test-log checks and the capture script.

Both variants of a test kernel share the architecture's row: the kernel without
KALLSYMS, decoded through its System.map, gives the same title as the one with it
(test_decode_e2e checks that); undecoded, its report names no function
(`undecoded_title`).

A crash type that cannot work on an architecture (the kernel survives it and says so)
has `message`: the kernel's own line the test asserts instead of a report.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

TABLE = Path(__file__).resolve().parent / "logs" / "EXPECTED.tsv"
COLUMNS = ("arch", "crash", "kind", "expected title", "crash site", "kernel says", "survives", "why")


@dataclass(frozen=True)
class Expected:
    kind: str
    title: str
    site: str | None  # the function the report blames: a frame of the report; None: it prints no stack
    message: str | None = None  # the kernel's own words when the crash type cannot work here
    survives: bool = True  # with `message`: the kernel carries on (no report follows)
    why: str = ""  # why the architecture's report says so, where it differs


def _cell(value: str) -> str | None:
    return None if value == "-" else value


@functools.cache
def _table() -> dict[tuple[str, str], Expected]:
    header, *rows = [line.split("\t") for line in TABLE.read_text().splitlines() if line.strip()]
    if tuple(header) != COLUMNS:
        raise ValueError(f"{TABLE}: columns {header}, expected {list(COLUMNS)}")
    table = {}
    for number, row in enumerate(rows, start=2):
        if len(row) != len(COLUMNS):
            raise ValueError(f"{TABLE}:{number}: {len(row)} columns, expected {len(COLUMNS)}")
        arch, crash, kind, title, site, message, survives, why = (_cell(value) for value in row)
        table[(arch, crash)] = Expected(kind or "", title or "", site, message, survives != "no", why or "")
    return table


def expected(arch: str, variant: str, crash: str) -> Expected:
    """The expectation for a test kernel (`arch` as build-test-kernels.sh names it);
    `variant` does not change it (see the module's docstring)."""
    return _table()[(arch, crash)]


_BLAMED_FUNCTION_RE = re.compile(r" in [A-Za-z0-9_.:<>]+$")


def undecoded_title(title: str) -> str:
    """The title of a report whose addresses are not named yet (a kernel without
    KALLSYMS, scanned without its System.map): the same without ` in <function>`."""
    return _BLAMED_FUNCTION_RE.sub("", title)
