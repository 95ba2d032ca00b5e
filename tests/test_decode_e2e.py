"""Decoding real oopses of the QEMU test kernels: System.map alone, vmlinux for
file:line (checked against the kernel's own scripts/decode_stacktrace.sh), modules,
and the refusal of a System.map from another build."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oopswatch.symbols.system_map import cache_dir
from tests.kernels import ARCHES, boot, kernel_dir, run_oopswatch

CRASHES_WITH_TRACES = ("EXCEPTION", "BUG", "WARNING", "CORRUPT_STACK", "WRITE_RO", "REFCOUNT_INC_OVERFLOW",
                       "HUNG_TASK", "SOFTLOCKUP", "PANIC")

pytestmark = pytest.mark.qemu  # every test here boots or reads a QEMU test kernel


def scan_json(*args: str) -> tuple[int, list[dict], str]:
    completed = run_oopswatch("scan", "--json", *args)
    reports = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    return completed.returncode, reports, completed.stderr


def trace_functions(report: dict, log: Path | None = None, until: str | None = None) -> list[str]:
    """The call trace's function names, as a kernel developer reads the stack; with
    `until`, only those printed before the first line of the report (in `log`) that holds it."""
    last = None
    if log is not None and until is not None:
        lines = log.read_text(errors="replace").splitlines()[report["start_line"] - 1:report["end_line"]]
        last = next((report["start_line"] + index for index, line in enumerate(lines) if until in line), None)
    return [frame["function"] for frame in report["frames"]
            if frame["role"] == "trace" and frame["reliable"] and not frame["inlined"] and frame["function"]
            and (last is None or frame["log_line"] < last)]


@pytest.mark.parametrize("crash", CRASHES_WITH_TRACES)
@pytest.mark.parametrize("arch", ARCHES)
def test_bare_addresses_decode_to_the_names_kallsyms_prints(arch, crash):
    with_names = boot(arch, "kallsyms", crash).crash_reports()[0]
    bare = boot(arch, "nokallsyms", crash)
    system_map = kernel_dir(arch, "nokallsyms") / "System.map"
    status, reports, _ = scan_json("--system-map", str(system_map), str(bare.console_log))
    decoded = next(report for report in reports if report["crash"])
    assert status == 1
    assert decoded["title"] == with_names["title"]
    # The panic that follows a lockup prints the stack of the timer interrupt that found
    # it, which differs from boot to boot (PIT or APIC timer): the report's own stack is compared.
    until = "Kernel panic - not syncing" if crash in ("SOFTLOCKUP", "HUNG_TASK") else None
    expected = trace_functions(with_names, boot(arch, "kallsyms", crash).console_log, until)
    assert expected, "the KALLSYMS kernel printed a call trace"
    assert trace_functions(decoded, bare.console_log, until) == expected
    if crash == "EXCEPTION":
        assert expected[:5] == (["direct_entry", "full_proxy_write", "vfs_write", "ksys_write", "do_syscall_64"]
                                if arch == "x86_64" else
                                ["lkdtm_EXCEPTION", "direct_entry", "full_proxy_write", "vfs_write", "ksys_write"])


# The other build of the same release (6.1.192): the other variant; its addresses differ.
OTHER_VARIANT = {"kallsyms": "nokallsyms", "nokallsyms": "kallsyms"}


@pytest.mark.parametrize("variant", ("kallsyms", "nokallsyms"))
@pytest.mark.parametrize("arch", ARCHES)
def test_system_map_of_another_build_is_a_mismatch_not_a_decoding(arch, variant):
    log = boot(arch, variant, "EXCEPTION").console_log
    other_map = kernel_dir(arch, OTHER_VARIANT[variant]) / "System.map"
    _, reports, _ = scan_json("--system-map", str(other_map), str(log))
    report = next(report for report in reports if report["crash"])
    assert any(note.startswith("System.map does not match the running kernel:") for note in report["notes"])
    assert report["build"]["verified"] is False
    assert not any(frame["decoded"] or frame["file"] for frame in report["frames"])
    own_map = kernel_dir(arch, variant) / "System.map"
    _, reports, _ = scan_json("--system-map", str(own_map), str(log))
    assert any(frame["decoded"] for frame in reports[0]["frames"]) or reports[0]["build"]["verified"] is True


@pytest.mark.parametrize("arch", ARCHES)
def test_code_bytes_refuse_the_vmlinux_of_another_build_when_no_banner_tells(arch, tmp_path):
    """Bare addresses, and the watcher attached after the boot (no banner in the log):
    only the `Code:` line can tell that vmlinux holds other code at the crash site."""
    log = tmp_path / "attached-late.log"
    log.write_text("".join(line for line in boot(arch, "nokallsyms", "EXCEPTION").console_log.read_text()
                           .splitlines(keepends=True) if "Linux version" not in line))
    other, own = kernel_dir(arch, "kallsyms"), kernel_dir(arch, "nokallsyms")
    _, reports, _ = scan_json("--system-map", str(other / "System.map"), "--vmlinux", str(other / "vmlinux"),
                              str(log))
    refused = next(report for report in reports if report["crash"])
    assert refused["build"]["verified"] is False
    assert any(note.startswith("vmlinux does not match the running kernel: the code at the crash site differs")
               for note in refused["notes"]), refused["notes"]
    assert not any(frame["decoded"] for frame in refused["frames"])
    _, reports, _ = scan_json("--system-map", str(own / "System.map"), "--vmlinux", str(own / "vmlinux"), str(log))
    accepted = next(report for report in reports if report["crash"])
    assert accepted["build"]["verified"] is True
    assert accepted["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def test_a_map_from_another_architecture_disagrees_frame_by_frame(tmp_path):
    log = boot("arm64", "kallsyms", "WARNING").console_log
    x86_map = tmp_path / "System.map"  # alone: no banner beside it, only its frames can tell
    shutil.copy(kernel_dir("x86_64", "kallsyms") / "System.map", x86_map)
    _, reports, _ = scan_json("--system-map", str(x86_map), str(log))
    report = next(report for report in reports if report["crash"])
    note = next(note for note in report["notes"] if note.startswith("System.map does not match"))
    assert re.search(r": (\d+) of \1 frames disagree", note)


def decode_stacktrace(arch: str, vmlinux: Path, lines: list[str]) -> list[list[str]]:
    """file:line for each of `lines` (stack frame lines), as the kernel's own
    scripts/decode_stacktrace.sh prints them: one output line per input line."""
    script = cache_dir() / "src" / "linux-source-6.1" / "scripts" / "decode_stacktrace.sh"
    environment = dict(os.environ, CROSS_COMPILE="aarch64-linux-gnu-" if arch == "arm64" else "")
    output = subprocess.run(["bash", str(script), str(vmlinux), "auto"], input="\n".join(lines) + "\n",
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment,
                            check=True).stdout.splitlines()
    assert len(output) == len(lines), output
    # Assembly files keep their absolute path in DWARF, and decode_stacktrace.sh prints it
    # as it is; oopswatch prints every path relative to the source tree.
    source_root = str(script.parents[1]) + "/"
    locations = []
    for line in output:
        found = re.search(r"\((.*)\)\s*$", line)
        text = re.sub(r"\(discriminator \d+\)", "", found.group(1)) if found else ""
        locations.append([location.removeprefix(source_root) for location in re.findall(r"(\S+:\d+)", text)])
    return locations


@pytest.mark.parametrize("crash", ("EXCEPTION", "WARNING", "BUG"))
@pytest.mark.parametrize("arch", ARCHES)
def test_file_and_line_equal_decode_stacktrace(arch, crash):
    directory = kernel_dir(arch, "kallsyms")
    log = boot(arch, "kallsyms", crash).console_log
    _, reports, _ = scan_json("--system-map", str(directory / "System.map"), "--vmlinux", str(directory / "vmlinux"),
                              str(log))
    report = next(report for report in reports if report["crash"])
    raw_lines = log.read_text(errors="replace").splitlines()
    ours: dict[int, list[str]] = {}
    for frame in report["frames"]:
        if frame["file"]:
            ours.setdefault(frame["log_line"], []).append(f"{frame['file']}:{frame['line']}")
    numbers = sorted(ours)
    assert len(numbers) >= 5
    theirs = decode_stacktrace(arch, directory / "vmlinux", [raw_lines[number - 1] for number in numbers])
    for number, locations in zip(numbers, theirs, strict=True):
        assert ours[number] == locations, raw_lines[number - 1]


@pytest.mark.parametrize("variant", ("kallsyms", "nokallsyms"))
def test_a_kaslr_boot_decodes_through_the_kernel_offset(variant, tmp_path):
    """The x86_64 test kernels have KASLR built in; booted without `nokaslr` (and with
    oops=panic, so the panic prints `Kernel Offset:`), every address is shifted. The
    kernel without KALLSYMS decodes through that line; both give the nokaslr names and,
    through vmlinux, the lines of the source."""
    directory = kernel_dir("x86_64", variant)
    completed = run_oopswatch(
        "qemu", "--kernel", str(directory / "bzImage"), "--initrd", str(directory / "initramfs.cpio.gz"),
        "--arch", "x86_64", "--append", "console=ttyS0 panic=-1 oops=panic", "--crash", "EXCEPTION",
        "--expect", "oops", "--output", str(tmp_path), "--json", "--system-map", str(directory / "System.map"),
        "--vmlinux", str(directory / "vmlinux"), "--timeout", "90")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = next(json.loads(line) for line in completed.stdout.splitlines()
                  if line.startswith("{") and json.loads(line)["crash"])
    [console_log] = tmp_path.glob("*/*/console.log")
    offset = re.search(r"Kernel Offset: 0x([0-9a-f]+) from 0xffffffff81000000", console_log.read_text())
    assert offset is not None, "the kernel booted with KASLR and panicked"
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert trace_functions(report) == trace_functions(boot("x86_64", "kallsyms", "EXCEPTION").crash_reports()[0])
    crash_site = report["frames"][0]
    assert (crash_site["function"], crash_site["file"]) == ("lkdtm_EXCEPTION", "drivers/misc/lkdtm/bugs.c")
    if variant == "nokallsyms" and int(offset.group(1), 16):  # KASLR may, rarely, keep the link address
        assert f"KASLR offset 0x{offset.group(1)} (Kernel Offset line)" in report["notes"], report["notes"]


def test_frames_in_a_module_resolve_through_its_ko():
    result = boot("x86_64", "kallsyms", "MODULE_EXCEPTION")
    report = result.crash_reports()[0]
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in oopswatch_crash_exception"
    module_frames = [frame for frame in report["frames"] if frame["module"] == "oopswatch_crash"]
    assert module_frames
    assert all(frame["file"] and frame["file"].endswith("oopswatch_crash.c") for frame in module_frames)


def test_module_addresses_without_kallsyms_are_labelled_as_module_addresses():
    result = boot("x86_64", "nokallsyms", "MODULE_EXCEPTION")
    report = result.crash_reports()[0]
    assert any("a module address" in note for note in report["notes"])


# -- bad input: one line naming the file; the report is still written, undecoded ----------

@pytest.fixture(scope="module")
def exception_log() -> Path:
    return boot("x86_64", "kallsyms", "EXCEPTION").console_log


@pytest.mark.parametrize(("content", "expected"), [
    ("ffffffff81000000 T _text\nffffffff81000100 T start_kern", None),  # truncated mid-name: still a map
    ("ffffffff81000000 T _text\nffffffff8100", "line 2: not a System.map line"),
    ("ffffffff81000000 T _text\n%%% garbage %%%\n", "line 2: not a System.map line"),
    ("", "holds no symbols"),
])
def test_bad_system_maps(tmp_path, exception_log, content, expected):
    bad = tmp_path / "System.map"
    bad.write_text(content)
    status, reports, stderr = scan_json("--system-map", str(bad), str(exception_log))
    [report] = [report for report in reports if report["crash"]]
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert "Traceback" not in stderr
    if expected is None:
        assert status == 1  # a map, but not this kernel's: the mismatch is in the report
        assert report["build"]["verified"] is False
    else:
        assert status == 2
        [line] = stderr.splitlines()
        assert str(bad) in line and expected in line


def test_non_elf_vmlinux(tmp_path, exception_log):
    fake = tmp_path / "vmlinux"
    fake.write_text("not an ELF file\n")
    status, reports, stderr = scan_json("--vmlinux", str(fake), str(exception_log))
    assert status == 2
    [line] = stderr.splitlines()
    assert line.startswith(f"oopswatch: {fake}: not an ELF file")
    assert reports and not any(frame["file"] for frame in reports[0]["frames"])


def test_vmlinux_without_debug_info(tmp_path, exception_log):
    directory = kernel_dir("x86_64", "kallsyms")
    stripped = tmp_path / "vmlinux"
    subprocess.run([shutil.which("objcopy") or "objcopy", "--strip-debug", str(directory / "vmlinux"), str(stripped)],
                   check=True)
    status, reports, stderr = scan_json("--system-map", str(directory / "System.map"), "--vmlinux", str(stripped),
                                        str(exception_log))
    assert status == 1
    [line] = stderr.splitlines()
    assert f"{stripped}: has no debug info" in line
    report = next(report for report in reports if report["crash"])
    assert report["build"]["verified"] is True
    assert not any(frame["file"] for frame in report["frames"])
