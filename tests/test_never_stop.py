"""A watcher that never stops: floods of oopses, a killed and restarted watcher, a stuck
addr2line, all on real pseudo-terminals with the real `oopswatch` command. (A full
disk: test_disk_full.py. Bigger floods and their figures: bench/floods.py.)"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests import kernels
from tests.floods import Flood, counted_reports, disk_use, kernel_functions, lost_at_a_kill, scan_json
from tests.ptys import Pty, oopswatch_command, report_dirs, wait_for, watching, without_notes

FLOOD = 500  # oopses per flood here; bench/floods.py writes 5000
MAX_RSS_KB = 100 * 1024


@pytest.fixture(scope="module")
def flood() -> Flood:
    return Flood(kernels.boot("x86_64", "kallsyms", "EXCEPTION").console_log.read_bytes())


@pytest.fixture(scope="module")
def functions() -> list[str]:
    return kernel_functions(kernels.kernel_dir("x86_64", "kallsyms") / "System.map", FLOOD)


def scan_titles(tmp_path: Path, data: bytes) -> tuple[Counter[str], int]:
    """The titles `oopswatch scan` finds in the same bytes (how many of each), and its peak RSS."""
    log = tmp_path / "written.log"
    log.write_bytes(data)
    _, reports, peak = scan_json(log, tmp_path / "scan.jsonl")
    return Counter(report["title"] for report in reports), peak


def flood_a_watcher(tmp_path: Path, data: bytes, *args: str) -> tuple[Path, int, str]:
    """Write `data` into a pty at full speed (as fast as the watcher takes it) while a
    watcher reads it; its boot directory, peak RSS and stderr once it is stopped."""
    with Pty() as pty, watching(tmp_path, pty.path, "--quiet", *args) as watch:
        boot_dir = watch.wait_watching()
        pty.write(data)
        wait_for(lambda: (boot_dir / "console.log").stat().st_size >= len(data), 60, what="every byte logged")
        time.sleep(1)  # the worker catches up; repeats reach their report
        peak = watch.peak_rss_kb()
        assert watch.interrupt(timeout=60) == 0
    return boot_dir, peak, watch.stderr()


@pytest.mark.qemu
def test_identical_oopses_make_one_report_with_a_count(flood, tmp_path):
    data = flood.head + flood.oops() * FLOOD
    boot_dir, peak, stderr = flood_a_watcher(tmp_path, data)
    assert (boot_dir / "console.log").read_bytes() == data
    [report_dir] = report_dirs(boot_dir)
    report = json.loads((report_dir / "report.json").read_text())
    assert (report["title"], report["repeats"]) == (flood.title(), FLOOD - 1)
    assert report["last_lines"][1] == data.count(b"\n")  # the last oops ends on the last line
    assert f"repeated: {FLOOD - 1} more times in this boot" in (report_dir / "report.txt").read_text()
    # The index: one report, counted FLOOD times.
    listed = subprocess.run(oopswatch_command("reports", "--output", str(tmp_path / "out"), "--json", "--all"),
                            capture_output=True, text=True, timeout=60, check=True)
    [problem] = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (problem["title"], problem["count"]) == (flood.title(), FLOOD)
    assert report_dir.name == f"report-000001-{report_dir.name.split('-', 2)[2]}"  # numbers sort
    assert peak < MAX_RSS_KB, f"watcher peak RSS {peak} kB"
    assert disk_use(boot_dir) < 2 * len(data) + 1024 * 1024
    assert "Traceback" not in stderr


@pytest.mark.qemu
def test_distinct_oopses_beyond_the_budget_are_counted_by_title(flood, functions, tmp_path):
    data = flood.head + b"".join(flood.oops(function) for function in functions)
    boot_dir, peak, stderr = flood_a_watcher(tmp_path, data)
    assert (boot_dir / "console.log").read_bytes() == data
    expected, scan_peak = scan_titles(tmp_path, data)
    assert sum(expected.values()) == FLOOD
    assert counted_reports(boot_dir.parent) == expected  # every oops accounted for, once
    folders = report_dirs(boot_dir)
    assert len(folders) == 30  # the default budget: 30 new report directories a minute
    in_folders = sum(1 + json.loads((folder / "report.json").read_text())["repeats"] for folder in folders)
    summary = json.loads((boot_dir / "reports-over-budget.json").read_text())
    assert (summary["budget_per_minute"], summary["reports"]) == (30, FLOOD - in_folders)
    assert [folder.name[:13] for folder in folders] == [f"report-{n:06d}" for n in range(1, 31)]
    assert len([line for line in stderr.splitlines() if "counting further reports" in line]) == 1
    assert peak < MAX_RSS_KB, f"watcher peak RSS {peak} kB"
    assert scan_peak < MAX_RSS_KB, f"scan --json peak RSS {scan_peak} kB"
    assert disk_use(boot_dir) < 2 * len(data) + 1024 * 1024
    assert "Traceback" not in stderr


@pytest.mark.qemu
@pytest.mark.parametrize("seed", [1, 2])
def test_a_watcher_killed_mid_flood_is_carried_on_by_the_next(flood, functions, tmp_path, seed):
    """kill -9 at a random moment while oopses pour in (a mix of 40 problems, each many
    times); a new watcher on the same output and port reports each oops in console.log
    exactly once, and the log is the bytes written (but for what the tty discards when
    its reader is killed)."""
    rng = random.Random(seed)
    sequence = [rng.choice(functions[:40]) for _ in range(300)]
    data = flood.head + b"".join(flood.oops(function) for function in sequence)
    half = len(data) // 2
    with Pty() as pty:
        with watching(tmp_path, pty.path, "--quiet", name="first") as first:
            boot_dir = first.wait_watching()
            writer = threading.Thread(target=pty.write, args=(data[:half],))
            writer.start()
            time.sleep(rng.uniform(0.1, 1.0))
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
        with watching(tmp_path, pty.path, "--quiet", name="second") as second:
            assert second.wait_watching() == boot_dir  # the same boot, carried on
            writer.join()
            pty.write(data[half:])
            wait_for(lambda: without_notes((boot_dir / "console.log").read_bytes()).endswith(data[-4096:]), 60,
                     what="the last bytes logged")
            time.sleep(1)
            assert second.interrupt(timeout=60) == 0
    log = (boot_dir / "console.log").read_bytes()
    assert lost_at_a_kill(data, without_notes(log)) <= 65536  # what the pty held for the killed reader
    expected, _ = scan_titles(tmp_path, log)  # every oops in console.log, as scan finds them
    assert counted_reports(boot_dir.parent) == expected
    assert "carrying on after a watcher that stopped without finishing" in second.stderr()
    assert "Traceback" not in second.stderr()


@pytest.mark.qemu
def test_a_stuck_addr2line_does_not_delay_a_console_byte(flood, tmp_path):
    """addr2line (found on PATH, as the symbolizer finds it) never answers: the report
    worker waits on it, while every byte the board sends still reaches console.log at
    once; Ctrl-C then waits for the worker, whose addr2line misses its deadline, and the
    report is written without file:line."""
    fake = tmp_path / "bin"
    fake.mkdir()
    started = tmp_path / "addr2line-started"
    (fake / "addr2line").write_text(f"#!/bin/sh\necho $$ > {started}\nexec sleep 600\n")
    (fake / "addr2line").chmod(0o755)
    env = dict(os.environ, PATH=f"{fake}{os.pathsep}{os.environ['PATH']}")
    filler = b"".join(b"[    1.%06d] ordinary console line %d of many\r\n" % (n, n) for n in range(20000))
    with Pty() as pty, watching(tmp_path, pty.path, "--quiet", "--board", "qemu-x86_64", env=env) as watch:
        boot_dir = watch.wait_watching()
        pty.write(flood.head + flood.oops())
        wait_for(started.exists, 60, what="the report worker to call addr2line")
        sent = len(flood.head + flood.oops())
        for piece in range(0, len(filler), 32768):  # while addr2line hangs, the console goes on
            pty.write(filler[piece:piece + 32768])
            sent += len(filler[piece:piece + 32768])
            wait_for(lambda sent=sent: (boot_dir / "console.log").stat().st_size >= sent, 10,
                     what="the bytes just written in console.log")
        hung = int(started.read_text())
        os.kill(hung, 0)  # every byte is in console.log, and addr2line still hangs
        assert report_dirs(boot_dir) == []  # the report still waits for its decoder
        assert watch.interrupt(timeout=120) == 0
    assert (boot_dir / "console.log").read_bytes() == flood.head + flood.oops() + filler
    [report_dir] = report_dirs(boot_dir)
    report = json.loads((report_dir / "report.json").read_text())
    assert report["title"] == flood.title()
    assert not any(frame["file"] for frame in report["frames"])  # no file:line from the stuck addr2line
    assert "Traceback" not in watch.stderr()


def test_a_board_that_reboots_again_and_again_keeps_its_memory_small(tmp_path):
    """40 boots (the shipped example's boot, oops included, again and again) through
    stdin: a boot directory each, each with its report; the watcher keeps only the
    last boots in memory and still counts them all."""
    from tests.floods import EXAMPLE, SYMBOLS

    boots = 40
    completed = subprocess.run(oopswatch_command("--quiet", "--output", str(tmp_path / "out"), *SYMBOLS,
                                                 "--report-budget", "0", "-"),
                               input=EXAMPLE.read_bytes() * boots, capture_output=True, timeout=120, check=False)
    assert completed.returncode == 0, completed.stderr
    directories = sorted((tmp_path / "out" / "stdin").glob("*-boot*"))
    assert len(directories) == boots
    assert all(len(report_dirs(directory)) == 1 for directory in directories)
    assert f"{boots} report(s)" in completed.stderr.decode()
