"""A lab rack on real pseudo-terminals: 16 boards in one `oopswatch rack` process, four of
them QEMU test kernels that oops, the rest replaying real console logs; the report index
de-duplicates by title across boards; faults in the index never cost console bytes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.kernels import boot, kernel_dir, run_oopswatch
from tests.ptys import Pty, paced_write, wait_for, without_notes
from tests.test_watch_live import QemuOnPty

EXCEPTION = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
WARNING = "WARNING in lkdtm_WARNING"
BUG = "kernel BUG in lkdtm_BUG"
PANIC = "kernel panic: dumptest"

# (name, board config, QEMU kernel or replayed log, crash, expected first title)
QEMU_BOARDS = [
    ("qemu-x86-1", "qemu-x86_64", ("x86_64", "kallsyms"), "EXCEPTION", EXCEPTION),
    ("qemu-x86-2", "qemu-x86_64", ("x86_64", "nokallsyms"), "EXCEPTION", EXCEPTION),
    ("qemu-arm-1", "qemu-arm64", ("arm64", "kallsyms"), "WARNING", WARNING),
    ("qemu-arm-2", "qemu-arm64", ("arm64", "nokallsyms"), "BUG", BUG),
]
REPLAYED_BOARDS = (
    [(f"x86-{i}", "qemu-x86_64", ("x86_64", "kallsyms"), "EXCEPTION", EXCEPTION) for i in range(4)]
    + [(f"arm-{i}", "qemu-arm64", ("arm64", "kallsyms"), "WARNING", WARNING) for i in range(4)]
    + [(f"x86w-{i}", "qemu-x86_64", ("x86_64", "nokallsyms"), "WARNING", WARNING) for i in range(2)]
    + [(f"x86p-{i}", "qemu-x86_64", ("x86_64", "nokallsyms"), "PANIC", PANIC) for i in range(2)]
)


def rack_file(path: Path, entries: list[tuple[str, str, str]], output: Path) -> Path:
    lines = [f"output: {output}", "boards:"]
    for name, board, port in entries:
        lines += [f"  - name: {name}", f"    board: {board}", f"    port: {port}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class RackProcess:
    def __init__(self, rack: Path, workdir: Path, *args: str):
        workdir.mkdir(parents=True, exist_ok=True)
        self.stdout_path = workdir / "rack.stdout"
        self.stderr_path = workdir / "rack.stderr"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "oopswatch", "rack", str(rack), *args],
                                            stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def log(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_watching(self, count: int, timeout: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"rack exited: {self.stderr_path.read_text()} {self.log()}")
            return len(re.findall(r": watching ", self.log())) >= count
        wait_for(ready, timeout, what=f"{count} boards watching")

    def stop(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def problems(output: Path) -> dict[str, dict]:
    completed = run_oopswatch("reports", "--output", str(output), "--json", "--all")
    assert completed.returncode == 0, completed.stderr
    return {problem["title"]: problem for problem in map(json.loads, completed.stdout.splitlines())}


@pytest.mark.qemu
def test_rack_of_16_boards_reports_and_deduplicates(tmp_path):
    output = tmp_path / "out"
    qemus = []
    for name, _, kernel, crash, _ in QEMU_BOARDS:
        (tmp_path / name).mkdir()
        qemus.append(QemuOnPty(kernel_dir(*kernel), tmp_path / name, crash))
    replay_ptys = [Pty() for _ in REPLAYED_BOARDS]
    entries = [(name, board, qemu.pty_path) for (name, board, *_), qemu in zip(QEMU_BOARDS, qemus, strict=True)]
    entries += [(name, board, pty.path) for (name, board, *_), pty in zip(REPLAYED_BOARDS, replay_ptys, strict=True)]
    rack = RackProcess(rack_file(tmp_path / "rack.yaml", entries, output), tmp_path)
    written: dict[str, bytes] = {}
    try:
        rack.wait_watching(16)
        for qemu in qemus:
            qemu.start()
        threads = []
        for (name, _, kernel, crash, _), pty in zip(REPLAYED_BOARDS, replay_ptys, strict=True):
            data = boot(*kernel, crash).console_log.read_bytes()
            written[name] = data
            threads.append(threading.Thread(target=paced_write, args=(pty, data)))
            threads[-1].start()
        for thread in threads:
            thread.join()
        expected = {name: title for name, _, _, _, title in QEMU_BOARDS + REPLAYED_BOARDS}

        def all_reported() -> bool:
            found = {name: list((output / name).glob("*/report-*/report.json")) for name in expected}
            return all(found.values())
        wait_for(all_reported, 60, interval=0.2, what="a report from every board")
        time.sleep(3)  # the index thread catches up; reboots and follow-ups settle
        assert rack.stop() == 0
    finally:
        rack.kill()
        for qemu in qemus:
            with contextlib.suppress(EOFError):  # QEMU exited by itself after the oops
                qemu.stop()
        for pty in replay_ptys:
            pty.close()

    for name, title in expected.items():
        reports = [json.loads(path.read_text()) for path in sorted((output / name).glob("*/report-*/report.json"))]
        first = next(report for report in reports if report["crash"])
        assert first["title"] == title, name
        assert first["build"]["verified"] is not False, name
    for name, data in written.items():  # every byte of every replayed console reached its log
        [log] = list((output / name).glob("*/console.log"))
        assert without_notes(log.read_bytes()) == data, name

    index = problems(output)
    counts = {title: index[title]["count"] for title in (EXCEPTION, WARNING, BUG, PANIC)}
    assert counts == {EXCEPTION: 6, WARNING: 7, BUG: 1, PANIC: 2}
    assert sorted(index[EXCEPTION]["boards"]) == sorted(["qemu-x86-1", "qemu-x86-2"] + [f"x86-{i}" for i in range(4)])
    assert sorted(index[EXCEPTION]["builds"]) == ["x86_64-kallsyms", "x86_64-nokallsyms"]
    rows = sqlite3.connect(output / "reports.sqlite").execute(
        "SELECT board, report_dir FROM reports WHERE title = ?", (WARNING,)).fetchall()
    assert len(rows) == 7 and all(Path(report_dir, "report.json").is_file() for _, report_dir in rows)
    assert rack.log().count("new problem: ") == len(index)  # each title announced once


@pytest.mark.slow
def test_a_second_rack_on_the_same_output_refuses(tmp_path):
    output = tmp_path / "out"
    with Pty() as pty:
        rack = RackProcess(rack_file(tmp_path / "rack.yaml", [("one", "qemu-x86_64", pty.path)], output), tmp_path)
        try:
            rack.wait_watching(1)
            second = run_oopswatch("rack", str(tmp_path / "rack.yaml"), "--duration", "5")
            assert second.returncode == 2
            [line] = second.stderr.strip().splitlines()
            assert re.match(rf"oopswatch: {re.escape(str(output))}: already in use by oopswatch "
                            rf"\(pid {rack.process.pid}", line)
            # A lab daemon is stopped with SIGTERM (systemd, kill): a clean exit that frees the output.
            assert rack.stop(signal.SIGTERM) == 0
        finally:
            rack.kill()
        assert run_oopswatch("rack", str(tmp_path / "rack.yaml"), "--duration", "1").returncode == 0


@pytest.mark.qemu
def test_a_stuck_and_killed_index_writer_costs_no_console_bytes(tmp_path):
    """Another process holds the index's write lock, and is killed in the middle of its
    transaction: the rack says so once, keeps every console byte, and records the held
    reports when the index is free again; a restarted rack reads the same index."""
    output = tmp_path / "out"
    log = boot("x86_64", "kallsyms", "EXCEPTION").console_log.read_bytes()
    with Pty() as first, Pty() as second:
        rack = RackProcess(rack_file(tmp_path / "rack.yaml", [("a", "qemu-x86_64", first.path),
                                                              ("b", "qemu-x86_64", second.path)], output), tmp_path)
        try:
            rack.wait_watching(2)
            wait_for((output / "reports.sqlite").exists, 10, what="the index")
            locker = subprocess.Popen([sys.executable, "-c", (
                "import sqlite3, sys, time\n"
                f"db = sqlite3.connect({str(output / 'reports.sqlite')!r}, isolation_level=None)\n"
                "db.execute('BEGIN EXCLUSIVE')\n"
                "db.execute(\"INSERT INTO problems(title, kind, crash) VALUES ('half-written', 'bug', 1)\")\n"
                "print('locked', flush=True)\n"
                "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
            assert locker.stdout.readline().strip() == "locked"
            first.write(log)
            second.write(log)
            wait_for(lambda: "index: " in rack.log(), 30, what="the index error")
            locker.send_signal(signal.SIGKILL)  # killed mid-write
            locker.wait()
            wait_for(lambda: problems(output).get(EXCEPTION, {}).get("count") == 2, 30, interval=0.2,
                     what="the held reports in the index")
            assert rack.stop() == 0
        finally:
            rack.kill()
    index_messages = [line for line in rack.log().splitlines() if " index: " in line]
    assert 1 <= len(index_messages) <= 2  # the failure once, the recovery once
    assert "half-written" not in problems(output)
    for name in ("a", "b"):
        [console] = list((output / name).glob("*/console.log"))
        assert without_notes(console.read_bytes()) == log
    # A new rack on the same output: the index is intact and counts on.
    with Pty() as third:
        rack_file(tmp_path / "again.yaml", [("c", "qemu-x86_64", third.path)], output)
        again = RackProcess(tmp_path / "again.yaml", tmp_path / "again")
        try:
            again.wait_watching(1)
            third.write(log)
            wait_for(lambda: problems(output).get(EXCEPTION, {}).get("count") == 3, 30, interval=0.2,
                     what="the third report")
            assert again.stop() == 0
        finally:
            again.kill()
    assert sqlite3.connect(output / "reports.sqlite").execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize(("content", "message"), [
    ("boards:\n  - name: x\n    prot: /dev/ttyUSB0\n", "unknown key 'boards[0].prot'; did you mean 'boards[0].port'?"),
    ("boards: []\n", "no boards listed"),
    ("boards:\n  - name: x\n    port: /dev/a\n  - name: x\n    port: /dev/b\n", "repeated: x"),
])
def test_bad_rack_files(tmp_path, content, message):
    rack = tmp_path / "rack.yaml"
    rack.write_text(content)
    completed = run_oopswatch("rack", str(rack), "--duration", "1")
    assert completed.returncode == 2
    [line] = completed.stderr.strip().splitlines()
    assert str(rack) in line and message in line


@pytest.mark.slow
def test_status_is_plain_lines_when_not_a_terminal(tmp_path):
    with Pty() as pty:
        rack_file(tmp_path / "rack.yaml", [("plain", "qemu-x86_64", pty.path)], tmp_path / "out")
        completed = run_oopswatch("rack", str(tmp_path / "rack.yaml"), "--duration", "2")
    assert completed.returncode == 0, completed.stderr
    assert "\x1b[" not in completed.stdout
    assert re.search(r"^\d\d:\d\d:\d\d plain: (up|connecting)", completed.stdout, re.MULTILINE)
    assert os.path.isdir(tmp_path / "out" / "plain")


@pytest.mark.slow
def test_a_rack_killed_mid_flood_is_carried_on_by_the_next(tmp_path):
    """kill -9 of the rack while two boards pour out oopses; a new rack on the same
    output carries on with each board's boot: every oops in each console log reported
    exactly once (as `scan` finds them), every byte in the logs (but what each tty
    discards when its reader is killed)."""
    from tests.floods import SYSTEM_MAP, counted_reports, lost_at_a_kill, oopses, scan_json

    output = tmp_path / "out"
    data = {name: oopses(40, start) * 3 for name, start in (("a", 0), ("b", 40))}
    with Pty() as first, Pty() as second:
        ptys = {"a": first, "b": second}
        rack = tmp_path / "rack.yaml"
        rack.write_text(f"output: {output}\nreport_budget: 0\nboards:\n" + "".join(
            f"  - name: {name}\n    port: {pty.path}\n    system_map: {SYSTEM_MAP}\n" for name, pty in ptys.items()))
        killed = RackProcess(rack, tmp_path / "first")
        try:
            killed.wait_watching(2)
            writers = [threading.Thread(target=ptys[name].write, args=(data[name],)) for name in ptys]
            for writer in writers:
                writer.start()
            wait_for(lambda: len(list(output.glob("*/*/report-*"))) >= 20, 60, what="reports before the kill")
            killed.process.send_signal(signal.SIGKILL)
            killed.process.wait()
        finally:
            killed.kill()
        again = RackProcess(rack, tmp_path / "second")
        try:
            again.wait_watching(2)
            for writer in writers:
                writer.join()
            for name in ptys:
                [log] = list((output / name).glob("*/console.log"))
                wait_for(lambda log=log, name=name: log.read_bytes().endswith(data[name][-4096:]), 60,
                         what=f"the last bytes of {name} logged")
            time.sleep(2)
            assert again.stop() == 0
        finally:
            again.kill()
    assert again.log().count("carrying on after a watcher that stopped without finishing") == 2
    for name in ptys:
        [log] = list((output / name).glob("*/console.log"))  # one boot, carried on
        assert lost_at_a_kill(data[name], without_notes(log.read_bytes())) <= 65536, name  # the tty's, at the kill
        _, reports, _ = scan_json(log, tmp_path / f"{name}.jsonl", "--system-map", str(SYSTEM_MAP), "--arch",
                                  "x86_64")
        expected = Counter(report["title"] for report in reports)
        assert counted_reports(output / name) == expected, name
    assert "Traceback" not in again.log()
