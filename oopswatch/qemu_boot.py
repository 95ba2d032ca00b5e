"""`oopswatch qemu`: boot a kernel under QEMU, watch its console, judge the boot.

A CI kernel regression harness: the boot passes when what happened is what was
expected (`clean`: no kernel report; `oops`: a report, with a given title if one is
named). The console goes through the same pipeline as a live board's; the console log,
the reports and (optionally) JUnit XML are written to disk.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.build_choice import BuildChooser
from oopswatch.decode import DecodedReport
from oopswatch.errors import EXIT_CRASH, EXIT_OK, InputError
from oopswatch.pipeline import Pipeline
from oopswatch.sinks.console_log import ConsoleLog, unique_directory
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sinks.report_dir import ReportWriter
from oopswatch.sources.base import SourceClosed
from oopswatch.sources.qemu import QemuDied, QemuMachine, QemuProcess

EXIT_MET = EXIT_OK
EXIT_NOT_MET = EXIT_CRASH
EXIT_SILENT = 5  # the kernel printed nothing
EXIT_HANG = 6  # the console stopped, or the boot did not end in time
EXIT_DIED = QemuDied.exit_code  # QEMU died mid-boot

READ_TIMEOUT = 0.05


@dataclass
class BootSpec:
    name: str
    arch: str
    machine: QemuMachine
    chooser: BuildChooser
    output: Path
    crash: str | None = None
    crash_param: str = "oopswatch.crash"
    expect: str = "clean"  # clean, oops or any
    expect_title: str | None = None
    timeout: float = 120.0
    hang_timeout: float = 30.0
    idle_timeout: float = 2.0


@dataclass
class BootResult:
    exit_code: int
    verdict: str  # one line
    reports: list[DecodedReport]
    seconds: float
    directory: Path
    qmp_events: list[dict] = field(default_factory=list)
    first_report_seconds: float | None = None  # from QEMU's start to the end of the first crash report

    @property
    def crashes(self) -> list[DecodedReport]:
        return [report for report in self.reports if report.crash]


def boot_directory(spec: BootSpec) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return unique_directory(spec.output / spec.name / f"{stamp}-{(spec.crash or 'boot').lower()}")


def run_boot(spec: BootSpec) -> BootResult:
    directory = boot_directory(spec)
    directory.mkdir(parents=True)
    machine = spec.machine
    if spec.crash:
        machine.append = f"{machine.append} {spec.crash_param}={spec.crash}".strip()
    log = ConsoleLog(directory)
    reports: list[DecodedReport] = []
    pipeline = Pipeline(f"qemu:{spec.name}", symbolizer_for=spec.chooser.symbolizer,
                        idle_timeout=spec.idle_timeout, arch=spec.arch, on_banner=spec.chooser.on_banner)
    with tempfile.TemporaryDirectory(prefix="oopswatch-qemu-") as workdir:
        qemu = QemuProcess(machine, Path(workdir))
        started = time.monotonic()
        first_report: float | None = None
        panicked = False  # QMP said GUEST_PANICKED
        outcome = "exited"
        printed = False
        try:
            console = qemu.start()
            last_output = started
            while True:
                now_wall = time.time()
                try:
                    data = console.read(READ_TIMEOUT)
                except SourceClosed:
                    break  # QEMU exited and everything it printed has been read
                if data:
                    log.write(data, now_wall)
                    out = pipeline.feed(data, now_wall)
                    printed = True
                    last_output = time.monotonic()
                else:
                    out = pipeline.expire(now_wall)
                reports.extend(out.reports)
                if first_report is None and any(report.crash for report in out.reports):
                    first_report = time.monotonic() - started
                new_events = qemu.poll_events()  # always polled: they all go into the report
                panicked = panicked or any(event.get("event") == "GUEST_PANICKED" for event in new_events)
                elapsed = time.monotonic() - started
                if elapsed > spec.timeout:
                    outcome = "timeout"
                    break
                if time.monotonic() - last_output > spec.hang_timeout:
                    outcome = "hang" if printed else "silent"
                    break
                # Done once the report is out (or the guest panicked: with QEMU's `-action
                # panic=none` it stays up to print its last lines, then sits there) and the
                # console has been quiet for a report's idle time.
                if ((spec.expect == "oops" and first_report is not None) or panicked) \
                        and not pipeline.detector.busy and time.monotonic() - last_output > spec.idle_timeout:
                    outcome = "stopped after the report"
                    break
        finally:
            qemu.stop()
            tail = pipeline.finish(time.time())
            reports.extend(tail.reports)
            log.close()
        seconds = time.monotonic() - started
        if first_report is None and any(report.crash for report in reports):
            first_report = seconds
        events = [event for event in qemu.events if event.get("event") not in ("RTC_CHANGE",)]
        returncode = qemu.returncode
        stderr_tail = qemu.stderr_tail()
    _attach_events(reports, events)
    writer = ReportWriter(directory)
    for report in reports:
        writer.write(report)
    exit_code, verdict = _judge(spec, reports, outcome if printed else "silent", returncode, stderr_tail)
    result = BootResult(exit_code, verdict, reports, seconds, directory, events, first_report)
    (directory / "result.json").write_text(json.dumps({
        "name": spec.name, "crash": spec.crash, "expect": spec.expect, "exit_code": exit_code,
        "verdict": verdict, "seconds": round(seconds, 3), "first_report_seconds": first_report,
        "titles": [report.title for report in reports], "qmp_events": events,
    }, indent=2) + "\n")
    return result


def _attach_events(reports: list[DecodedReport], events: list[dict]) -> None:
    """QEMU's view of the guest (a pvpanic GUEST_PANICKED) belongs in the crash report."""
    panics = [event for event in events if event.get("event") == "GUEST_PANICKED"]
    crashes = [report for report in reports if report.crash]
    if panics and crashes:
        action = panics[0].get("data", {}).get("action", "")
        crashes[-1].events.append(f"QEMU: GUEST_PANICKED (pvpanic){f', action {action}' if action else ''}")


def _judge(spec: BootSpec, reports: list[DecodedReport], outcome: str, returncode: int | None,
           stderr_tail: str) -> tuple[int, str]:
    crashes = [report for report in reports if report.crash]
    if outcome == "silent":
        return EXIT_SILENT, "the kernel printed nothing on its console"
    if outcome == "exited" and returncode not in (0, None) and not crashes:
        how = f"signal {-returncode}" if returncode < 0 else f"status {returncode}"
        return EXIT_DIED, f"QEMU died mid-boot ({how}): {stderr_tail}"
    if spec.expect == "oops":
        if not crashes:
            if outcome in ("hang", "timeout"):
                return EXIT_HANG, _hang_message(spec, outcome) + " and no kernel report appeared"
            return EXIT_NOT_MET, "expected a kernel report, none appeared"
        title = crashes[0].title
        if spec.expect_title is not None and title != spec.expect_title:
            return EXIT_NOT_MET, f"expected '{spec.expect_title}', got '{title}'"
        return EXIT_MET, f"kernel report as expected: {title}"
    if spec.expect == "clean" and crashes:
        return EXIT_NOT_MET, f"unexpected kernel report: {crashes[0].title}" + (
            f" (and {len(crashes) - 1} more)" if len(crashes) > 1 else "")
    if outcome in ("hang", "timeout"):
        return EXIT_HANG, _hang_message(spec, outcome)
    return EXIT_MET, "clean boot" if not crashes else f"boot ended; {len(crashes)} kernel report(s)"


def _hang_message(spec: BootSpec, outcome: str) -> str:
    if outcome == "timeout":
        return f"the boot did not end within {spec.timeout:.0f} s"
    return f"hang: the console printed nothing for {spec.hang_timeout:.0f} s"


def junit_case(spec: BootSpec, result: BootResult) -> TestCase:
    case = TestCase(name=f"{spec.name} {spec.crash or 'boot'}", classname=f"oopswatch.qemu.{spec.arch}",
                    seconds=result.seconds, reports=result.crashes,
                    system_out=f"{result.verdict}\nconsole log: {result.directory / 'console.log'}\n")
    if result.exit_code == EXIT_NOT_MET or result.exit_code == EXIT_HANG:
        case.failure = result.verdict
    elif result.exit_code != EXIT_MET:
        case.error = result.verdict
    return case


def write_boot_junit(path: str, spec: BootSpec, result: BootResult) -> None:
    write_junit(path, "oopswatch qemu", [junit_case(spec, result)])


# -- what to boot -------------------------------------------------------------------

def machine_from_kernel_dir(directory: str | Path) -> tuple[QemuMachine, str, str]:
    """A test kernel's build directory (with qemu.json, as scripts/build-test-kernels.sh
    writes it): the machine to boot, its architecture, its crash parameter."""
    directory = Path(directory)
    manifest = directory / "qemu.json"
    try:
        data = json.loads(manifest.read_text())
    except OSError as error:
        raise InputError(f"{manifest}: cannot read: {error.strerror}") from error
    except ValueError as error:
        raise InputError(f"{manifest}: not valid JSON: {error}") from error
    try:
        machine = QemuMachine(
            binary=data["qemu"], machine_args=list(data["machine_args"]), kernel=directory / data["image"],
            initrd=directory / data["initrd"] if data.get("initrd") else None, append=data.get("append", ""),
            devices=list(data.get("device_args", [])))
        return machine, data["arch"], data.get("crash_param", "oopswatch.crash")
    except KeyError as error:
        raise InputError(f"{manifest}: missing key {error}") from error


def machine_from_board(board, build_name: str | None) -> tuple[QemuMachine, object]:
    """A QEMU board's machine settings with one of its builds (default: the board's default)."""
    if board.qemu is None:
        raise InputError(f"{board.file}: board '{board.name}' has no 'qemu' section; it is not a QEMU board")
    builds = board.builds()
    name = build_name or board.default_build
    build = next((b for b in builds if b.name == name), None) if name else (builds[0] if builds else None)
    if build is None:
        known = ", ".join(b.name for b in builds) or "none"
        raise InputError(f"{board.file}: no build named '{name}' (builds: {known})")
    settings = board.qemu
    machine = QemuMachine(
        binary=settings.binary, machine_args=list(settings.machine), kernel=build.path / settings.kernel,
        initrd=build.path / settings.initrd if settings.initrd else None, append=settings.append,
        devices=["-device", settings.pvpanic] if settings.pvpanic else [])
    return machine, build
