"""A full disk is an event, not a crash: a real small filesystem (tmpfs, mounted here;
CI runs as root) under --output, a real pty, the real `oopswatch` command.

The watcher says so once, keeps reading and detecting, keeps console bytes in memory
(8 MiB), writes them when space comes back with the gap marked where bytes had to be
dropped, and writes the reports it could not write before; no half-written report
directory is ever left.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.floods import EXAMPLE, SYMBOLS, counted_reports, oopses, scan_json
from tests.ptys import Pty, report_dirs, wait_for, watching, without_notes

pytestmark = [pytest.mark.root, pytest.mark.slow]

KEPT = 8 * 1024 * 1024  # console bytes a watcher keeps in memory while the disk refuses them


@contextlib.contextmanager
def small_filesystem(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` at `path`, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.fail("this test mounts a tmpfs and needs root (CI runs as root): run it as root, or deselect "
                    "it with -m 'not root'")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "oopswatch-test", str(path)],
                   check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path) -> Path:
    """Fill the filesystem holding `path` with one file; the file."""
    filler = path / "filler"
    with filler.open("wb", buffering=0) as handle:
        block = b"\0" * 65536
        with contextlib.suppress(OSError):
            while True:
                handle.write(block)
    for size in (4096, 512, 1):  # the last pages too
        with contextlib.suppress(OSError), filler.open("ab", buffering=0) as handle:
            while True:
                handle.write(b"\0" * size)
    return filler


def scan_titles(tmp_path: Path, data: bytes) -> Counter[str]:
    log = tmp_path / "written.log"
    log.write_bytes(data)
    _, reports, _ = scan_json(log, tmp_path / "scan.jsonl", *SYMBOLS)
    return Counter(report["title"] for report in reports)


def ordinary(size: int) -> bytes:
    line = b"[    2.000000] an ordinary console line, the board carries on printing\r\n"
    return line * (size // len(line))


def check_no_half_reports(boot_dir: Path) -> None:
    assert not list(boot_dir.glob(".report-*")), "a temporary report directory was left"
    for directory in boot_dir.glob("report-*"):
        assert {path.name for path in directory.iterdir()} == {"report.json", "report.txt", "excerpt.log"}
        json.loads((directory / "report.json").read_text())


def test_disk_full_before_any_report(tmp_path):
    head = EXAMPLE.read_bytes()[:EXAMPLE.read_bytes().index(b"BUG: kernel NULL pointer")]
    head = head[:head.rfind(b"\n") + 1]
    during = oopses(1) + ordinary(KEPT + 2 * 1024 * 1024) + oopses(1, start=1)  # more than fits in memory
    after = oopses(1, start=2)
    with small_filesystem(tmp_path / "small", "24m") as small, Pty() as pty:
        filler = fill(small)
        with watching(tmp_path, pty.path, "--quiet", *SYMBOLS, output=small / "out") as watch:
            boot_dir = watch.wait_watching()
            pty.write(head + during)
            wait_for(lambda: "disk full" in watch.stderr(), 30, what="the watcher to say the disk is full")
            assert watch.process.poll() is None
            filler.unlink()  # space again
            log = boot_dir / "console.log"
            wait_for(lambda: b"bytes lost: disk full" in log.read_bytes(), 30, what="the gap note")
            pty.write(after)
            wait_for(lambda: sum(counted_reports(boot_dir.parent).values()) == 3, 30, what="three reports")
            assert watch.interrupt(timeout=30) == 0
        written = log.read_bytes()
        check_no_half_reports(boot_dir)
        counted = counted_reports(boot_dir.parent)
    stderr = watch.stderr()
    assert "Traceback" not in stderr
    assert len(re.findall(r"console\.log: disk full", stderr)) == 1  # said once
    # The log: the bytes up to the gap (the first 8 MiB at least), the note on a line of its
    # own (a newline before it if the gap cut a line), and every byte after the gap.
    [note] = list(re.finditer(rb"\[oopswatch [^\]]+\] (\d+) bytes lost: disk full\n", written))
    everything = head + during + after
    cut = note.start() if everything[:note.start()] == written[:note.start()] else note.start() - 1
    assert written[:cut] == everything[:cut] and written[cut:note.start()] in (b"", b"\n")
    assert KEPT - 65536 < cut <= KEPT  # what fitted in memory, in whole reads of at most 64 KiB
    assert written[note.end():] == everything[cut + int(note.group(1)):]  # the note counts what is missing
    assert len(everything) - cut - int(note.group(1)) >= len(after)
    assert counted == scan_titles(tmp_path, everything)  # each report, the one in the lost bytes too


def test_disk_full_while_reports_are_written(tmp_path):
    """The reports fill the disk; the watcher carries on, and writes every report once
    there is room again; the console log misses nothing (it fitted in memory)."""
    data = oopses(60)
    more = oopses(5, start=60)
    with small_filesystem(tmp_path / "small", "8m") as small, Pty() as pty:
        ballast = small / "ballast"
        ballast.write_bytes(b"\0" * 7 * 1024 * 1024)
        expected = scan_titles(tmp_path, data + more)
        with watching(tmp_path, pty.path, "--quiet", "--report-budget", "0", *SYMBOLS,
                      output=small / "out") as watch:
            boot_dir = watch.wait_watching()
            pty.write(data)
            wait_for(lambda: "disk full" in watch.stderr(), 30, what="the disk to fill")
            assert watch.process.poll() is None
            ballast.unlink()
            wait_for(lambda: sum(counted_reports(boot_dir.parent).values()) == 60, 30,
                     what="the reports kept in memory")
            pty.write(more)
            wait_for(lambda: sum(counted_reports(boot_dir.parent).values()) == 65, 30, what="the reports after")
            assert watch.interrupt(timeout=30) == 0
        log = (boot_dir / "console.log").read_bytes()
        check_no_half_reports(boot_dir)
        counted = counted_reports(boot_dir.parent)
        folders = len(report_dirs(boot_dir))
    assert without_notes(log) == data + more and b"bytes lost" not in log
    assert counted == expected and folders == len(expected) > 30
    stderr = watch.stderr()
    assert "Traceback" not in stderr
    assert len(re.findall(r"reports: disk full", stderr)) == 1


def test_a_rack_board_on_a_full_disk_says_so_and_carries_on(tmp_path):
    """The rack's status shows the board as `up (disk full)`, the rack and its other
    board go on, and the board writes again when there is room."""
    from tests.test_rack import RackProcess

    first, second = oopses(1), oopses(1, start=1)
    with small_filesystem(tmp_path / "small", "4m") as small, Pty() as full, Pty() as other:
        output = small / "out"
        rack = tmp_path / "rack.yaml"
        rack.write_text(f"output: {output}\nboards:\n" + "".join(
            f"  - name: {name}\n    port: {pty.path}\n    system_map: {SYMBOLS[1]}\n"
            for name, pty in (("full", full), ("other", other))))
        process = RackProcess(rack, tmp_path / "rack")
        try:
            process.wait_watching(2)
            filler = fill(small)
            full.write(first)
            wait_for(lambda: "full: up (disk full)" in process.log(), 30, what="the status to show the full disk")
            filler.unlink()
            other.write(first)
            wait_for(lambda: "full: up (build" in process.log().split("up (disk full)")[-1], 30,
                     what="the board to write again")
            full.write(second)
            wait_for(lambda: sum(counted_reports(output / "full").values()) == 2, 30, what="both reports")
            assert process.stop() == 0
        finally:
            process.kill()
        assert without_notes((next((output / "full").glob("*/console.log"))).read_bytes()) == first + second
        assert sum(counted_reports(output / "other").values()) == 1
        check_no_half_reports(next((output / "full").glob("*-boot1")))
    assert "Traceback" not in process.log()
