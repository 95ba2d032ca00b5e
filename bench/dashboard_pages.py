"""Dashboard page time with a large index: `--reports` reports (100,000) of `--titles`
problems (2,000, a few frequent and many rare ones), from 64 boards on 4 rack hosts over
90 days, each with the text and excerpt of a real decoded oops, in a SQLite file and in
PostgreSQL (a private server with default settings on this machine). `oopswatch serve`
serves each; every page is fetched `--rounds` times over HTTP, one request at a time.

    python bench/dashboard_pages.py [--reports 100000] [--titles 2000] [--rounds 20]

Goal: under 200 ms a page.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oopswatch.sinks.index.db import Db  # noqa: E402
from oopswatch.sinks.index.postgres_backend import PostgresStore  # noqa: E402
from oopswatch.sinks.index.records import BoardRecord, ReportRecord  # noqa: E402
from oopswatch.sinks.index.sqlite_backend import SqliteStore  # noqa: E402
from oopswatch.sinks.index.writes import apply_report, lock_problems, publish_boards  # noqa: E402
from tests.postgres import free_port, postgres_server  # noqa: E402
from tests.ptys import oopswatch_command, wait_for  # noqa: E402

KINDS = ["bug", "null-deref", "warning", "paging", "gpf", "kasan", "lockup", "hung-task"]
DAYS = 90


def example_texts() -> tuple[str, str]:
    log = ROOT / "examples" / "qemu-x86_64-nokallsyms-exception.log"
    text = subprocess.run([sys.executable, "-m", "oopswatch", "scan", str(log), "--system-map",
                           str(ROOT / "examples" / "qemu-x86_64-nokallsyms.System.map")],
                          capture_output=True, text=True, check=False).stdout
    lines = log.read_text().splitlines(keepends=True)
    return text, "".join(lines[74:161])


def lab_reports(count: int, titles: int, now: float) -> Iterator[ReportRecord]:
    """Reports in time order; title k is drawn with weight 1/(k+1)."""
    rng = random.Random(17)
    weights = [1 / (k + 1) for k in range(titles)]
    picks = rng.choices(range(titles), weights, k=count)
    text, excerpt = example_texts()
    start = now - DAYS * 86400
    for number, title in enumerate(picks):
        board = rng.randrange(64)
        yield ReportRecord(
            board=f"board-{board:02d}", build=f"v6.{board % 8}", boot=f"boot-{number}", time=start + number * DAYS *
            86400 / count, kind=KINDS[title % len(KINDS)], title=f"BUG: problem number {title} in function_{title}",
            crash=title % 10 != 9, corrupted=False, report_dir=f"/var/lib/oopswatch/board-{board:02d}/boot-{number}",
            console_log=None, host=f"rack-{board % 4}", uid=f"bench-{number}", text=text, excerpt=excerpt)


def fill(db: Db, count: int, titles: int, now: float, batch: int = 500) -> float:
    start = time.perf_counter()
    pending: list[ReportRecord] = []

    def flush() -> None:
        with db.transaction():
            created = lock_problems(db, pending) if db.dialect == "postgresql" else None
            for entry in pending:
                apply_report(db, entry, created)
        pending.clear()

    if db.dialect == "sqlite":
        db.execute("PRAGMA synchronous=OFF")  # filling, not measuring writes
        for entry in lab_reports(count, titles, now):
            apply_report(db, entry)
    else:
        db.execute("SET synchronous_commit = off")
        for entry in lab_reports(count, titles, now):
            pending.append(entry)
            if len(pending) == batch:
                flush()
        if pending:
            flush()
    publish_boards(db, [BoardRecord(f"rack-{n % 4}", f"board-{n:02d}", "up", f"v6.{n % 8}", f"boot-{n}",
                                    now - 3600, n % 3, now) for n in range(64)])
    # What autovacuum does to a lab's database in its first minutes (statistics, and the
    # visibility map that lets PostgreSQL answer from an index alone); SQLite: statistics.
    db.execute("VACUUM ANALYZE" if db.dialect == "postgresql" else "ANALYZE")
    return time.perf_counter() - start


@contextlib.contextmanager
def serving(*args: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(oopswatch_command("serve", "--bind", f"127.0.0.1:{port}", *args),
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            if process.poll() is not None:
                raise RuntimeError(process.stderr.read())
            with contextlib.suppress(OSError):
                return urllib.request.urlopen(base + "/boards", timeout=5).status == 200
            return False
        wait_for(up, 60, interval=0.2, what="the dashboard")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(base: str, pages: list[str], rounds: int) -> list[tuple[str, float, float, int]]:
    results = []
    for page in pages:
        times = []
        size = 0
        for attempt in range(rounds + 2):
            start = time.perf_counter()
            with urllib.request.urlopen(base + page, timeout=60) as response:
                size = len(response.read())
            if attempt >= 2:  # the first two warm the connection and the caches
                times.append(time.perf_counter() - start)
        results.append((page, statistics.median(times), max(times), size))
    return results


def pages(db: Db) -> list[str]:
    top = db.one("SELECT id FROM problems ORDER BY count DESC LIMIT 1")[0]
    some_report = db.one("SELECT id FROM reports WHERE problem_id = ? ORDER BY time DESC LIMIT 1", (top,))[0]
    return ["/problems", "/problems?board=board-07", "/problems?kind=warning", "/problems?since=1d",
            "/problems?since=7d", "/problems?since=90d", "/problems?board=board-07&since=30d", "/problems?page=10",
            f"/problems/{top}", f"/problems/{top}?page=50", f"/reports/{some_report}", "/boards"]


def report(name: str, fill_seconds: float, results: list[tuple[str, float, float, int]], count: int) -> None:
    print(f"\n{name}: {count:,} reports filled in {fill_seconds:.0f} s")
    print(f"  {'page':42} {'median ms':>10} {'max ms':>8} {'KB':>6}")
    for page, median, worst, size in results:
        print(f"  {page:42} {median * 1000:10.1f} {worst * 1000:8.1f} {size / 1024:6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=100_000)
    parser.add_argument("--titles", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="oopswatch-bench-") as name:
        path = Path(name) / "reports.sqlite"
        db = SqliteStore(path, "bench").open()
        seconds = fill(db, args.reports, args.titles, now)
        urls = pages(db)
        db.close()
        with serving("--index", str(path)) as base:
            report("SQLite", seconds, measure(base, urls, args.rounds), args.reports)
        with postgres_server(durable=True) as server:
            url = server.create_database()
            db = PostgresStore(url, "bench").open()
            seconds = fill(db, args.reports, args.titles, now)
            urls = pages(db)
            db.close()
            with serving("--index", url) as base:
                report("PostgreSQL", seconds, measure(base, urls, args.rounds), args.reports)


if __name__ == "__main__":
    main()
