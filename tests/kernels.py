"""The QEMU test kernels, for tests: built (or found in the cache) by
scripts/build-test-kernels.sh, and booted through `oopswatch qemu` once per session.

The boots of one kernel run two at a time (TCG runs one guest CPU on one host core):
the first test that asks for a boot of a kernel starts every crash type of that kernel
in the background, and each test then takes its own boot's result.
"""

from __future__ import annotations

import contextlib
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


_builds: dict[tuple[str, str, int], Future[Path]] = {}
_builds_lock = threading.Lock()
_build_processes: set[subprocess.Popen] = set()


def _kernel_dir(arch: str, variant: str, build_number: int = 1) -> Path:
    """Built once per session: by the background builder (`start_building`) or, for a
    kernel it has not started yet, by the caller itself."""
    key = (arch, variant, build_number)
    with _builds_lock:
        future = _builds.get(key)
        mine = future is None
        if mine:
            future = _builds[key] = Future()
    if mine:
        try:
            future.set_result(_build(arch, variant, build_number, nice=threading.current_thread() is _builder))
        except BaseException as error:
            future.set_exception(error)
    return future.result()


def _build(arch: str, variant: str, build_number: int, nice: bool) -> Path:
    command = [str(BUILD_SCRIPT), "--build-number", str(build_number), arch, variant]
    # In the background, builds yield the CPU to the tests running meanwhile.
    process = subprocess.Popen(["nice", "-n", "10", *command] if nice else command, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    _build_processes.add(process)
    try:
        stdout, stderr = process.communicate()
    finally:
        _build_processes.discard(process)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{stderr[-3000:]}")
    return Path(stdout.strip().splitlines()[-1])


# Every kernel the tests use, in the order the tests first need them.
ALL_BUILDS = (*((arch, variant, 1) for arch, variant in BUILDS), ("x86_64", "nokallsyms", 2))
_builder: threading.Thread | None = None


def start_building() -> None:
    """Build every test kernel in a background thread, so the builds (minutes each on a
    fresh machine) run while the tests that need no kernel do. A test that needs a
    kernel waits for it; a build that fails fails the tests that need it."""
    global _builder

    def build_all() -> None:
        for key in ALL_BUILDS:
            # A failed build is kept in its future: the tests that need it raise it.
            with contextlib.suppress(Exception):
                _kernel_dir(*key)

    if _builder is None:
        _builder = threading.Thread(target=build_all, name="kernel-builder", daemon=True)
        _builder.start()


def stop_building() -> None:
    """End builds still running when the session ends early (their trees stay reusable)."""
    for process in list(_build_processes):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)


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
