"""Real pseudo-terminals and a real `oopswatch` process, for the live-watching tests
and benchmarks.

A `Pty` plays the board: the test writes console bytes into the master side, and the
watcher opens the slave path through pyserial, as it would open /dev/ttyUSB0. A
`StableLink` is the /dev/serial/by-id/... symlink that survives re-plugging.
`WatchProcess` runs `python -m oopswatch` as a user would.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import tty
from collections.abc import Callable, Iterator
from pathlib import Path

BAUD_115200 = 11520  # bytes per second: 10 bits per byte on the wire (8N1)


class Pty:
    """A pseudo-terminal pair; the slave is in raw mode and closed on our side, so only
    the watcher has it open (as only the watcher has a UART open)."""

    def __init__(self) -> None:
        self.master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no CR/LF translation: bytes pass unchanged
        self.path = os.ttyname(slave)
        os.close(slave)
        self.written = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            count = os.write(self.master, view)
            view = view[count:]
            self.written += count

    def close(self) -> None:
        """The board goes away: the slave's readers get an error, the /dev/pts node goes."""
        if self.master >= 0:
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> Pty:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StableLink:
    """A stable path (like /dev/serial/by-id/usb-FTDI...) that points at the current pty."""

    def __init__(self, path: Path, target: Pty):
        self.path = path
        self.point_at(target)

    def point_at(self, target: Pty) -> None:
        """Atomically, as udev does when the adapter comes back."""
        temporary = self.path.with_name(self.path.name + ".new")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        temporary.symlink_to(target.path)
        temporary.replace(self.path)


def paced_write(pty: Pty, data: bytes, rate: float = BAUD_115200, chunk: int = 64,
                on_chunk: Callable[[int], None] | None = None) -> float:
    """Write `data` at `rate` bytes per second in `chunk`-byte pieces, as a UART
    delivers it; returns the seconds it took. The schedule is absolute, so sleeps that
    oversleep do not slow the average rate."""
    start = time.monotonic()
    for offset in range(0, len(data), chunk):
        due = start + offset / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        pty.write(data[offset:offset + chunk])
        if on_chunk is not None:
            on_chunk(offset + chunk)
    return time.monotonic() - start


def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.01, what: str = "") -> object:
    """Poll until `predicate()` is true; its value, or AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or predicate}")
        time.sleep(interval)


def oopswatch_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "oopswatch", *args]


def _as_from_a_terminal() -> None:
    """In the child: Ctrl-C as in a terminal. A test run started in the background by a
    script ignores SIGINT, and an ignored signal stays ignored across exec (the watcher
    keeps it so, as any program does)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class WatchProcess:
    """`oopswatch [options] PORT` in a subprocess, its stdout and stderr in files."""

    def __init__(self, workdir: Path, port: str, *args: str, output: Path | None = None,
                 prefix: tuple[str, ...] = (), stdout: int | None = None, env: dict[str, str] | None = None,
                 name: str = "watch"):
        self.workdir = workdir
        self.output = output or workdir / "out"
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        argv = [*prefix, *oopswatch_command("--output", str(self.output), *args, port)]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, preexec_fn=_as_from_a_terminal,
                                            stdout=out if stdout is None else stdout, stderr=err, env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_watching(self, timeout: float = 30.0) -> Path:
        """Wait until the port is open; the boot directory the watcher writes to."""
        def watching() -> str | None:
            if self.process.poll() is not None:
                raise AssertionError(f"oopswatch exited with {self.process.returncode}: {self.stderr()}")
            match = re.search(r"console log and reports in (.+?); Ctrl-C stops", self.stderr())
            return match.group(1) if match else None
        return Path(str(wait_for(watching, timeout, what="oopswatch to open the port")))

    def interrupt(self, timeout: float = 15.0) -> int:
        """Ctrl-C, as a user stops it; the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout=timeout)

    def rss_kb(self) -> int:
        """Resident memory of the watcher now, from /proc/PID/status."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE).group(1))

    def peak_rss_kb(self) -> int:
        """The most resident memory the watcher has had so far (VmHWM)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE).group(1))

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> WatchProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.kill()


@contextlib.contextmanager
def watching(workdir: Path, port: str, *args: str, **kwargs) -> Iterator[WatchProcess]:
    """A watcher that is killed if the test fails before stopping it."""
    process = WatchProcess(workdir, port, *args, **kwargs)
    try:
        yield process
    finally:
        process.kill()


def report_dirs(boot_dir: Path) -> list[Path]:
    """Finished reports (report.json is written last), oldest first."""
    return sorted(path.parent for path in boot_dir.glob("report-*/report.json"))


NOTE_RE = re.compile(rb"\[oopswatch \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] [^\n]*\n")


def without_notes(log: bytes) -> bytes:
    """The console log without the watcher's own notes (gaps, reconnects)."""
    return NOTE_RE.sub(b"", log)


# -- oopses for latency measurements ---------------------------------------------------

END_MARKER = b"---[ end trace"


def oops_block(log: bytes) -> bytes:
    """The first report in a console log, from the line of its header to the line of its
    end marker, both included: a block that ends at its end marker."""
    lines = log.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if b"BUG: " in line or b"WARNING: " in line)
    end = next(i for i in range(start, len(lines)) if END_MARKER in lines[i])
    return b"".join(lines[start:end + 1])


def ordinary_lines(log: bytes, count: int = 20) -> bytes:
    """Some boot messages from a console log, to put between oopses (not the banner,
    which would start a new boot)."""
    lines = [line for line in log.splitlines(keepends=True)[:200]
             if not any(word in line for word in (b"BUG", b"WARNING", b"Linux version"))]
    return b"".join(lines[:count])


def reports_seen(boot_dir: Path) -> int:
    """Reports on disk in a boot directory: each report directory, and each repeat of it
    (the same problem again in one boot updates its first report)."""
    total = 0
    for path in boot_dir.glob("report-*/report.json"):
        try:
            total += 1 + json.loads(path.read_text()).get("repeats", 0)
        except (OSError, ValueError):  # being replaced right now: look again
            return -1
    return total


def measure_report_latency(pty: Pty, boot_dir: Path, blocks: list[bytes], rate: float = BAUD_115200,
                           first_number: int = 1, timeout: float = 10.0) -> list[float]:
    """For each block (ending with an end marker line), written at `rate`: the seconds
    from the last byte written to the moment its report is on disk (a new report.json,
    or its count in the first one's `repeats`)."""
    latencies = []
    for number, block in enumerate(blocks, first_number):
        paced_write(pty, block, rate)
        written = time.monotonic()
        wait_for(lambda number=number: reports_seen(boot_dir) >= number, timeout, interval=0.0005,
                 what=f"report {number}")
        latencies.append(time.monotonic() - written)
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with `fraction` of values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(len(ordered) * fraction)) - 1]
