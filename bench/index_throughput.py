"""Reports per second one rack writes into its report index: a local SQLite file, and a
PostgreSQL database (a private server with PostgreSQL's default, durable settings, on
this machine) through the spool and sender thread.

The rack's index thread calls `ReportIndex.record` once per report, with the report's
directory (report.txt and excerpt.log of a real decoded oops are read and stored), for
`--reports` reports over `--titles` titles and 16 boards, as fast as it can.

    python bench/index_throughput.py [--reports 3000] [--titles 200]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oopswatch.sinks.index import INDEX_NAME, ReportIndex  # noqa: E402
from tests.postgres import postgres_server  # noqa: E402

EXAMPLE = ROOT / "examples" / "qemu-x86_64-nokallsyms-exception.log"


def report_dir(scratch: Path) -> Path:
    """A report directory as the watcher writes it: the example oops, decoded."""
    import subprocess

    directory = scratch / "report-001"
    directory.mkdir()
    decoded = subprocess.run([sys.executable, "-m", "oopswatch", "scan", str(EXAMPLE), "--system-map",
                              str(ROOT / "examples" / "qemu-x86_64-nokallsyms.System.map")],
                             capture_output=True, text=True, check=False).stdout
    (directory / "report.txt").write_text(decoded)
    lines = EXAMPLE.read_text().splitlines(keepends=True)
    (directory / "excerpt.log").write_text("".join(lines[74:161]))
    return directory


def record_all(index: ReportIndex, count: int, titles: int, directory: Path) -> float:
    """Seconds to record `count` reports."""
    start = time.perf_counter()
    for number in range(count):
        index.record(board=f"board-{number % 16:02d}", build=f"v6.1-{number % 3}", boot=f"boot-{number // 16}",
                     time=1.7e9 + number, kind="bug",
                     title=f"BUG: unable to handle page fault in function_{number % titles}", crash=True,
                     corrupted=False, report_dir=directory, console_log=directory / "console.log")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=3000)
    parser.add_argument("--titles", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="oopswatch-bench-") as name:
        scratch = Path(name)
        directory = report_dir(scratch)
        with ReportIndex(scratch / INDEX_NAME) as index:
            seconds = record_all(index, args.reports, args.titles, directory)
            assert index.last_error is None and index.held == 0
        print(f"SQLite file:  {args.reports} reports in {seconds:.2f} s = {args.reports / seconds:,.0f} reports/s "
              "(each committed with synchronous=FULL before record() returns)")
        with postgres_server(durable=True) as server:
            url = server.create_database()
            with ReportIndex(url, spool=scratch / "spool.sqlite") as index:
                start = time.perf_counter()
                accepted = record_all(index, args.reports, args.titles, directory)
                assert index.wait_sent(600), "the backlog did not drain"
                stored = time.perf_counter() - start
                assert index.last_error is None
                [count] = {problem.count for problem in index.problems()} or {0}
            print(f"PostgreSQL:   {args.reports} reports in the database in {stored:.2f} s = "
                  f"{args.reports / stored:,.0f} reports/s (batches of up to 100 a transaction, fsync on); "
                  f"record() took them at {args.reports / accepted:,.0f}/s into the spool")
            assert count == args.reports // args.titles


if __name__ == "__main__":
    main()
