"""The QEMU test kernels, for tests: built (or found in the cache) by
scripts/build-test-kernels.sh, and booted through `oopswatch qemu` once per session.

The boots of one kernel run two at a time (TCG runs one guest CPU on one host core):
the first test that asks for a boot of a kernel starts every crash type of that kernel
in the background, and each test then takes its own boot's result.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "scripts" / "build-test-kernels.sh"
# The test kernels' targets (build-test-kernels.sh's ARCH) and the variants each is built in.
ARCHES = ("x86_64", "arm64", "arm", "riscv64", "ppc64le", "mips")
VARIANTS = ("kallsyms", "nokallsyms")
VARIANTS_OF = {"x86_64": VARIANTS, "arm64": VARIANTS, "arm": VARIANTS, "riscv64": VARIANTS,
               "ppc64le": ("kallsyms",), "mips": ("kallsyms",)}
BUILDS = tuple((arch, variant) for arch in ARCHES for variant in VARIANTS_OF[arch])
# The architectures built both with and without KALLSYMS.
PAIRED_ARCHES = tuple(arch for arch in ARCHES if VARIANTS_OF[arch] == VARIANTS)
# The test kernels whose init can start a shell (`oopswatch.shell=1`): Debian 12 has
# busybox-static for these, not for riscv64 or mips.
SHELL_ARCHES = ("x86_64", "arm64", "arm", "ppc64le")
# The architecture name oopswatch reports (the kernel's ARCH=) for each target.
REPORT_ARCH = {"x86_64": "x86_64", "arm64": "arm64", "arm": "arm", "riscv64": "riscv", "ppc64le": "powerpc",
               "mips": "mips"}
CROSS_COMPILE = {"x86_64": "", "arm64": "aarch64-linux-gnu-", "arm": "arm-linux-gnueabihf-",
                 "riscv64": "riscv64-linux-gnu-", "ppc64le": "powerpc64le-linux-gnu-", "mips": "mips-linux-gnu-"}
CRASH_TYPES = ("EXCEPTION", "BUG", "WARNING", "WARNING_MESSAGE", "PANIC", "CORRUPT_STACK", "ACCESS_NULL",
               "WRITE_RO", "WRITE_KERN", "EXEC_DATA", "REFCOUNT_INC_OVERFLOW", "SOFTLOCKUP", "HUNG_TASK",
               "CORRUPT_LIST_ADD")
PARALLEL_BOOTS = 2


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


_pool = ThreadPoolExecutor(PARALLEL_BOOTS, thread_name_prefix="qemu-boot")
_boots: dict[tuple, Future[Boot]] = {}
_boots_lock = threading.Lock()


def boot(arch: str, variant: str, crash: str | None, build_number: int = 1, expect: str = "oops") -> Boot:
    """Boot a test kernel once per session with `oopswatch qemu`; the first LKDTM boot
    of a kernel starts all its crash types' boots (two at a time)."""
    kernel_dir(arch, variant, build_number)  # built before any boot of it is started (and marked qemu)
    with _boots_lock:
        if crash in CRASH_TYPES and expect == "oops" and build_number == 1:
            for other in CRASH_TYPES:
                _submit(arch, variant, other, build_number, expect)
        future = _submit(arch, variant, crash, build_number, expect)
    return future.result()


def _submit(arch: str, variant: str, crash: str | None, build_number: int, expect: str) -> Future[Boot]:
    key = (arch, variant, crash, build_number, expect)
    if key not in _boots:
        _boots[key] = _pool.submit(_boot, arch, variant, crash, build_number, expect)
    return _boots[key]


def _boot(arch: str, variant: str, crash: str | None, build_number: int, expect: str) -> Boot:
    output = Path(os.environ.get("OOPSWATCH_TEST_OUTPUT", "/tmp/oopswatch-tests"))
    # Not kernel_dir(): this runs on a pool thread, while any test (a fast one too) may be
    # running; the qemu-marked test that asked for the boot has built the kernel already.
    directory = _kernel_dir(arch, variant, build_number)
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
