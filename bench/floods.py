"""Benchmark: floods of oopses into a live watcher, at full pseudo-terminal speed.

The real oops of the x86_64 test kernel (LKDTM EXCEPTION) is written N times into a
pty that a real `oopswatch` watches: once N identical oopses, once N oopses of N
different functions (each its own problem). For each flood: the report directories
written, the disk the boot directory takes, the watcher's peak RSS, the peak RSS of
`oopswatch scan --json` over the same bytes, whether console.log is byte-exact, and
whether every oops is accounted for (each report directory with its repeats, plus
the reports counted over the budget, title by title, equal to what scan finds).
Goals: RSS under 100 MB, console byte-exact, every oops counted.

    python bench/floods.py [--oopses 5000] [--symbols]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import kernels  # noqa: E402
from tests.floods import Flood, counted_reports, disk_use, kernel_functions, scan_json  # noqa: E402
from tests.ptys import Pty, WatchProcess, report_dirs, wait_for  # noqa: E402


def run(name: str, data: bytes, workdir: Path, symbols: list[str]) -> dict:
    workdir.mkdir()
    started = time.monotonic()
    with Pty() as pty, WatchProcess(workdir, pty.path, "--quiet", *symbols) as watch:
        boot_dir = watch.wait_watching()
        pty.write(data)
        wait_for(lambda: (boot_dir / "console.log").stat().st_size >= len(data), 600, what="every byte logged")
        logged = time.monotonic() - started
        previous = None
        while previous != (counted := sum(counted_reports(boot_dir.parent).values())):  # the worker settles
            previous = counted
            time.sleep(1)
        peak = watch.peak_rss_kb()
        code = watch.interrupt(timeout=120)
    log = workdir / "written.log"
    log.write_bytes(data)
    _, reports, scan_peak = scan_json(log, workdir / "scan.jsonl", *symbols)
    expected = Counter(report["title"] for report in reports)
    counted = counted_reports(boot_dir.parent)
    return {"flood": name, "oopses": sum(expected.values()), "MB": len(data) / 1e6,
            "folders": len(report_dirs(boot_dir)), "disk MB": disk_use(boot_dir) / 1e6,
            "watcher RSS MB": peak / 1024, "scan RSS MB": scan_peak / 1024,
            "byte-exact": (boot_dir / "console.log").read_bytes() == data,
            "counted": f"{sum(counted.values())}/{sum(expected.values())}" + ("" if counted == expected else " (!)"),
            "logged in s": logged, "exit": code}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--oopses", type=int, default=5000)
    parser.add_argument("--symbols", action="store_true", help="watch and scan with --board qemu-x86_64 (decoding)")
    args = parser.parse_args()
    flood = Flood(kernels.boot("x86_64", "kallsyms", "EXCEPTION").console_log.read_bytes())
    functions = kernel_functions(kernels.kernel_dir("x86_64", "kallsyms") / "System.map", args.oopses)
    symbols = ["--board", "qemu-x86_64"] if args.symbols else []
    floods = {"identical": flood.head + flood.oops() * args.oopses,
              "distinct": flood.head + b"".join(flood.oops(function) for function in functions)}
    workdir = Path(tempfile.mkdtemp(prefix="oopswatch-floods-"))
    try:
        rows = [run(name, data, workdir / name, symbols) for name, data in floods.items()]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    columns = list(rows[0])
    print(f"{args.oopses} oopses at full pty speed, {'with' if symbols else 'without'} symbols")
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(f"{row[column]:.1f}" if isinstance(row[column], float) else str(row[column])
                         for column in columns))
    good = all(row["byte-exact"] and "(!)" not in row["counted"] and row["watcher RSS MB"] < 100
               and row["scan RSS MB"] < 100 for row in rows)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
