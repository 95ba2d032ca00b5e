"""Benchmark: what a command over the console costs — the time from typing `true` to its
exit status and settled reports, on a real busybox shell behind a pty that oopswatch
opens through pyserial (as /dev/ttyUSB0), with the watcher logging every byte — and
the time for the shell to answer at all.

    python bench/console_commands.py [--commands 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oopswatch.build_choice import BuildChooser  # noqa: E402
from oopswatch.harness.live import LiveConsole  # noqa: E402
from oopswatch.sources.serial_port import SerialSource  # noqa: E402
from oopswatch.watch import WatchOptions  # noqa: E402
from tests.shell_board import ShellBoard  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as output, ShellBoard() as board:
        live = LiveConsole(SerialSource(board.path), BuildChooser(None, None),
                           WatchOptions(board="bench", output=Path(output), echo=False))
        live.start()
        try:
            started = time.monotonic()
            live.wait_shell(10)
            ready = time.monotonic() - started
            seconds = []
            for _ in range(args.commands):
                run = live.run("true", 10)
                assert run.exit_status == 0, run
                seconds.append(run.seconds)
            settled = []
            for _ in range(20):
                begun = time.monotonic()
                live.settle()
                settled.append(time.monotonic() - begun)
        finally:
            live.stop()
    print(f"shell answered after {ready * 1000:.0f} ms")
    print(f"'true' x {args.commands}: median {statistics.median(seconds) * 1000:.1f} ms, "
          f"p95 {sorted(seconds)[int(len(seconds) * 0.95) - 1] * 1000:.1f} ms per command (to its exit status)")
    print(f"settle with no report under way: median {statistics.median(settled) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
