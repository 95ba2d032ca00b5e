"""End to end: real test kernels boot under QEMU, crash on purpose through LKDTM, and
`oopswatch qemu` reports the crash with the expected kind, title and crash site, on
x86_64, arm64, 32-bit arm, riscv64, ppc64le and mips, with and without CONFIG_KALLSYMS
(decoded through the build's System.map)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.kernels import ARCHES, BUILDS, CRASH_TYPES, REPORT_ARCH, boot, kernel_dir, run_oopswatch
from tests.lkdtm_expected import expected

pytestmark = pytest.mark.qemu  # every test here boots or reads a QEMU test kernel


@pytest.mark.parametrize("crash", CRASH_TYPES)
@pytest.mark.parametrize(("arch", "variant"), BUILDS, ids=[f"{arch}-{variant}" for arch, variant in BUILDS])
def test_lkdtm_crash_is_detected_with_its_title(arch, variant, crash):
    want = expected(arch, variant, crash)
    result = boot(arch, variant, crash)
    if want.message is not None:
        # The architecture cannot do this crash: the kernel says so (and survives it).
        assert want.message in result.console_log.read_text(errors="replace")
        if want.survives:
            assert result.crash_reports() == []
            assert result.exit_code == 1  # `--expect oops`: none came
        return
    crashes = result.crash_reports()
    assert crashes, f"no crash report; oopswatch said:\n{result.stdout}{result.stderr}"
    first = crashes[0]
    assert (first["kind"], first["title"]) == (want.kind, want.title)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert first["arch"] == REPORT_ARCH[arch]
    if want.site is not None:
        site = [frame for frame in first["frames"] if frame["function"] == want.site]
        assert site, [frame["function"] for frame in first["frames"]]
        if variant == "nokallsyms":
            # The console printed bare addresses; the names came from the build's System.map.
            assert any(frame["decoded"] for frame in site)
    junit = ET.parse(result.junit).getroot()
    assert junit.find("testsuite").get("tests") == "1"
    assert junit.find(".//failure") is None  # the crash was expected


@pytest.mark.parametrize("arch", ARCHES)
def test_clean_boot_passes_expect_clean(arch):
    result = boot(arch, "kallsyms", None, expect="clean")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert result.crash_reports() == []
    assert "clean boot" in result.stdout


def test_a_crash_fails_expect_clean_with_the_report_in_junit(tmp_path):
    directory = kernel_dir("x86_64", "kallsyms")
    junit = tmp_path / "junit.xml"
    completed = run_oopswatch("qemu", "--kernel-dir", str(directory), "--crash", "WARNING", "--expect", "clean",
                              "--output", str(tmp_path / "out"), "--junit", str(junit))
    assert completed.returncode == 1
    assert "unexpected kernel report: WARNING in lkdtm_WARNING" in completed.stdout
    failure = ET.parse(junit).getroot().find(".//failure")
    assert failure is not None
    assert failure.get("message") == "unexpected kernel report: WARNING in lkdtm_WARNING"
    assert "drivers/misc/lkdtm/bugs.c" in failure.text  # the decoded report, with file:line


def test_expect_oops_fails_on_a_clean_boot_and_on_another_title(tmp_path):
    directory = str(kernel_dir("x86_64", "kallsyms"))
    clean = run_oopswatch("qemu", "--kernel-dir", directory, "--expect", "oops", "--output", str(tmp_path))
    assert clean.returncode == 1
    assert "expected a kernel report, none appeared" in clean.stdout
    other = run_oopswatch("qemu", "--kernel-dir", directory, "--crash", "BUG", "--expect", "oops",
                          "--expect-title", "WARNING in lkdtm_WARNING", "--output", str(tmp_path))
    assert other.returncode == 1
    assert "expected 'WARNING in lkdtm_WARNING', got 'kernel BUG in lkdtm_BUG'" in other.stdout


def test_pvpanic_guest_panicked_is_recorded_in_the_report():
    result = boot("x86_64", "kallsyms", "PANIC")
    assert any(event.get("event") == "GUEST_PANICKED" for event in result.result["qmp_events"])
    first = result.crash_reports()[0]
    assert any("GUEST_PANICKED" in event for event in first["events"])


# -- bad input: one line, a distinct exit code, no traceback ---------------------------------

def _one_line_error(completed) -> str:
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    return lines[0]


def test_missing_kernel_image(tmp_path):
    completed = run_oopswatch("qemu", "--kernel", str(tmp_path / "bzImage"), "--arch", "x86_64",
                              "--output", str(tmp_path))
    assert completed.returncode == 2
    assert "bzImage: kernel image not found" in _one_line_error(completed)


def test_qemu_not_installed(tmp_path):
    directory = str(kernel_dir("x86_64", "kallsyms"))
    completed = run_oopswatch("qemu", "--kernel-dir", directory, "--qemu-binary", "qemu-system-nonesuch",
                              "--output", str(tmp_path))
    assert completed.returncode == 4
    assert "qemu-system-nonesuch is not installed" in _one_line_error(completed)


def test_kernel_that_prints_nothing(tmp_path):
    directory = kernel_dir("x86_64", "kallsyms")
    # A real kernel whose console is not the serial port: nothing arrives on the socket.
    completed = run_oopswatch("qemu", "--kernel", str(directory / "bzImage"), "--initrd",
                              str(directory / "initramfs.cpio.gz"), "--append", "console=tty0 panic=-1",
                              "--arch", "x86_64", "--hang-timeout", "5", "--output", str(tmp_path))
    assert completed.returncode == 5
    assert "the kernel printed nothing on its console" in completed.stdout


def test_qemu_that_dies_mid_boot(tmp_path):
    directory = kernel_dir("x86_64", "kallsyms")
    killer = tmp_path / "qemu-dies"
    # A real QEMU that is killed by a signal two seconds into the boot.
    killer.write_text("#!/bin/sh\nqemu-system-x86_64 \"$@\" &\npid=$!\nsleep 1.2\nkill -9 $pid\nwait $pid\n")
    killer.chmod(0o755)
    completed = run_oopswatch("qemu", "--kernel-dir", str(directory), "--qemu-binary", str(killer),
                              "--crash", "HUNG_TASK", "--output", str(tmp_path))
    assert completed.returncode == 7
    assert "QEMU died mid-boot" in completed.stdout
