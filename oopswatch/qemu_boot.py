"""`oopswatch qemu`: boot a kernel under QEMU, watch its console, judge the boot.

A CI kernel regression harness: the boot passes when what happened is what was
expected (`clean`: no kernel report; `oops`: a report, with a given title if one is
named). The console goes through the same watcher loop as a live board's: the console
log and the reports reach the disk as they happen; result.json and (optionally) JUnit XML
when the boot is judged.
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
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sources.qemu import QemuDied, QemuMachine, QemuProcess
from oopswatch.watch import BootSession, Watcher, WatchOptions

EXIT_MET = EXIT_OK
EXIT_NOT_MET = EXIT_CRASH
EXIT_SILENT = 5  # the kernel printed nothing
EXIT_HANG = 6  # the console stopped, or the boot did not end in time
EXIT_DIED = QemuDied.exit_code  # QEMU died mid-boot


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


def run_boot(spec: BootSpec) -> BootResult:
    """Boot, watch the console through the watcher's loop (reports reach the disk as
    they happen), stop when the boot is judged, and write result.json. The output is
    shared with other QEMU boots and watchers, and refused when a rack holds it."""
    from oopswatch.output_lock import OutputLock

    with OutputLock(spec.output, shared=True):
        return _run_boot(spec)


def _run_boot(spec: BootSpec) -> BootResult:
    machine = spec.machine
    if spec.crash:
        machine.append = f"{machine.append} {spec.crash_param}={spec.crash}".strip()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    what = (spec.crash or "boot").lower()
    options = WatchOptions(board=spec.name, output=spec.output, echo=False, idle_timeout=spec.idle_timeout,
                           arch=spec.arch, reconnect=False, announce=False, resume=False,
                           boot_name=lambda n: f"{stamp}-{what}" if n == 1 else f"{stamp}-{what}-boot{n}")
    written: list[tuple[DecodedReport, BootSession, Path]] = []
    with tempfile.TemporaryDirectory(prefix="oopswatch-qemu-") as workdir:
        qemu = QemuProcess(machine, Path(workdir))
        judge = _BootClock(spec, qemu)
        try:
            console = qemu.start()
            judge.start()
            watcher = Watcher(console, spec.chooser, options, out=None, tick=judge.tick,
                              on_report=lambda report, session, directory: written.append((report, session, directory)))
            watcher.last_input = judge.started
            watcher.attach()
            watcher.run()
        finally:
            qemu.stop()
        seconds = time.monotonic() - judge.started
        events = [event for event in qemu.events if event.get("event") not in ("RTC_CHANGE",)]
        returncode = qemu.returncode
        stderr_tail = qemu.stderr_tail()
    reports = [report for report, _, _ in written]
    first_report = judge.first_report
    if first_report is None and any(report.crash for report in reports):
        first_report = seconds
    for report, session, directory in _attach_events(written, events):
        session.writer.rewrite(directory, report)
    printed = watcher.bytes > 0
    outcome = judge.outcome or "exited"
    exit_code, verdict = _judge(spec, reports, outcome if printed else "silent", returncode, stderr_tail)
    directory = watcher.sessions[0].directory
    result = BootResult(exit_code, verdict, reports, seconds, directory, events, first_report)
    (directory / "result.json").write_text(json.dumps({
        "name": spec.name, "crash": spec.crash, "expect": spec.expect, "exit_code": exit_code,
        "verdict": verdict, "seconds": round(seconds, 3), "first_report_seconds": first_report,
        "titles": [report.title for report in reports], "qmp_events": events,
    }, indent=2) + "\n")
    return result


class _BootClock:
    """The watcher's tick during a QEMU boot: QMP events, the deadlines, and the moment
    the boot is over (the report is out, or the guest panicked, and the console is quiet)."""

    def __init__(self, spec: BootSpec, qemu: QemuProcess):
        self.spec = spec
        self.qemu = qemu
        self.started = time.monotonic()
        self.first_report: float | None = None  # from QEMU's start to the end of the first crash report
        self.panicked = False  # QMP said GUEST_PANICKED
        self.outcome: str | None = None  # why the watch was stopped; None: QEMU exited

    def start(self) -> None:
        self.started = time.monotonic()

    def tick(self, watcher: Watcher, now: float) -> None:
        spec = self.spec
        current = time.monotonic()
        if self.first_report is None and any(session.crashes for session in watcher.sessions):
            self.first_report = current - self.started
        new_events = self.qemu.poll_events()  # always polled: they all go into the report
        self.panicked = self.panicked or any(event.get("event") == "GUEST_PANICKED" for event in new_events)
        quiet = current - watcher.last_input
        if current - self.started > spec.timeout:
            self.outcome = "timeout"
        elif quiet > spec.hang_timeout:
            self.outcome = "hang" if watcher.bytes else "silent"
        # Done once the report is out (or the guest panicked: with QEMU's `-action
        # panic=none` it stays up to print its last lines, then sits there) and the
        # console has been quiet for a report's idle time.
        elif ((spec.expect == "oops" and self.first_report is not None) or self.panicked) \
                and not watcher.pipeline.detector.busy and quiet > spec.idle_timeout:
            self.outcome = "stopped after the report"
        if self.outcome is not None:
            watcher.stop()


def _attach_events(written: list[tuple[DecodedReport, BootSession, Path]],
                   events: list[dict]) -> list[tuple[DecodedReport, BootSession, Path]]:
    """QEMU's view of the guest (a pvpanic GUEST_PANICKED) belongs in the crash report;
    returns the reports that changed (to be written again)."""
    panics = [event for event in events if event.get("event") == "GUEST_PANICKED"]
    crashes = [item for item in written if item[0].crash]
    if not (panics and crashes):
        return []
    action = panics[0].get("data", {}).get("action", "")
    crashes[-1][0].events.append(f"QEMU: GUEST_PANICKED (pvpanic){f', action {action}' if action else ''}")
    return [crashes[-1]]


def _judge(spec: BootSpec, reports: list[DecodedReport], outcome: str, returncode: int | None,
           stderr_tail: str) -> tuple[int, str]:
    crashes = [report for report in reports if report.crash]
    if outcome in ("exited", "silent") and returncode not in (0, None) and not crashes:  # died, printed or not
        how = f"signal {-returncode}" if returncode < 0 else f"status {returncode}"
        return EXIT_DIED, f"QEMU died mid-boot ({how}): {stderr_tail}"
    if outcome == "silent":
        return EXIT_SILENT, "the kernel printed nothing on its console"
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

# For `--kernel`: any kernel, so room for a distribution initramfs (QEMU allocates lazily).
DEFAULT_QEMU = {"x86_64": ("qemu-system-x86_64", ["-M", "pc", "-cpu", "max", "-m", "512"], "pvpanic",
                           "console=ttyS0"),
                "arm64": ("qemu-system-aarch64", ["-M", "virt", "-cpu", "max", "-m", "512"], "pvpanic-pci",
                          "console=ttyAMA0")}
QEMU_ARCHES = tuple(DEFAULT_QEMU)


@dataclass
class BootTarget:
    """What `oopswatch qemu` boots: the machine, and the symbols to decode it with."""

    name: str
    arch: str
    machine: QemuMachine
    chooser: BuildChooser
    crash_param: str = "oopswatch.crash"


def boot_target(*, kernel_dir: str | None = None, board: str | None = None, board_dirs: list[str] | None = None,
                build: str | None = None, kernel: str | None = None, arch: str | None = None,
                initrd: str | None = None, append: str = "", qemu_binary: str | None = None,
                symbols: dict | None = None) -> BootTarget:
    """The machine for a test kernel's build directory, a QEMU board (and build), or a
    bare kernel image of `arch`; `append` adds to the machine's command line."""
    from oopswatch.boards import find_board
    from oopswatch.symbols.options import explicit_symbols

    if kernel_dir:
        machine, arch, crash_param = machine_from_kernel_dir(kernel_dir)
        directory = Path(kernel_dir)
        own = explicit_symbols(*(str(p) if p.exists() else None for p in (
            directory / "System.map", directory / "vmlinux", directory / "modules")))
        target = BootTarget(directory.resolve().name, arch, machine, BuildChooser(None, symbols or own), crash_param)
    elif board:
        config = find_board(board, board_dirs or [])
        machine, _ = machine_from_board(config, build)
        target = BootTarget(config.name, config.arch, machine, BuildChooser(config, symbols))
    else:
        assert kernel is not None and arch is not None
        binary, machine_args, pvpanic, console = DEFAULT_QEMU[arch]
        machine = QemuMachine(binary=binary, machine_args=machine_args, kernel=Path(kernel),
                              initrd=Path(initrd) if initrd else None, append=append or console,
                              # The guest stays up after a panic to print its last lines
                              # (`Kernel Offset:`); the watcher stops it once it is quiet.
                              devices=["-device", pvpanic, "-action", "panic=none"])
        target = BootTarget(Path(kernel).name, arch, machine, BuildChooser(None, symbols))
    if qemu_binary:
        target.machine.binary = qemu_binary
    if append and not kernel:
        target.machine.append = f"{target.machine.append} {append}".strip()
    return target


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
