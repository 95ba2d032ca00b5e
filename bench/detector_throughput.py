"""Benchmark: console layer + detector throughput over a large console-like stream.

The stream is written to a temporary file first: a real boot log (shipped in examples/),
then its messages with printk times repeated as the console's ordinary output (without
its banner and reboot lines: one boot, not a reboot every 8 KB), with a real crash log
from the syzkaller corpus mixed in every `--report-every-kb` (an oops about every
megabyte by default). Then, on one core and in the same run:

- the baseline: the file read in 64 KiB chunks, decoded, split into lines and each line
  searched with one plain compiled regular expression (the least any line scanner does);
- oopswatch: the same chunks through the console layer (`LineSplitter`) and the detector,
  batch by batch as the console pipeline feeds them.

Prints both speeds in MB/s of CPU time, their ratio, and the process's peak memory.

    python bench/detector_throughput.py [--size-mb 200] [--report-every-kb 1024]
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oopswatch.console import LineSplitter  # noqa: E402
from oopswatch.detect import Detector, Report  # noqa: E402
from tests.syzkaller_corpus import corpus_logs  # noqa: E402

CHUNK = 64 * 1024
BASELINE_RE = re.compile(r"BUG:|WARNING:|INFO:|Oops|Kernel panic|Unable to handle kernel")


def stream(size: int, report_every: int) -> Iterator[bytes]:
    """`size` bytes of console output: boot logs, with crash logs mixed in."""
    boot = b"".join(path.read_bytes() for path in sorted((ROOT / "examples").glob("*boot*.log")))
    if not boot:
        raise SystemExit("no examples/*boot*.log to use as ordinary console output")
    ordinary = b"".join(line for line in boot.splitlines(keepends=True)
                        if b"Linux version" not in line and b"reboot: " not in line)
    crashes = [log.log + b"\n" for log in corpus_logs() if log.title]
    yield boot
    produced, since_report, index = len(boot), len(boot), 0
    while produced < size:
        if since_report >= report_every:
            piece = crashes[index % len(crashes)]
            index += 1
            since_report = 0
        else:
            piece = ordinary
            since_report += len(piece)
        produced += len(piece)
        yield piece


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def baseline(path: Path) -> tuple[float, int]:
    """CPU seconds for a plain regex line scan of the file, and the lines matched."""
    started = time.process_time()
    matched = 0
    partial = b""
    search = BASELINE_RE.search
    for chunk in chunks(path):
        data = partial + chunk
        cut = data.rfind(b"\n") + 1
        partial = data[cut:]
        for line in data[:cut].decode("utf-8", "replace").split("\n"):
            if search(line):
                matched += 1
    return time.process_time() - started, matched


def detector(path: Path) -> tuple[float, int, int]:
    """CPU seconds for the console layer and detector over the file; lines, reports."""
    started = time.process_time()
    splitter, watcher = LineSplitter(), Detector()
    lines = reports = 0
    for chunk in chunks(path):
        batch = splitter.feed(chunk)
        lines += len(batch)
        reports += sum(isinstance(event, Report) for event in watcher.feed_lines(batch))
    reports += sum(isinstance(event, Report) for event in watcher.feed_lines(splitter.flush()))
    reports += sum(isinstance(event, Report) for event in watcher.finish())
    return time.process_time() - started, lines, reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=200)
    parser.add_argument("--report-every-kb", type=float, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "console.log"
        with path.open("wb") as file:
            for piece in stream(int(args.size_mb * 1024 * 1024), int(args.report_every_kb * 1024)):
                file.write(piece)
        total_mb = path.stat().st_size / 1024 / 1024
        base_seconds, matched = baseline(path)
        seconds, lines, reports = detector(path)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    base_speed, speed = total_mb / base_seconds, total_mb / seconds
    print(f"{total_mb:.0f} MB, {lines} lines, an oops every {args.report_every_kb:.0f} KB")
    print(f"baseline regex line scan: {base_speed:.1f} MB/s ({matched} lines matched)")
    print(f"oopswatch console+detector: {speed:.1f} MB/s ({reports} reports) = {speed / base_speed:.2f}x the baseline")
    print(f"peak memory {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
