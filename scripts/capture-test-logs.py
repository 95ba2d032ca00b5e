#!/usr/bin/env python3
"""Boot test kernels with every LKDTM crash type and keep the console logs as the
detector's test logs: tests/logs/<arch>-<variant>/<CRASH>.log (the raw console.log as
`oopswatch qemu` wrote it), and tests/logs/EXPECTED.tsv (what a kernel developer calls
each report, and what oopswatch calls it today).

Usage: scripts/capture-test-logs.py [ARCH-VARIANT ...]   (default: every test kernel)
       scripts/capture-test-logs.py --expected-only   (rewrite EXPECTED.tsv's expected
                                                        columns from tests/lkdtm_expected.py)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kernels import BUILDS, CRASH_TYPES, boot
from tests.lkdtm_expected import expected

LOGS = Path(__file__).resolve().parents[1] / "tests" / "logs"
COLUMNS = ("build", "crash", "kind", "expected title", "crash site", "title today", "kind today")


def main(argv: list[str]) -> int:
    if argv == ["--expected-only"]:
        rows = {key: (*_expected_columns(*key[0].split("-", 1), key[1]), *today[3:])
                for key, today in _read_rows().items()}
        _write_rows(rows)
        return 0
    wanted = [tuple(name.split("-", 1)) for name in argv] or list(BUILDS)
    unknown = [name for name in wanted if name not in BUILDS]
    if unknown:
        print(f"unknown test kernel(s): {', '.join('-'.join(name) for name in unknown)}", file=sys.stderr)
        return 2
    rows = _read_rows()
    for arch, variant in wanted:
        for crash in CRASH_TYPES:
            result = boot(arch, variant, crash)
            target = LOGS / f"{arch}-{variant}" / f"{crash}.log"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result.console_log, target)
            crashes = result.crash_reports()
            today = crashes[0] if crashes else {"title": "(no report)", "kind": "-"}
            columns = _expected_columns(arch, variant, crash)
            rows[(f"{arch}-{variant}", crash)] = (*columns, today["title"], today["kind"])
            print(f"{arch}-{variant} {crash}: {today['title']}" +
                  ("" if today["title"] == columns[1] else f"   (should be: {columns[1]})"))
    _write_rows(rows)
    return 0


def _expected_columns(arch: str, variant: str, crash: str) -> tuple[str, str, str]:
    want = expected(arch, variant, crash)
    if want.message is not None:
        return "-", f"(no report: the kernel says '{want.message}')", "-"
    return want.kind, want.title, want.site or "(no stack printed)"


def _read_rows() -> dict[tuple[str, str], tuple[str, ...]]:
    path = LOGS / "EXPECTED.tsv"
    if not path.exists():
        return {}
    rows = {}
    for line in path.read_text().splitlines()[1:]:
        fields = line.split("\t")
        rows[(fields[0], fields[1])] = tuple(fields[2:])
    return rows


def _write_rows(rows: dict[tuple[str, str], tuple[str, ...]]) -> None:
    order = {crash: index for index, crash in enumerate(CRASH_TYPES)}
    builds = {"-".join(build): index for index, build in enumerate(BUILDS)}
    lines = ["\t".join(COLUMNS)]
    for key in sorted(rows, key=lambda key: (builds.get(key[0], 99), order.get(key[1], 99))):
        lines.append("\t".join((*key, *rows[key])))
    (LOGS / "EXPECTED.tsv").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
