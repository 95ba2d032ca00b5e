"""The QEMU test kernels, for tests: built (or found in the cache) by
scripts/build-test-kernels.sh, and booted through `oopswatch qemu` once per session."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "scripts" / "build-test-kernels.sh"
ARCHES = ("x86_64", "arm64")
VARIANTS = ("kallsyms", "nokallsyms")
CRASH_TYPES = ("EXCEPTION", "BUG", "WARNING", "PANIC", "CORRUPT_STACK", "WRITE_RO", "EXEC_DATA",
               "REFCOUNT_INC_OVERFLOW", "HUNG_TASK", "SOFTLOCKUP")


# Set by conftest.py for each test: only tests marked `qemu` may use the test kernels.
KERNELS_ALLOWED = True


def kernel_dir(arch: str, variant: str, build_number: int = 1) -> Path:
    """The build directory of a test kernel; builds it on first use (about 2 minutes)."""
    if not KERNELS_ALLOWED:
        raise RuntimeError("this test uses a QEMU test kernel: mark it @pytest.mark.qemu")
    return _kernel_dir(arch, variant, build_number)


@functools.cache
def _kernel_dir(arch: str, variant: str, build_number: int = 1) -> Path:
    command = [str(BUILD_SCRIPT), "--build-number", str(build_number), arch, variant]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass
class Boot:
    exit_code: int
    stdout: str
    stderr: str
    directory: Path  # the boot's output directory (console.log, reports, result.json)
    result: dict
    junit: Path

    @property
    def console_log(self) -> Path:
        return self.directory / "console.log"

    def reports(self) -> list[dict]:
        return [json.loads(path.read_text()) for path in sorted(self.directory.glob("report-*/report.json"))]

    def crash_reports(self) -> list[dict]:
        return [report for report in self.reports() if report["crash"]]


def run_oopswatch(*args: str, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess[str]:
    """The installed command line, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "oopswatch", *args], capture_output=True,
                          text=True, timeout=timeout, check=False, **kwargs)


def boot(arch: str, variant: str, crash: str | None, build_number: int = 1, expect: str = "oops") -> Boot:
    """Boot a test kernel once per session with `oopswatch qemu`."""
    return _boot(arch, variant, crash, build_number, expect) if KERNELS_ALLOWED else kernel_dir(arch, variant)


@functools.cache
def _boot(arch: str, variant: str, crash: str | None, build_number: int = 1, expect: str = "oops") -> Boot:
    output = Path(os.environ.get("OOPSWATCH_TEST_OUTPUT", "/tmp/oopswatch-tests"))
    directory = kernel_dir(arch, variant, build_number)
    junit = output / "junit" / f"{arch}-{variant}-{build_number}-{crash or 'boot'}.xml"
    args = ["qemu", "--kernel-dir", str(directory), "--expect", expect, "--output", str(output),
            "--junit", str(junit), "--timeout", "90", "--hang-timeout", "40"]
    if crash:
        args += ["--crash", crash]
    completed = run_oopswatch(*args)
    lines = [line for line in completed.stdout.splitlines() if "logs and reports in " in line]
    if not lines:
        raise RuntimeError(f"oopswatch qemu gave no result line:\n{completed.stdout}\n{completed.stderr}")
    boot_directory = Path(lines[-1].rsplit("logs and reports in ", 1)[1].rstrip(")"))
    result = json.loads((boot_directory / "result.json").read_text())
    return Boot(completed.returncode, completed.stdout, completed.stderr, boot_directory, result, junit)
