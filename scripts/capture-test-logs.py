#!/usr/bin/env python3
"""Boot test kernels with every LKDTM crash type and keep the console logs as the
detector's test logs: tests/logs/<arch>-<variant>/<CRASH>.log (the raw console.log as
`oopswatch qemu` wrote it). Prints each report's title beside the expected one
(tests/logs/EXPECTED.tsv, through tests/lkdtm_expected.py); tests/test_logs.py and
tests/expectations/test-logs.json then say what oopswatch makes of the new logs.

Usage: scripts/capture-test-logs.py [ARCH-VARIANT ...]   (default: every test kernel)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kernels import BUILDS, CRASH_TYPES, boot
from tests.lkdtm_expected import expected

LOGS = Path(__file__).resolve().parents[1] / "tests" / "logs"


def main(argv: list[str]) -> int:
    wanted = [tuple(name.split("-", 1)) for name in argv] or list(BUILDS)
    unknown = [name for name in wanted if name not in BUILDS]
    if unknown:
        print(f"unknown test kernel(s): {', '.join('-'.join(name) for name in unknown)}", file=sys.stderr)
        return 2
    for arch, variant in wanted:
        for crash in CRASH_TYPES:
            result = boot(arch, variant, crash)
            target = LOGS / f"{arch}-{variant}" / f"{crash}.log"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(result.console_log, target)
            crashes = result.crash_reports()
            today = crashes[0]["title"] if crashes else "(no report)"
            want = expected(arch, variant, crash)
            wanted_title = want.title if want.message is None else f"(no report: the kernel says {want.message!r})"
            print(f"{arch}-{variant} {crash}: {today}" + ("" if today == wanted_title else
                                                         f"   (should be: {wanted_title})"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
