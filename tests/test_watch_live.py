"""Acceptance: `oopswatch [--board NAME] PORT` on real serial ports.

Everything here is real: pseudo-terminals opened through pyserial (the slave path is
what /dev/ttyUSB0 is to a user), a QEMU whose serial port is a pty, the `oopswatch`
command in a subprocess stopped with SIGINT, another process holding the port, and an
unprivileged user who may not open it.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from qemu.qmp.legacy import QEMUMonitorProtocol

from oopswatch.sinks.console_log import ConsoleLog, line_times
from tests import kernels
from tests.ptys import (
    BAUD_115200,
    Pty,
    StableLink,
    measure_report_latency,
    oops_block,
    oopswatch_command,
    ordinary_lines,
    paced_write,
    report_dirs,
    wait_for,
    watching,
    without_notes,
)

TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
RANDOM_SECONDS = float(os.environ.get("OOPSWATCH_RANDOM_SECONDS", "5"))

# Symbols from the board config, boards/qemu-x86_64.yaml (its builds are the test kernels'
# directories), as a user gives them; False gives the build's files instead.
USE_BOARD = True


def symbol_args(kernel: Path) -> list[str]:
    if USE_BOARD:
        return ["--board", "qemu-x86_64"]
    return ["--system-map", str(kernel / "System.map"), "--vmlinux", str(kernel / "vmlinux"), "--arch", "x86_64"]


@pytest.fixture(scope="module")
def kernel() -> Path:
    return kernels.kernel_dir("x86_64", "kallsyms")


@pytest.fixture(scope="module")
def exception_log() -> bytes:
    """A real console log: the test kernel oopsing in LKDTM's EXCEPTION (booted once per session)."""
    boot = kernels.boot("x86_64", "kallsyms", "EXCEPTION")
    assert boot.exit_code == 0, boot.stdout + boot.stderr
    return boot.console_log.read_bytes()


def load_reports(boot_dir: Path) -> list[dict]:
    return [json.loads((path / "report.json").read_text()) for path in report_dirs(boot_dir)]


def scan_json(kernel: Path, log: Path) -> list[dict]:
    """What `oopswatch scan` makes of a saved log."""
    completed = subprocess.run(oopswatch_command("scan", "--json", *symbol_args(kernel), str(log)),
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 1, completed.stderr  # 1: a crash report was found
    return [json.loads(line) for line in completed.stdout.splitlines()]


COMPARED = ("kind", "title", "crash", "corrupted", "start_line", "end_line", "end_reason", "arch", "frames",
            "text", "notes", "build")


def comparable(reports: list[dict]) -> list[dict]:
    return [{key: report[key] for key in COMPARED} for report in sorted(reports, key=lambda r: r["start_line"])]


def stderr_lines(text: str, needle: str) -> list[str]:
    return [line for line in text.splitlines() if needle in line]


# -- QEMU --------------------------------------------------------------------------------

class QemuOnPty:
    """The test kernel in QEMU with its serial port on a pty, paused (-S) until `start()`
    so that the watcher can open the pty before the first byte."""

    def __init__(self, kernel: Path, workdir: Path, crash: str):
        manifest = json.loads((kernel / "qemu.json").read_text())
        self.qmp_path = workdir / "qmp.sock"
        self.stderr_path = workdir / "qemu.stderr"
        self.qmp: QEMUMonitorProtocol | None = None
        argv = [manifest["qemu"], *manifest["machine_args"], *manifest["device_args"], "-nodefaults",
                "-display", "none", "-no-reboot", "-S", "-serial", "pty",
                "-qmp", f"unix:{self.qmp_path},server=on,wait=off",
                "-kernel", str(kernel / manifest["image"]), "-initrd", str(kernel / manifest["initrd"]),
                "-append", f"{manifest['append']} {manifest['crash_param']}={crash}"]
        with self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        try:
            self.pty_path = str(wait_for(self._pty, 30, what="QEMU's 'char device redirected to' line"))
        except BaseException:
            self.stop()
            raise

    def _pty(self) -> str | None:
        text = self.stderr_path.read_text(errors="replace")
        if self.process.poll() is not None:
            raise AssertionError(f"QEMU exited: {text}")
        match = re.search(r"char device redirected to (/dev/pts/\d+) \(label serial0\)", text)
        return match.group(1) if match else None

    def start(self) -> None:
        wait_for(self.qmp_path.exists, 10, what="QEMU's QMP socket")
        self.qmp = QEMUMonitorProtocol(str(self.qmp_path))
        self.qmp.connect()
        self.qmp.cmd("cont")

    def stop(self) -> None:
        if self.qmp is not None:
            self.qmp.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.mark.qemu
def test_qemu_console_on_a_pty_is_watched_and_decoded(kernel, tmp_path):
    qemu = QemuOnPty(kernel, tmp_path, "EXCEPTION")
    try:
        with watching(tmp_path, qemu.pty_path, "--quiet", *symbol_args(kernel)) as watch:
            boot_dir = watch.wait_watching()
            qemu.start()
            [report_dir] = wait_for(lambda: report_dirs(boot_dir), 90, 0.05, "the oops report")
            # The test init reboots after the oops; with -no-reboot QEMU exits and the pty goes away.
            wait_for(lambda: qemu.process.poll() is not None, 60, 0.05, "QEMU to exit")
            wait_for(lambda: "console lost" in watch.stderr(), 10, what="the watcher to notice")
            assert watch.interrupt() == 0
    finally:
        qemu.stop()
    report = json.loads((report_dir / "report.json").read_text())
    assert report["title"] == TITLE
    assert report["build"]["verified"] is True
    text = (report_dir / "report.txt").read_text()
    assert re.search(r"lkdtm_EXCEPTION\+0x[0-9a-f]+/0x[0-9a-f]+ drivers/misc/lkdtm/bugs\.c:\d+", text)
    assert (report_dir / "excerpt.log").read_text().count("\n") > 50  # 50 lines before, then the oops
    log = (boot_dir / "console.log").read_bytes()
    assert log.count(b"Linux version 6.1") == 1 and b"oopswatch-init: rebooting" in log  # the whole boot
    assert TITLE in watch.stdout()
    assert len(stderr_lines(watch.stderr(), "console lost")) == 1
    assert "Traceback" not in watch.stderr()


# -- a saved log replayed into a pty -----------------------------------------------------

@pytest.mark.qemu
def test_saved_log_at_115200_baud_gives_the_reports_scan_gives(kernel, exception_log, tmp_path):
    with Pty() as pty, watching(tmp_path, pty.path, "--quiet", *symbol_args(kernel)) as watch:
        boot_dir = watch.wait_watching()
        paced_write(pty, exception_log)
        log_path = boot_dir / "console.log"
        wait_for(lambda: log_path.stat().st_size >= len(exception_log), 10, what="every byte in the log")
        assert watch.interrupt() == 0
    assert log_path.read_bytes() == exception_log
    assert covered_lines(boot_dir / "console.times") == exception_log.count(b"\n")
    saved = tmp_path / "saved-console.log"
    saved.write_bytes(exception_log)
    live = comparable(load_reports(boot_dir))
    assert live == comparable(scan_json(kernel, saved))
    assert [report["title"] for report in live if report["crash"]] == [TITLE]


@pytest.mark.qemu
def test_ctrl_c_flushes_the_log_and_writes_the_open_report(kernel, exception_log, tmp_path):
    """Interrupted mid-oops, mid-line: exit 0, every byte on disk, the open report and JUnit written."""
    cut = exception_log.index(b"Call Trace:") + len(b"Call ")
    data = exception_log[:cut]
    junit = tmp_path / "watch.xml"
    with Pty() as pty, watching(tmp_path, pty.path, "--quiet", "--idle-timeout", "600", "--junit", str(junit),
                                *symbol_args(kernel)) as watch:
        boot_dir = watch.wait_watching()
        pty.write(data)  # all at once: a burst the watcher must keep up with
        log_path = boot_dir / "console.log"
        wait_for(lambda: log_path.stat().st_size >= len(data), 10, what="every byte in the log")
        time.sleep(0.2)
        assert report_dirs(boot_dir) == []  # the oops is still open: no end marker, no idle timeout
        assert watch.interrupt() == 0
    assert log_path.read_bytes() == data
    [report] = load_reports(boot_dir)
    assert report["end_reason"] == "end of input"
    assert report["title"].startswith("BUG: unable to handle kernel NULL pointer dereference")
    [case] = ET.parse(junit).getroot().iter("testcase")
    failure = case.find("failure")
    assert failure is not None and report["title"] in failure.text
    assert "Traceback" not in watch.stderr()


@pytest.mark.qemu
def test_board_config_gives_serial_settings_and_the_build_by_its_banner(kernel, exception_log, tmp_path):
    """`oopswatch --board NAME PORT`: the board's serial settings (the baud rate overridden
    with --baud), its name for the output directory, its build chosen by the boot banner."""
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "lab-x86.yaml").write_text(
        "name: lab-x86\narch: x86_64\nconsole:\n  baud: 57600\n  parity: even\n"
        f"builds:\n  - path: {kernel}\n")
    with Pty() as pty, watching(tmp_path, pty.path, "--quiet", "--boards", str(boards), "--board", "lab-x86",
                                "--baud", "230400") as watch:
        boot_dir = watch.wait_watching()
        pty.write(exception_log)
        wait_for(lambda: report_dirs(boot_dir), 20, what="the report")
        assert watch.interrupt() == 0
    assert f"watching {pty.path} (230400 8E1)" in watch.stderr()
    assert boot_dir.parent == tmp_path / "out" / "lab-x86"
    [report] = load_reports(boot_dir)
    assert report["title"] == TITLE
    assert (report["build"]["name"], report["build"]["chosen_by"], report["build"]["verified"]) == \
        (kernel.name, "banner", True)


@pytest.mark.qemu
def test_exit_on_oops_exits_1_after_the_first_crash_with_a_coloured_title(kernel, exception_log, tmp_path):
    """The title goes to the terminal in colour when stdout is a terminal (here a pty)."""
    terminal, terminal_slave = os.openpty()
    try:
        with Pty() as pty, watching(tmp_path, pty.path, "--quiet", "--exit-on-oops", *symbol_args(kernel),
                                    stdout=terminal_slave) as watch:
            os.close(terminal_slave)
            boot_dir = watch.wait_watching()
            pty.write(exception_log)
            assert watch.wait(timeout=20) == 1
            shown = os.read(terminal, 65536).decode(errors="replace")
    finally:
        os.close(terminal)
    [report] = load_reports(boot_dir)
    assert report["title"] == TITLE
    assert f"\x1b[1;31m*** oopswatch [{boot_dir.parent.name}] crash: {TITLE}" in shown


@pytest.mark.qemu
def test_each_report_is_written_when_its_end_marker_arrives(kernel, exception_log, tmp_path):
    """Each report is on disk before the next oops is written, while the console stays
    open (how fast: bench/report_latency.py)."""
    block = ordinary_lines(exception_log) + oops_block(exception_log)
    with Pty() as pty, watching(tmp_path, pty.path, "--quiet", *symbol_args(kernel)) as watch:
        boot_dir = watch.wait_watching()
        latencies = measure_report_latency(pty, boot_dir, [block] * 10)
        assert len(latencies) == 10 and watch.process.poll() is None
        assert watch.interrupt() == 0
    # The same oops again in one boot updates the first report.
    [report] = load_reports(boot_dir)
    assert (report["title"], report["repeats"]) == (TITLE, 9)
    assert "   repeated: 9 more times in this boot" in (report_dirs(boot_dir)[0] / "report.txt").read_text()


# -- faults --------------------------------------------------------------------------------

@pytest.mark.qemu
def test_unplugged_adapter_is_waited_for_and_nothing_is_lost(kernel, exception_log, tmp_path):
    """The adapter's stable path (a symlink, like /dev/serial/by-id/...) loses its pty mid-boot;
    a new pty appears under the same path and the boot goes on there."""
    lines = exception_log.splitlines(keepends=True)
    first, second = b"".join(lines[:len(lines) // 2]), b"".join(lines[len(lines) // 2:])
    assert b"BUG: kernel NULL pointer" in second
    old = Pty()
    link = StableLink(tmp_path / "usb-FTDI_FT232R-if00-port0", old)
    with watching(tmp_path, str(link.path), "--quiet", *symbol_args(kernel)) as watch:
        boot_dir = watch.wait_watching()
        log_path = boot_dir / "console.log"
        paced_write(old, first)
        wait_for(lambda: log_path.stat().st_size >= len(first), 10, what="the first half in the log")
        old.close()  # unplugged
        wait_for(lambda: "console lost" in watch.stderr(), 10, what="the watcher to notice the unplug")
        with Pty() as new:
            link.point_at(new)  # plugged in again
            paced_write(new, second)  # at once: what arrives before the watcher is back waits in the pty
            wait_for(lambda: without_notes(log_path.read_bytes()) == first + second, 10,
                     what="every byte in the log")
            wait_for(lambda: report_dirs(boot_dir), 10, what="the report after the gap")
            assert watch.interrupt() == 0
    log = log_path.read_bytes()
    assert log.startswith(first) and log.endswith(second)
    gap = log[len(first):len(log) - len(second)]
    assert re.fullmatch(rb"\[oopswatch [^\]]+\] console lost: [^\n]+\n"
                        rb"\[oopswatch [^\]]+\] console back after a gap of \d+\.\d s\n", gap), gap
    stderr = watch.stderr()
    assert len(stderr_lines(stderr, "console lost")) == 1 and len(stderr_lines(stderr, "console back")) == 1
    assert "Traceback" not in stderr
    [report] = load_reports(boot_dir)
    assert report["title"] == TITLE
    assert "drivers/misc/lkdtm/bugs.c:" in (report_dirs(boot_dir)[0] / "report.txt").read_text()
    # The notes went through the pipeline too: the report's line numbers are the log's.
    [scanned] = [r for r in scan_json(kernel, log_path) if r["crash"]]
    assert (scanned["start_line"], scanned["end_line"]) == (report["start_line"], report["end_line"])


class ConsoleServer:
    """The far end of a network console: QEMU's `-serial unix:PATH,server=on`, or a serial
    server (ser2net) for socket://host:port. `restart()` is QEMU exiting and starting again."""

    def __init__(self, kind: str, workdir: Path):
        self.kind = kind
        self.path = workdir / "console.sock"
        self.tcp_port = 0
        self.server = self._listen()
        self.port = f"unix:{self.path}" if kind == "unix" else f"socket://127.0.0.1:{self.tcp_port}"
        self.connection: socket.socket | None = None

    def _listen(self) -> socket.socket:
        if self.kind == "unix":
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.bind(str(self.path))
        else:
            server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(("127.0.0.1", self.tcp_port))
            self.tcp_port = server.getsockname()[1]
        server.listen(1)
        server.settimeout(20)
        return server

    def accept(self) -> None:
        self.connection, _ = self.server.accept()

    def send(self, data: bytes) -> None:
        assert self.connection is not None
        self.connection.sendall(data)

    def stop(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
        self.server.close()
        if self.kind == "unix":
            self.path.unlink(missing_ok=True)

    def restart(self) -> None:
        self.stop()
        self.server = self._listen()


@pytest.mark.qemu
@pytest.mark.parametrize("kind", ["unix", "tcp"])
def test_network_console_that_closes_and_comes_back_is_reconnected(kind, kernel, exception_log, tmp_path):
    """`unix:PATH` (QEMU) and `socket://host:port` (through pyserial): the far end closes
    mid-boot and comes back at the same address; the watcher carries on."""
    lines = exception_log.splitlines(keepends=True)
    first, second = b"".join(lines[:len(lines) // 2]), b"".join(lines[len(lines) // 2:])
    server = ConsoleServer(kind, tmp_path)
    try:
        with watching(tmp_path, server.port, "--quiet", *symbol_args(kernel)) as watch:
            server.accept()
            boot_dir = watch.wait_watching()
            server.send(first)
            server.restart()  # data, then end of stream: nothing sent is lost
            wait_for(lambda: "console lost" in watch.stderr(), 30, what="the watcher to notice")
            server.accept()
            server.send(second)
            log_path = boot_dir / "console.log"
            wait_for(lambda: report_dirs(boot_dir), 30, what="the report after the gap")
            wait_for(lambda: without_notes(log_path.read_bytes()) == first + second, 30,
                     what="every byte in the log")
            assert watch.interrupt() == 0
    finally:
        server.stop()
    log = log_path.read_bytes()
    assert log.startswith(first) and log.endswith(second)
    assert re.fullmatch(rb"\[oopswatch [^\]]+\] console lost: [^\n]+\n"
                        rb"\[oopswatch [^\]]+\] console back after a gap of \d+\.\d s\n",
                        log[len(first):len(log) - len(second)])
    [report] = load_reports(boot_dir)
    assert report["title"] == TITLE
    assert len(stderr_lines(watch.stderr(), "console lost")) == 1
    assert "Traceback" not in watch.stderr()


@pytest.mark.qemu
def test_stdin_is_watched_to_its_end(kernel, exception_log, tmp_path):
    """`oopswatch -`: a log piped in is logged and reported, and the watcher exits 0 at its end."""
    output = tmp_path / "out"
    completed = subprocess.run(oopswatch_command("--quiet", "--output", str(output), *symbol_args(kernel), "-"),
                               input=exception_log, capture_output=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    [boot_dir] = output.glob("*/*-boot1")  # under the board's name, or "stdin" without a board
    assert (boot_dir / "console.log").read_bytes() == exception_log
    assert [report["title"] for report in load_reports(boot_dir)] == [TITLE]
    assert TITLE.encode() in completed.stdout


@pytest.mark.qemu
def test_each_boot_has_its_log_and_its_reports_count_lines_in_it(exception_log, tmp_path):
    """Two boots in one stream (a reboot): a second boot directory whose console log
    starts at its banner, and report line numbers that point into that log."""
    first_boot = kernels.boot("x86_64", "nokallsyms", "WARNING").console_log.read_bytes()
    output = tmp_path / "out"
    completed = subprocess.run(oopswatch_command("--quiet", "--output", str(output), "--board", "qemu-x86_64", "-"),
                               input=first_boot + exception_log, capture_output=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    boots = sorted(output.glob("qemu-x86_64/*-boot*"), key=lambda path: path.name[-1])
    assert len(boots) == 2
    for boot_dir, title in zip(boots, ["WARNING in lkdtm_WARNING", TITLE], strict=True):
        [report] = [r for r in load_reports(boot_dir) if r["crash"]]
        assert report["title"] == title
        lines = (boot_dir / "console.log").read_text(errors="replace").splitlines()
        header = lines[report["start_line"] - 1]
        assert ("WARNING: CPU" if title.startswith("WARNING") else "BUG: kernel NULL pointer") in header
    assert b"Linux version" in (boots[1] / "console.log").read_bytes().splitlines()[1]


@pytest.mark.slow
def test_random_bytes_leave_the_watcher_running_and_the_log_exact(tmp_path):
    """RANDOM_SECONDS (OOPSWATCH_RANDOM_SECONDS, default 5) of random bytes at 115200 baud;
    bench/report_latency.py --random-minutes runs the same for longer and measures memory."""
    data = os.urandom(int(RANDOM_SECONDS * BAUD_115200))
    with Pty() as pty, watching(tmp_path, pty.path, stdout=subprocess.DEVNULL) as watch:
        boot_dir = watch.wait_watching()
        paced_write(pty, data)
        log_path = boot_dir / "console.log"
        wait_for(lambda: log_path.stat().st_size >= len(data), 10, what="every byte in the log")
        assert watch.process.poll() is None
        assert watch.interrupt() == 0
    assert log_path.read_bytes() == data
    assert boot_dir.parent.name == f"pts-{Path(pty.path).name}"  # no board: named after the port
    assert "Traceback" not in watch.stderr()


def run_watch(tmp_path: Path, port: str, prefix: tuple[str, ...] = (),
              output: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [*prefix, *oopswatch_command("--quiet", "--output", str(output or tmp_path / "out"), port)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, stdin=subprocess.DEVNULL)


def assert_port_error(completed: subprocess.CompletedProcess[str], port: str, *words: str) -> None:
    """Exit code 3 and one line on stderr that names the port and says what to do."""
    assert completed.returncode == 3, completed.stderr
    assert "Traceback" not in completed.stderr
    [line] = completed.stderr.splitlines()
    assert line.startswith(f"oopswatch: {port}: ")
    for word in words:
        assert word in line


def test_busy_port_is_one_line_and_exit_code_3(tmp_path):
    """Another program (here pyserial with exclusive=True, as picocom or labgrid would) holds it."""
    holder_code = ("import serial, sys, time; port = serial.Serial(sys.argv[1], exclusive=True); "
                   "print('held', flush=True); time.sleep(60)")
    with Pty() as pty:
        holder = subprocess.Popen([sys.executable, "-c", holder_code, pty.path], stdout=subprocess.PIPE,
                                  text=True)
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            completed = run_watch(tmp_path, pty.path)
        finally:
            holder.kill()
            holder.wait()
    assert_port_error(completed, pty.path, "busy", "fuser")
    assert not (tmp_path / "out").exists()


def test_missing_port_is_one_line_and_exit_code_3(tmp_path):
    port = str(tmp_path / "ttyUSB7")
    completed = run_watch(tmp_path, port)
    assert_port_error(completed, port, "no such port", "plugged in")


def test_refused_network_console_is_one_line_and_exit_code_3(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = f"socket://127.0.0.1:{unused.getsockname()[1]}"  # bound, not listening: refused
        completed = run_watch(tmp_path, port)
    assert_port_error(completed, port, "connection refused")


def test_permission_denied_is_one_line_and_exit_code_3(tmp_path):
    """As user nobody (keeping only CAP_DAC_READ_SEARCH, to read the Python installation
    under /root), on a pty whose mode is 000, through a symlink."""
    output = tmp_path / "shared"
    output.mkdir(mode=0o777)
    output.chmod(0o777)
    with Pty() as pty:
        link = StableLink(tmp_path / "ttyACM0", pty)
        os.chmod(link.path, 0)  # follows the link to the /dev/pts node
        assert os.stat(pty.path).st_mode & 0o777 == 0
        unprivileged = ("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                        "--inh-caps=+dac_read_search", "--ambient-caps=+dac_read_search")
        completed = run_watch(tmp_path, str(link.path), prefix=unprivileged, output=output / "out")
    assert_port_error(completed, str(link.path), "permission denied", "dialout")


def test_console_log_rotates_by_size_and_keeps_every_byte(tmp_path):
    """Rotation at chunk boundaries: the files, oldest first, hold every byte since the
    oldest kept one began; each console.times counts the lines of its own file."""
    log = ConsoleLog(tmp_path, max_bytes=4096, keep=3)
    chunks = [os.urandom(300).replace(b"\n", b".") + b"\n" + os.urandom(200).replace(b"\n", b".") for _ in range(41)]
    for chunk in chunks:
        log.write(chunk, host_time=1700000000.0)
    log.close()
    files = log.files()
    assert [path.name for path in files] == ["console.log.3", "console.log.2", "console.log.1", "console.log"]
    assert all(4096 - 501 < path.stat().st_size <= 4096 for path in files[:-1])  # full, at chunk boundaries
    kept = b"".join(path.read_bytes() for path in files)
    everything = b"".join(chunks)
    assert everything.endswith(kept) and len(kept) < len(everything)  # the oldest file went
    for path in files:
        times = path.with_name(path.name.replace("console.log", "console.times"))
        assert covered_lines(times) == path.read_bytes().count(b"\n")


def covered_lines(times: Path) -> int:
    """The lines a console.times file gives a time for, checked to be 1, 2, 3... in order."""
    expected = 1
    for first, last, stamp in line_times(times):
        assert first == expected and last >= first and stamp > 0
        expected = last + 1
    return expected - 1
