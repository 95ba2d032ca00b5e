"""Benchmark: console layer + detector throughput over a large console stream.

The stream is built on the fly (never held in memory) from real console text: the
boot log shipped in examples/ repeated as ordinary output, with a real crash log from
the syzkaller corpus mixed in every few hundred kilobytes. Prints MB/s on one core and
the process's peak memory.

    python bench/detector_throughput.py [--size-mb 200] [--report-every-kb 256]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oopswatch.console import LineSplitter  # noqa: E402
from oopswatch.detect import Detector, Report  # noqa: E402
from tests.syzkaller_corpus import corpus_logs  # noqa: E402

CHUNK = 64 * 1024


def stream(size: int, report_every: int) -> Iterator[bytes]:
    """`size` bytes of console output in chunks: boot logs, with crash logs mixed in."""
    boot = b"".join(path.read_bytes() for path in sorted((ROOT / "examples").glob("*boot*.log")))
    if not boot:
        raise SystemExit("no examples/*boot*.log to use as ordinary console output")
    crashes = [log.log + b"\n" for log in corpus_logs() if log.title]
    produced = 0
    since_report = 0
    index = 0
    pending = b""
    while produced < size:
        if since_report >= report_every:
            piece = crashes[index % len(crashes)]
            index += 1
            since_report = 0
        else:
            piece = boot
            since_report += len(piece)
        pending += piece
        while len(pending) >= CHUNK:
            yield pending[:CHUNK]
            pending = pending[CHUNK:]
            produced += CHUNK
    if pending:
        yield pending


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--report-every-kb", type=float, default=256)
    args = parser.parse_args()
    size = int(args.size_mb * 1024 * 1024)
    splitter, detector = LineSplitter(), Detector()
    lines = reports = 0
    started = time.process_time()
    for chunk in stream(size, int(args.report_every_kb * 1024)):
        for line in splitter.feed(chunk):
            lines += 1
            for event in detector.feed(line):
                reports += isinstance(event, Report)
    for line in splitter.flush():
        detector.feed(line)
    reports += sum(isinstance(event, Report) for event in detector.finish())
    elapsed = time.process_time() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_mb = splitter.bytes_seen / 1024 / 1024
    print(f"{total_mb:.0f} MB, {lines} lines, {reports} reports in {elapsed:.1f} s of CPU: "
          f"{total_mb / elapsed:.1f} MB/s; peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
