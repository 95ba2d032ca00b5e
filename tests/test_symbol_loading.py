"""Loading builds under a lab's churn, on the real x86_64 test kernel: boards of a rack
share one loaded build and one addr2line process (counted among this process's real
children); a vmlinux replaced in place is loaded again and its old addr2line stopped; a
build that failed to load is tried again once its files change; the least recently used
build is closed, but not while a decode uses it; a hung addr2line costs one report its
file:line, within the deadline, and the next report has them again."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from oopswatch.boards import load_board_file
from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.console import split_lines
from oopswatch.decode import DecodedReport, decode
from oopswatch.detect import BootBanner, Detector, Report
from oopswatch.symbols.kernel import load_kernel_symbols
from oopswatch.symbols.loaded import LOADED, LoadedBuilds
from tests.kernels import boot, kernel_dir

pytestmark = pytest.mark.qemu  # every test here reads a QEMU test kernel

TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def addr2line_children(binary: Path) -> list[int]:
    """The addr2line processes this process started for `binary`, as the kernel lists them."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # it exited meanwhile
        parent = int(stat.rpartition(")")[2].split()[1])
        if parent == os.getpid() and command[0].endswith(b"addr2line") and str(binary).encode() in command:
            found.append(int(entry.name))
    return found


def banner_and_report(log: Path) -> tuple[BootBanner, Report]:
    detector = Detector()
    events = [event for line in split_lines([log.read_bytes()]) for event in detector.feed(line)]
    events += detector.finish()
    banner = next(event for event in events if isinstance(event, BootBanner))
    return banner, next(event for event in events if isinstance(event, Report) and event.crash)


@pytest.fixture
def fresh_cache():
    close_loaded_builds()
    yield LOADED
    close_loaded_builds()


def test_boards_sharing_a_build_load_it_once_with_one_addr2line(tmp_path, fresh_cache):
    directory = kernel_dir("x86_64", "kallsyms")
    (tmp_path / "lab.yaml").write_text(f"name: lab\narch: x86_64\nbuilds:\n  - {directory}\n")
    board = load_board_file(tmp_path / "lab.yaml")
    banner, report = banner_and_report(boot("x86_64", "kallsyms", "EXCEPTION").console_log)
    boards = 8
    start = threading.Barrier(boards)
    decoded = []

    def watch_one_board() -> None:
        chooser = BuildChooser(board, strict=False)  # each board of a rack has its own chooser
        chooser.on_banner(banner)
        start.wait()  # every board asks for the build at once
        decoded.append(decode(report, "board", chooser.symbolizer()))

    threads = [threading.Thread(target=watch_one_board) for _ in range(boards)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [result.title for result in decoded] == [TITLE] * boards
    assert all(result.frames[0].file == "drivers/misc/lkdtm/bugs.c" for result in decoded)
    assert len(fresh_cache.loaded()) == 1
    assert len(addr2line_children(directory / "vmlinux")) == 1
    close_loaded_builds()
    assert addr2line_children(directory / "vmlinux") == []


def test_a_vmlinux_replaced_in_place_is_loaded_again(tmp_path, fresh_cache):
    source = kernel_dir("x86_64", "kallsyms")
    build = tmp_path / "build"
    build.mkdir()
    for name in ("System.map", "banner", "vmlinux"):
        shutil.copy(source / name, build / name)
    vmlinux = build / "vmlinux"
    stripped = tmp_path / "vmlinux.stripped"
    subprocess.run(["objcopy", "--strip-debug", str(vmlinux), str(stripped)], check=True)
    banner, report = banner_and_report(boot("x86_64", "kallsyms", "EXCEPTION").console_log)
    chooser = BuildChooser(explicit={"system_map": str(build / "System.map"), "vmlinux": str(vmlinux)})
    chooser.on_banner(banner)

    first = decode(report, "board", chooser.symbolizer())
    assert first.frames[0].file == "drivers/misc/lkdtm/bugs.c"
    [old_process] = addr2line_children(vmlinux)

    shutil.copy(vmlinux, tmp_path / "vmlinux.full")
    os.replace(stripped, vmlinux)  # CI drops a new vmlinux in place: here one without debug info
    second = decode(report, "board", chooser.symbolizer())
    assert second.title == TITLE
    assert not any(frame.file for frame in second.frames)
    assert f"{vmlinux}: has no debug info (.debug_line), so no file:line; build with CONFIG_DEBUG_INFO" \
        in second.notes
    assert addr2line_children(vmlinux) == []  # the old version's addr2line is stopped
    assert not Path(f"/proc/{old_process}").exists()

    os.replace(tmp_path / "vmlinux.full", vmlinux)
    third = decode(report, "board", chooser.symbolizer())
    assert third.frames[0].file == "drivers/misc/lkdtm/bugs.c"
    assert len(addr2line_children(vmlinux)) == 1
    assert len(fresh_cache.loaded()) == 1


def test_a_build_that_failed_to_load_is_tried_again_when_its_files_change(tmp_path, fresh_cache):
    build = tmp_path / "build"
    build.mkdir()
    system_map = build / "System.map"
    system_map.write_text("ffffffff81000000 T _text\nffffffff8100")  # cut short while CI copies it
    banner, report = banner_and_report(boot("x86_64", "nokallsyms", "EXCEPTION").console_log)
    chooser = BuildChooser(explicit={"system_map": str(system_map)})
    chooser.on_banner(banner)
    broken = decode(report, "board", chooser.symbolizer())
    assert broken.notes[0] == f"{system_map}: line 2: not a System.map line (expected 'address type name', as nm " \
                              "prints it)"
    assert not any(frame.decoded for frame in broken.frames)
    assert decode(report, "board", chooser.symbolizer()).notes == broken.notes
    shutil.copy(kernel_dir("x86_64", "nokallsyms") / "System.map", system_map)  # the copy finished
    fixed = decode(report, "board", chooser.symbolizer())
    assert fixed.title == TITLE
    assert [frame.function for frame in fixed.frames][:2] == ["lkdtm_EXCEPTION", "direct_entry"]


def test_the_least_recently_used_build_is_closed_once_no_decode_uses_it():
    cache = LoadedBuilds(capacity=1)
    builds = [{"system_map": str(kernel_dir("x86_64", variant) / "System.map"),
               "vmlinux": str(kernel_dir("x86_64", variant) / "vmlinux")} for variant in ("kallsyms", "nokallsyms")]
    try:
        with cache.use(builds[0]) as first:
            assert len(addr2line_children(Path(builds[0]["vmlinux"]))) == 1
            with cache.use(builds[1]):  # evicts the first, which is still in use: kept open
                assert len(addr2line_children(Path(builds[0]["vmlinux"]))) == 1
                assert first.table.lookup(first.table.address_of("lkdtm_EXCEPTION")) is not None
            assert len(addr2line_children(Path(builds[1]["vmlinux"]))) == 1
        assert addr2line_children(Path(builds[0]["vmlinux"])) == []  # closed when its last user let go
        assert [symbols.vmlinux.path for symbols in cache.loaded()] == [builds[1]["vmlinux"]]
    finally:
        cache.close()
    assert addr2line_children(Path(builds[1]["vmlinux"])) == []


def test_a_hung_addr2line_costs_one_report_its_file_and_line(tmp_path, monkeypatch):
    """addr2line that never answers (its first start sleeps, as a process stuck on a dead
    NFS mount would): the decode returns at the deadline with a note and without
    file:line; the stuck process is killed, and the next decode starts a working one."""
    real = shutil.which("addr2line")
    assert real is not None
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    (wrappers / "addr2line").write_text(f"#!/bin/sh\nif mkdir {tmp_path}/started 2>/dev/null; then exec sleep 600; fi\n"
                                        f"exec {real} \"$@\"\n")
    (wrappers / "addr2line").chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
    directory = kernel_dir("x86_64", "kallsyms")
    _, report = banner_and_report(boot("x86_64", "kallsyms", "EXCEPTION").console_log)
    symbols = load_kernel_symbols(system_map=str(directory / "System.map"), vmlinux=str(directory / "vmlinux"),
                                  addr2line_timeout=3)
    try:
        [hung] = symbols.addr2line_processes  # the wrapper exec'd `sleep 600`: it never answers
        started = time.monotonic()
        first = decode(report, "board", symbols)
        took = time.monotonic() - started
        assert took < 30, took  # the deadline (3 s), not the 600 s sleep
        assert first.title == TITLE  # the names come from the map
        assert not any(frame.file for frame in first.frames)
        assert f"addr2line gave no answer within 3 s for {directory / 'vmlinux'}; restarted, this report has no " \
               "file:line" in first.notes
        assert not Path(f"/proc/{hung}").exists()  # killed and reaped
        second = decode(report, "board", symbols)
        assert second.frames[0].file == "drivers/misc/lkdtm/bugs.c"
        assert not any("no answer" in note for note in second.notes)
    finally:
        symbols.close()


def exception_decoded_plainly() -> tuple[Path, Report, dict[str, str], DecodedReport, list[tuple]]:
    """The x86_64 EXCEPTION oops decoded with nothing asked ahead: its log, report, the
    build's files, the decode and its frames' (function, file, line, inlined)."""
    directory = kernel_dir("x86_64", "kallsyms")
    log = boot("x86_64", "kallsyms", "EXCEPTION").console_log
    _, report = banner_and_report(log)
    load = {"system_map": str(directory / "System.map"), "vmlinux": str(directory / "vmlinux")}
    plain = load_kernel_symbols(**load)
    try:
        expected = decode(report, "log", plain)
    finally:
        plain.close()
    located = [(frame.function, frame.file, frame.line, frame.inlined) for frame in expected.frames]
    assert located[0] == ("lkdtm_EXCEPTION", "drivers/misc/lkdtm/bugs.c", 95, False)
    return log, report, load, expected, located


def test_file_and_line_asked_ahead_are_those_asked_when_decoding():
    """`oopswatch scan` asks addr2line ahead for the functions the start of its log names
    (while the detector is imported): the decode is the same as without, also when the
    process asked ahead died before its answers were read (the next one is asked again)."""
    log, report, load, expected, located = exception_decoded_plainly()
    for kill_first in (False, True):
        ahead = load_kernel_symbols(**load)
        try:
            ahead.prefetch_source_lines(log.read_text(errors="replace"))
            if kill_first:
                [process] = ahead.addr2line_processes
                os.kill(process, signal.SIGKILL)
                while ahead.addr2line_processes:  # reaped: the decode must start another
                    time.sleep(0.01)
            decoded = decode(report, "log", ahead)
            assert [(frame.function, frame.file, frame.line, frame.inlined) for frame in decoded.frames] == located
            assert decoded.notes == expected.notes
        finally:
            ahead.close()


def test_addr2line_started_ahead_is_the_one_the_build_takes_over():
    """`oopswatch scan --vmlinux` starts addr2line, and asks it about the functions its log
    names, before anything else is imported (symbols/head_start.py): the build loaded
    later takes that very process over, its answers included, and decodes exactly as
    without; a process started ahead that dies first, or that no build takes, costs
    nothing and is not left behind."""
    from oopswatch.symbols.addr2line_process import start_ahead, stop_started_ahead
    from oopswatch.symbols.head_start import start_addr2line_ahead

    log, report, load, expected, located = exception_decoded_plainly()
    directory = kernel_dir("x86_64", "kallsyms")
    vmlinux = directory / "vmlinux"
    assert addr2line_children(vmlinux) == []

    start_addr2line_ahead(str(vmlinux), load["system_map"], str(log))
    [started] = addr2line_children(vmlinux)
    symbols = load_kernel_symbols(**load)
    try:
        assert symbols.addr2line_processes == [started]
        decoded = decode(report, "log", symbols)
        assert [(frame.function, frame.file, frame.line, frame.inlined) for frame in decoded.frames] == located
        assert decoded.notes == expected.notes
        assert addr2line_children(vmlinux) == [started]
    finally:
        symbols.close()
    assert addr2line_children(vmlinux) == []

    assert start_ahead(str(vmlinux))
    [died] = addr2line_children(vmlinux)
    os.kill(died, signal.SIGKILL)
    os.waitpid(died, 0)
    symbols = load_kernel_symbols(**load)
    try:
        assert symbols.addr2line_processes not in ([], [died])
        decoded = decode(report, "log", symbols)
        assert [(frame.function, frame.file, frame.line, frame.inlined) for frame in decoded.frames] == located
    finally:
        symbols.close()

    assert start_ahead(str(vmlinux))
    assert len(addr2line_children(vmlinux)) == 1
    stop_started_ahead()  # a build refused, or one without debug info: nobody takes it
    assert addr2line_children(vmlinux) == []
    assert not start_ahead(str(directory / "System.map"))  # not an ELF file: no head start
