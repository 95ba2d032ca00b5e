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
from tests.kernels import BUILDS, CRASH_TYPES, CROSS_COMPILE, PAIRED_ARCHES, boot, kernel_dir, run_oopswatch
from tests.lkdtm_expected import expected

# Both variants: the bare addresses of the one without KALLSYMS against the names of the other.
KALLSYMS_ARCHES = tuple(arch for arch, variant in BUILDS if variant == "kallsyms")
# decode_stacktrace.sh and the Code: bytes check know these two.
ARCHES = ("x86_64", "arm64")


def crashes_of(arches: tuple[str, ...], variant: str) -> list[tuple[str, str]]:
    """(arch, crash type) for every crash type that gives a report on the arch."""
    return [(arch, crash) for arch in arches for crash in CRASH_TYPES
            if expected(arch, variant, crash).message is None]

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


@pytest.mark.parametrize(("arch", "crash"), crashes_of(PAIRED_ARCHES, "nokallsyms"))
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
    # A frame in data (EXEC_DATA jumps into data_area) is named as data, beside its
    # address, not as a function: kallsyms names it like any symbol.
    data = {name for line in decoded["text"] for name in re.findall(r"\(data: ([\w.]+)\+", line)}
    expected = [function for function in expected if function not in data]
    got = trace_functions(decoded, bare.console_log, until)
    if crash == "SOFTLOCKUP":
        # The watchdog's interrupt lands anywhere in the busy loop: in lkdtm_SOFTLOCKUP
        # itself or in the cpu_relax() it calls, from boot to boot: one innermost frame more or less.
        depth = min(len(got), len(expected))
        assert depth >= 3 and abs(len(got) - len(expected)) <= 1, (got, expected)
        got, expected = got[len(got) - depth:], expected[len(expected) - depth:]
    # Only a jump into data may leave no call trace: riscv's unwinder gives up on EXEC_DATA,
    # with or without KALLSYMS.
    assert expected or crash == "EXEC_DATA", "the KALLSYMS kernel printed a call trace"
    assert got == expected
    if crash == "EXCEPTION" and arch in ARCHES:
        assert expected[:5] == (["direct_entry", "full_proxy_write", "vfs_write", "ksys_write", "do_syscall_64"]
                                if arch == "x86_64" else
                                ["lkdtm_EXCEPTION", "direct_entry", "full_proxy_write", "vfs_write", "ksys_write"])


# The other build of the same release (6.1.192): the other variant; its addresses differ.
OTHER_VARIANT = {"kallsyms": "nokallsyms", "nokallsyms": "kallsyms"}


@pytest.mark.parametrize("variant", ("kallsyms", "nokallsyms"))
@pytest.mark.parametrize("arch", PAIRED_ARCHES)
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
    environment = dict(os.environ, CROSS_COMPILE=CROSS_COMPILE[arch])
    output = subprocess.run(["bash", str(script), str(vmlinux), "auto"], input="\n".join(lines) + "\n",
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=environment,
                            check=True).stdout.splitlines()
    assert len(output) == len(lines), output
    # Assembly files keep their absolute path in DWARF, and decode_stacktrace.sh prints it
    # as it is; oopswatch prints every path relative to the source tree. (The tree may have
    # been elsewhere when the cached kernel was built: any directory of that tree's name.)
    source_root = re.compile(r"^/\S*/" + re.escape(script.parents[1].name) + "/")
    locations = []
    for line in output:
        found = re.search(r"\((.*)\)\s*$", line)
        text = re.sub(r"\(discriminator \d+\)", "", found.group(1)) if found else ""
        locations.append([source_root.sub("", location) for location in re.findall(r"(\S+:\d+)", text)])
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


def addr2line(arch: str, vmlinux: Path, address: int) -> list[str]:
    """file:line of `address`, innermost inlined function first, as the cross binutils'
    addr2line prints them (`?` where it knows none)."""
    output = subprocess.run([f"{CROSS_COMPILE[arch]}addr2line", "-i", "-e", str(vmlinux), f"{address:#x}"],
                            capture_output=True, text=True, check=True).stdout
    # Assembly files keep the absolute path of the tree they were built in; oopswatch
    # prints every path relative to the source tree.
    relative = (re.sub(r"^/.*?/linux-source-6\.1/", "", line) for line in output.splitlines())
    return ["?" if line.startswith("??") else re.sub(r" \(discriminator \d+\)", "", line) for line in relative]


def symbol_addresses(system_map: Path) -> dict[str, int]:
    return {fields[2]: int(fields[0], 16) for fields in (line.split() for line in system_map.read_text().splitlines())
            if len(fields) == 3}


# EXEC_DATA's pc is in data_area, a variable: no source line to compare; a report without
# a stack (mips panics without DEBUG_BUGVERBOSE) has no crash site.
@pytest.mark.parametrize(("arch", "crash"), [(arch, crash) for arch, crash in crashes_of(KALLSYMS_ARCHES, "kallsyms")
                                             if crash != "EXEC_DATA" and expected(arch, "kallsyms", crash).site])
def test_file_and_line_of_the_crash_site_equal_addr2line(arch, crash):
    """The crash site (the pc the report prints, else the frame the title blames)
    decoded through vmlinux: its file:line, with the functions inlined there, are the
    cross binutils' addr2line's for the same address."""
    directory = kernel_dir(arch, "kallsyms")
    log = boot(arch, "kallsyms", crash).console_log
    _, reports, _ = scan_json("--system-map", str(directory / "System.map"), "--vmlinux", str(directory / "vmlinux"),
                              str(log))
    report = next(report for report in reports if report["crash"])
    outer = [frame for frame in report["frames"] if not frame["inlined"] and frame["offset"] is not None]
    assert outer, f"no frames in the report {report['title']!r}"
    blamed = expected(arch, "kallsyms", crash).site
    site = next((frame for frame in outer if frame["role"] == "pc"), None) or next(
        (frame for frame in outer if frame["function"] == blamed), None)
    assert site is not None, f"no pc and no {blamed} frame in the report {report['title']!r}"
    inlined_here = [frame for frame in report["frames"] if frame["inlined"] and frame["log_line"] == site["log_line"]]
    ours = [f"{frame['file']}:{frame['line']}" if frame["file"] else "?" for frame in [*inlined_here, site]]
    address = symbol_addresses(directory / "System.map")[site["function"]] + site["offset"]
    assert ours == addr2line(arch, directory / "vmlinux", address), (site, crash)


# arch: (kernel image, console)
KASLR_KERNELS = {"x86_64": ("bzImage", "ttyS0"), "arm64": ("Image", "ttyAMA0")}


@pytest.mark.parametrize("variant", ("kallsyms", "nokallsyms"))
@pytest.mark.parametrize("arch", tuple(KASLR_KERNELS))
def test_a_kaslr_boot_decodes_through_the_kernel_offset(arch, variant, tmp_path):
    """The x86_64 and arm64 test kernels have KASLR built in (arm64's seed: the
    `kaslr-seed` QEMU's virt machine puts in the device tree); booted without `nokaslr`
    (and with oops=panic, so the panic prints `Kernel Offset:`), every address is
    shifted. The kernel without KALLSYMS decodes through that line; both give the
    nokaslr names and, through vmlinux, the lines of the source."""
    image, console = KASLR_KERNELS[arch]
    directory = kernel_dir(arch, variant)
    completed = run_oopswatch(
        "qemu", "--kernel", str(directory / image), "--initrd", str(directory / "initramfs.cpio.gz"),
        "--arch", arch, "--append", f"console={console} panic=-1 oops=panic", "--crash", "EXCEPTION",
        "--expect", "oops", "--output", str(tmp_path), "--json", "--system-map", str(directory / "System.map"),
        "--vmlinux", str(directory / "vmlinux"), "--timeout", "90")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    report = next(json.loads(line) for line in completed.stdout.splitlines()
                  if line.startswith("{") and json.loads(line)["crash"])
    [console_log] = tmp_path.glob("*/*/console.log")
    link_address = symbol_addresses(directory / "System.map")["_text"]  # what `Kernel Offset:` counts from
    offset = re.search(rf"Kernel Offset: 0x([0-9a-f]+) from {link_address:#x}", console_log.read_text())
    assert offset is not None, "the kernel booted with KASLR and panicked"
    if arch == "arm64":  # a 64-bit seed: the image really moved
        assert int(offset.group(1), 16) != 0
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert trace_functions(report) == trace_functions(boot(arch, "kallsyms", "EXCEPTION").crash_reports()[0])
    crash_site = report["frames"][0]
    assert (crash_site["function"], crash_site["file"]) == ("lkdtm_EXCEPTION", "drivers/misc/lkdtm/bugs.c")
    if variant == "nokallsyms" and int(offset.group(1), 16):  # x86 KASLR may, rarely, keep the link address
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


@pytest.mark.parametrize(("content", "error"), [
    ("ffffffff81000000 T _text\nffffffff81000100 T start_kern", None),  # truncated mid-name: still a map
    ("ffffffff81000000 T _text\nffffffff8100", "line 2: not a System.map line"),
    ("ffffffff81000000 T _text\n%%% garbage %%%\n", "line 2: not a System.map line"),
    ("", "holds no symbols"),
])
def test_bad_system_maps(tmp_path, exception_log, content, error):
    bad = tmp_path / "System.map"
    bad.write_text(content)
    status, reports, stderr = scan_json("--system-map", str(bad), str(exception_log))
    [report] = [report for report in reports if report["crash"]]
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert "Traceback" not in stderr
    if error is None:
        assert status == 1  # a map, but not this kernel's: the mismatch is in the report
        assert report["build"]["verified"] is False
    else:
        assert status == 2
        [line] = stderr.splitlines()
        assert str(bad) in line and error in line


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
