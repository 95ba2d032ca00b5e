"""Benchmark: boot-to-report time of every LKDTM crash type under QEMU (software
emulation), as `oopswatch qemu` measures it: from QEMU's start to the end of the first
crash report. Median of several boots per type, per architecture.

    python bench/qemu_boots.py [--runs 3] [--variant kallsyms]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kernels import CRASH_TYPES, VARIANTS_OF, kernel_dir  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variant", default="kallsyms", choices=("kallsyms", "nokallsyms"))
    args = parser.parse_args()
    arches = [arch for arch, variants in VARIANTS_OF.items() if args.variant in variants]
    with tempfile.TemporaryDirectory() as output:
        print(f"{'crash type':24}" + "".join(f"{arch + ' report / boot (s)':>28}" for arch in arches))
        for crash in CRASH_TYPES:
            cells = []
            for arch in arches:
                reports, boots = [], []
                for _ in range(args.runs):
                    completed = subprocess.run(
                        [sys.executable, "-m", "oopswatch", "qemu", "--kernel-dir",
                         str(kernel_dir(arch, args.variant)), "--crash", crash, "--expect", "oops",
                         "--output", output], capture_output=True, text=True, check=False)
                    directory = completed.stdout.rsplit("logs and reports in ", 1)[1].strip().rstrip(")")
                    result = json.loads((Path(directory) / "result.json").read_text())
                    reports.append(result["first_report_seconds"])
                    boots.append(result["seconds"])
                cells.append(f"{statistics.median(reports):.2f} / {statistics.median(boots):.2f}")
            print(f"{crash:24}" + "".join(f"{cell:>28}" for cell in cells))


if __name__ == "__main__":
    main()
