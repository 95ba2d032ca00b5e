"""Hostile and careless configs, found before the watcher needs them: names that would
become paths, serial settings no UART takes, repeated YAML keys, System.maps and
vmlinux files that cannot serve, hook timeouts that kill every hook; and saved logs
that are not plain files. Each is one line naming the file and key, exit code 2."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from oopswatch.cli import main

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_LOG = REPO / "examples" / "qemu-x86_64-nokallsyms-exception.log"
EXAMPLE_MAP = REPO / "examples" / "qemu-x86_64-nokallsyms.System.map"
TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def run_oopswatch(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """The command line, run in this process (the same `main` as the installed command,
    a second instead of a new interpreter each)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return subprocess.CompletedProcess(["oopswatch", *args], code, out.getvalue(), err.getvalue())


def one_line_error(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 2, (completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr
    [line] = completed.stderr.strip().splitlines()
    return line


def build(tmp_path: Path, system_map: str | None = None, vmlinux: Path | None = None) -> Path:
    directory = tmp_path / "build"
    directory.mkdir()
    if system_map is None:
        shutil.copy(EXAMPLE_MAP, directory / "System.map")
    else:
        (directory / "System.map").write_text(system_map)
    if vmlinux is not None:
        shutil.copy(vmlinux, directory / "vmlinux")
    return directory


def check_boards(tmp_path: Path, text: str, file: str = "lab.yaml") -> subprocess.CompletedProcess[str]:
    boards = tmp_path / "boards"
    boards.mkdir(exist_ok=True)
    (boards / file).write_text(text)
    return run_oopswatch("boards", "--check", "--boards", str(boards), timeout=60)


# -- names ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../x", "a/b", ".", "..", "reports.sqlite", ".hidden", "two words"])
def test_a_rack_entry_name_that_is_not_a_name_is_refused(tmp_path, name):
    rack = tmp_path / "lab" / "rack.yaml"
    rack.parent.mkdir()
    rack.write_text(f"output: out\nboards:\n  - name: {name!r}\n    port: /dev/ttyUSB9\n")
    line = one_line_error(run_oopswatch("rack", str(rack), "--duration", "1", timeout=60))
    assert line.startswith(f"oopswatch: {rack}: boards[0].name: {name!r} cannot be a board name")
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["lab", "rack.yaml"]  # nothing written


def test_a_board_file_name_that_is_not_a_name_is_refused(tmp_path):
    line = one_line_error(check_boards(tmp_path, "name: ../evil\narch: x86_64\n"))
    assert line.endswith("lab.yaml: name: '../evil' cannot be a board name: only letters, digits and '-', '_', "
                         "'.' may be used (not '/')")


def test_a_board_is_found_by_its_file_name_and_by_its_name(tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    (boards / "lab.yaml").write_text(f"name: lab-x86\narch: x86_64\nbuilds:\n  - {build(tmp_path)}\n")
    for name in ("lab", "lab-x86"):
        completed = run_oopswatch("scan", "--json", "--board", name, "--boards", str(boards), str(EXAMPLE_LOG))
        assert completed.returncode == 1, completed.stderr
        assert f'"title": "{TITLE}"' in completed.stdout
    (boards / "other.yaml").write_text("name: lab\narch: x86_64\n")  # claims the first one's file name
    line = one_line_error(run_oopswatch("boards", "--check", "--boards", str(boards)))
    assert "board name 'lab' is also" in line and "--board lab would find only one of them" in line


# -- serial settings and YAML -----------------------------------------------------------------

@pytest.mark.parametrize(("console", "message"), [
    ("baud: -5", "console.baud: -5: give the console's baud rate"),
    ("baud: 0", "console.baud: 0: give the console's baud rate"),
    ("data_bits: 99", "console.data_bits: 99: give 5, 6, 7 or 8"),
    ("stop_bits: 3", "console.stop_bits: 3: give 1, 1.5 or 2"),
    ("parity: maybe", "console.parity: 'maybe' is not one of none, even, odd, mark, space"),
])
def test_serial_settings_out_of_range(tmp_path, console, message):
    line = one_line_error(check_boards(tmp_path, f"name: lab\narch: x86_64\nconsole:\n  {console}\n"))
    assert line.endswith(f"lab.yaml: {message}") or message in line


def test_a_key_given_twice_is_an_error(tmp_path):
    line = one_line_error(check_boards(tmp_path, "name: lab\narch: x86_64\nconsole:\n  baud: 115200\n"
                                                 "  port: /dev/ttyUSB0\n  baud: 9600\n"))
    assert line.endswith("lab.yaml: line 6: key 'baud' given twice (the first is at line 4); keep one")


@pytest.mark.parametrize("timeout", ["-1", "0"])
def test_a_hook_timeout_must_be_positive(tmp_path, timeout):
    rack = tmp_path / "rack.yaml"
    rack.write_text(f"boards:\n  - name: a\n    port: /dev/ttyUSB9\nhooks:\n  commands: [[true]]\n"
                    f"  timeout: {timeout}\n")
    line = one_line_error(run_oopswatch("rack", str(rack), "--duration", "1", timeout=60))
    assert f"{rack}: hooks.timeout: {timeout}: give the seconds a hook may run, more than 0" in line


def test_a_report_budget_must_not_be_negative(tmp_path):
    rack = tmp_path / "rack.yaml"
    rack.write_text("report_budget: -1\nboards:\n  - name: a\n    port: /dev/ttyUSB9\n")
    assert "report_budget: -1" in one_line_error(run_oopswatch("rack", str(rack), "--duration", "1", timeout=60))


# -- what each build must hold ------------------------------------------------------------------

@pytest.mark.parametrize(("content", "message"), [
    ("", "the System.map holds no symbols"),
    ("this is not a map\n\x00\x01garbage\n", "line 1: not a System.map line"),
    ("ffffffffffffffff B The real System.map is in the linux-image-6.1.0-18-amd64-dbg package\n",
     "Debian's placeholder, not a symbol map; the real System.map is in the linux-image-6.1.0-18-amd64-dbg package"),
    ("ffffffff81e00000 D some_data\nffffffff81e00100 B some_bss\n",
     "no text (code) symbols in this System.map"),
])
def test_a_system_map_that_cannot_serve(tmp_path, content, message):
    directory = build(tmp_path, content)
    line = one_line_error(check_boards(tmp_path, f"name: lab\narch: x86_64\nbuilds:\n  - {directory}\n"))
    assert "lab.yaml: build build: " in line and message in line


def test_a_vmlinux_of_another_architecture(tmp_path):
    elf = Path(os.path.realpath(sys.executable))  # a real x86_64 ELF file (the test machine's)
    directory = build(tmp_path, vmlinux=elf)
    line = one_line_error(check_boards(tmp_path, f"name: lab\narch: arm64\nbuilds:\n  - {directory}\n"))
    assert line.endswith(f"{directory / 'vmlinux'} is a x86_64 kernel, the board is arm64")
    (directory / "vmlinux").write_text("not an ELF file\n")
    (tmp_path / "boards" / "lab.yaml").write_text(f"name: lab\narch: x86_64\nbuilds:\n  - {directory}\n")
    line = one_line_error(run_oopswatch("boards", "--check", "--boards", str(tmp_path / "boards")))
    assert "vmlinux: not an ELF file" in line


def test_a_good_board_passes(tmp_path):
    completed = check_boards(tmp_path, f"name: lab\narch: x86_64\nbuilds:\n  - {build(tmp_path)}\n")
    assert completed.returncode == 0, completed.stderr
    assert "board config(s) OK" in completed.stdout


# -- saved logs that are not plain files ---------------------------------------------------------

def test_scan_reads_a_fifo_and_process_substitution(tmp_path):
    fifo = tmp_path / "console.fifo"
    os.mkfifo(fifo)

    def feed() -> None:
        with fifo.open("wb") as writer:
            writer.write(EXAMPLE_LOG.read_bytes())
    writer = threading.Thread(target=feed)
    writer.start()
    completed = run_oopswatch("scan", "--system-map", str(EXAMPLE_MAP), str(fifo), timeout=60)
    writer.join()
    assert completed.returncode == 1, completed.stderr
    assert TITLE in completed.stdout
    gzipped = tmp_path / "console.log.gz"
    subprocess.run(["gzip", "-c", str(EXAMPLE_LOG)], stdout=gzipped.open("wb"), check=True)
    command = (f"{sys.executable} -m oopswatch scan --system-map {EXAMPLE_MAP} <(zcat {gzipped})")
    completed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert completed.returncode == 1, completed.stderr
    assert TITLE in completed.stdout


def test_scan_of_a_directory_says_so(tmp_path):
    line = one_line_error(run_oopswatch("scan", str(tmp_path)))
    assert line == f"oopswatch: {tmp_path}: is a directory; give the console log files in it"
    line = one_line_error(run_oopswatch("scan", str(tmp_path / "missing.log")))
    assert line == f"oopswatch: {tmp_path / 'missing.log'}: no such file"


@pytest.mark.parametrize(("written", "arch"), [("aarch64", "arm64"), ("riscv64", "riscv"), ("ppc64le", "powerpc"),
                                               ("armhf", "arm"), ("amd64", "x86_64"), ("mips", "mips")])
def test_arch_may_be_written_as_uname_or_debian_says_it(tmp_path, written, arch):
    from oopswatch.boards import load_board_file

    path = tmp_path / "b.yaml"
    path.write_text(f"name: b\narch: {written}\n")
    assert load_board_file(path).arch == arch
