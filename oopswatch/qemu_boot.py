"""`oopswatch qemu`: boot a kernel under QEMU, watch its console, judge the boot.

A CI kernel regression harness: the boot passes when what happened is what was
expected (`clean`: no kernel report; `oops`: a report, with a given title if one is
named). With commands (`--run`), the kernel's init is asked for a shell
(`oopswatch.shell=1`), each command is typed on the console and judged on its own: a
crash report during it or a non-zero exit status fails it. Known issues are recorded
and shown, and do not fail. The console goes through the same watcher loop as a live
board's: the console log and the reports reach the disk as they happen, and the report
index of the output directory; result.json and (optionally) JUnit XML when it is judged.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.boards import BoardError, Build, ShellSettings
from oopswatch.build_choice import BuildChooser
from oopswatch.decode import DecodedReport
from oopswatch.errors import EXIT_CRASH, EXIT_OK, InputError
from oopswatch.harness import steps as step_verdicts
from oopswatch.harness.known_issues import KnownIssues
from oopswatch.harness.live import LiveConsole, SeenReport
from oopswatch.harness.shell import EXIT_NO_SHELL, ShellError
from oopswatch.harness.steps import JobRules, Step, judge, run_steps
from oopswatch.regex_cache import compile_regex
from oopswatch.sinks.index_recorder import IndexRecorder
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sources.qemu import QemuDied, QemuMachine, QemuProcess
from oopswatch.watch import BootSession, Watcher, WatchOptions

EXIT_MET = EXIT_OK
EXIT_NOT_MET = EXIT_CRASH
EXIT_SILENT = 5  # the kernel printed nothing
EXIT_HANG = 6  # the console stopped, or the boot did not end in time
EXIT_DIED = QemuDied.exit_code  # QEMU died mid-boot
assert EXIT_NO_SHELL == EXIT_HANG  # no shell answered: the boot did not get where it should, in time

SHELL_PARAM = "oopswatch.shell=1"  # the test kernels' init then starts a shell on the console
BUILD_SCRIPT = "scripts/build-test-kernels.sh"
# The crash types of the test kernels' module (qemu/modules/oopswatch_crash), besides LKDTM's.
MODULE_CRASH_TYPES = ("MODULE_EXCEPTION", "MODULE_WARNING", "MODULE_BUG")
_LKDTM_SYMBOL = compile_regex(rb"^[0-9a-fA-F]+ [tT] lkdtm_([A-Z][A-Z0-9_]*)$", re.MULTILINE)


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
    index: str | None = None  # --index: a postgresql:// URL or an index file (None: OUTPUT/reports.sqlite)
    commands: list[str] = field(default_factory=list)  # run in a shell once the kernel is up
    command_timeout: float = 300.0
    allow_failure: bool = False  # a non-zero exit status does not fail a command
    known_issues: KnownIssues = field(default_factory=KnownIssues)
    shell: ShellSettings = field(default_factory=ShellSettings)
    on_step: Callable[[Step], None] | None = None  # told each step as soon as it is judged


@dataclass
class BootResult:
    exit_code: int
    verdict: str  # one line
    reports: list[DecodedReport]
    seconds: float
    directory: Path
    qmp_events: list[dict] = field(default_factory=list)
    first_report_seconds: float | None = None  # from QEMU's start to the end of the first crash report
    steps: list[Step] = field(default_factory=list)  # the boot, then each command

    @property
    def crashes(self) -> list[DecodedReport]:
        return [report for report in self.reports if report.crash]


def run_boot(spec: BootSpec) -> BootResult:
    """Boot, watch the console through the watcher's loop (reports reach the disk and
    the index as they happen), run the commands if any, stop when the boot is judged,
    and write result.json. The output is shared with other QEMU boots and watchers, and
    refused when a rack holds it."""
    from oopswatch.output_lock import OutputLock

    with OutputLock(spec.output, shared=True):
        return _run_boot(spec)


def _run_boot(spec: BootSpec) -> BootResult:
    machine = spec.machine
    if spec.crash:
        machine.append = f"{machine.append} {spec.crash_param}={spec.crash}".strip()
    if spec.commands:
        machine.append = f"{machine.append} {SHELL_PARAM}".strip()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    what = (spec.crash or ("run" if spec.commands else "boot")).lower()
    options = WatchOptions(board=spec.name, output=spec.output, echo=False, idle_timeout=spec.idle_timeout,
                           arch=spec.arch, reconnect=False, announce=False, resume=False,
                           boot_name=lambda n: f"{stamp}-{what}" if n == 1 else f"{stamp}-{what}-boot{n}")
    written: list[tuple[DecodedReport, BootSession, Path]] = []
    recorder = IndexRecorder(spec.output, spec.name, spec.index)

    def on_report(report: DecodedReport, session: BootSession, directory: Path) -> None:
        written.append((report, session, directory))
        recorder.record(report, session, directory)

    steps: list[Step] = []
    no_shell: str | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="oopswatch-qemu-") as workdir:
            qemu = QemuProcess(machine, Path(workdir))
            judge_clock = _BootClock(spec, qemu)
            live: LiveConsole | None = None
            try:
                console = qemu.start()
                judge_clock.start()
                if spec.commands:
                    live = LiveConsole(console, spec.chooser, options, spec.shell, on_report=on_report,
                                       tick=judge_clock.tick)
                    watcher = live.watcher
                    watcher.last_input = judge_clock.started
                    live.start(already_open=True)
                    steps, no_shell = _run_commands(spec, live, judge_clock)
                else:
                    watcher = Watcher(console, spec.chooser, options, out=None, tick=judge_clock.tick,
                                      on_report=on_report, on_repeat=recorder.repeat)
                    watcher.last_input = judge_clock.started
                    watcher.attach()
                    watcher.run()
            finally:
                if live is not None:
                    live.stop()
                qemu.stop()
            seconds = time.monotonic() - judge_clock.started
            events = [event for event in qemu.events if event.get("event") not in ("RTC_CHANGE",)]
            returncode = qemu.returncode
            stderr_tail = qemu.stderr_tail()
    finally:
        recorder.close()
    reports = [report for report, _, _ in written]
    first_report = judge_clock.first_report
    if first_report is None and any(report.crash for report in reports):
        first_report = seconds
    for report, session, directory in _attach_events(written, events):
        session.writer.rewrite(directory, report)
    printed = watcher.bytes > 0
    if spec.commands:
        if not steps:  # no shell: the boot is the only step, with every report
            steps = [_boot_step(spec, written, seconds, problem=no_shell)]
        exit_code, verdict = _judge_steps(spec, steps, no_shell, printed, returncode, stderr_tail)
    else:
        steps = [_boot_step(spec, written, seconds)]
        outcome = judge_clock.outcome or "exited"
        exit_code, verdict = _judge(spec, steps[0], outcome if printed else "silent", returncode, stderr_tail)
    directory = watcher.sessions[0].directory
    result = BootResult(exit_code, verdict, reports, seconds, directory, events, first_report, steps)
    (directory / "result.json").write_text(json.dumps({
        "name": spec.name, "crash": spec.crash, "expect": spec.expect, "exit_code": exit_code,
        "verdict": verdict, "seconds": round(seconds, 3), "first_report_seconds": first_report,
        "titles": [report.title for report in reports], "qmp_events": events,
        "steps": [_step_json(step) for step in steps],
        "known_issues_not_seen": [issue.describe() for issue in spec.known_issues.not_seen()],
    }, indent=2) + "\n")
    return result


def _run_commands(spec: BootSpec, live: LiveConsole, clock: _BootClock) -> tuple[list[Step], str | None]:
    """The boot until a shell answers (a step of its own), then each command. Returns the
    steps, or no steps and why no shell answered."""
    try:
        live.wait_shell(max(1.0, spec.timeout - (time.monotonic() - clock.started)))
    except ShellError as error:
        closed = live.spawn.ended is not None
        return [], str(error) + (f"; does the kernel's init start a shell for {SHELL_PARAM}?" if closed else "")
    boot = Step("boot", time.monotonic() - clock.started, is_command=False)
    rules = JobRules(spec.known_issues, spec.allow_failure, spec.expect == "clean", spec.command_timeout)
    return run_steps(live, spec.commands, rules, boot, spec.on_step), None


def _boot_step(spec: BootSpec, written: list[tuple[DecodedReport, BootSession, Path]], seconds: float,
               problem: str | None = None) -> Step:
    seen = [SeenReport(report, directory, spec.name, spec.arch, session.directory / "console.log")
            for report, session, directory in written]
    step = Step("boot", seconds, seen, is_command=False, problem=problem)
    return judge(step, spec.known_issues, crashes_fail=spec.expect == "clean")


def _judge_steps(spec: BootSpec, steps: list[Step], no_shell: str | None, printed: bool, returncode: int | None,
                 stderr_tail: str) -> tuple[int, str]:
    """With commands: every step must pass; no shell at all is a hang (or worse)."""
    failed = [step for step in steps if not step.passed]
    if no_shell is not None:
        boot = steps[0]
        if not printed:
            return EXIT_SILENT, "the kernel printed nothing on its console"
        if returncode not in (0, None) and not boot.crashes():
            how = f"signal {-returncode}" if returncode < 0 else f"status {returncode}"
            return EXIT_DIED, f"QEMU died mid-boot ({how}): {stderr_tail}"
        if boot.crashes():
            first = boot.crashes()[0]
            return EXIT_NOT_MET, f"kernel report during the boot: {first.title} ({first.directory}); {no_shell}"
        return EXIT_NO_SHELL, no_shell
    commands = [step for step in steps if step.is_command]
    if failed:
        first = failed[0]
        what = "the boot" if first.name == "boot" else f"'{first.name}'"
        return EXIT_NOT_MET, f"{len(failed)} of {len(steps)} step(s) failed; first {what}: {first.failure}"
    return EXIT_MET, f"{len(commands)} command(s) passed"


def _step_json(step: Step) -> dict:
    return {"name": step.name, "command": step.is_command, "passed": step.passed, "failure": step.failure,
            "exit_status": step.exit_status, "seconds": round(step.seconds, 3),
            "reports": [{"title": seen.title, "crash": seen.crash, "directory": str(seen.directory),
                         "known": verdict.known, "note": verdict.note()}
                        for seen, verdict in zip(step.reports, step.verdicts, strict=True)]}


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
        if spec.commands:  # the session has its own deadlines; a guest that panicked is no use to it
            if _panic_is_over(watcher, self.panicked, spec.idle_timeout):
                self.outcome = "stopped after the panic"
        elif current - self.started > spec.timeout:
            self.outcome = "timeout"
        elif quiet > spec.hang_timeout:
            self.outcome = "hang" if watcher.bytes else "silent"
        # Done once the report is out (or the guest panicked: with QEMU's `-action
        # panic=none` it stays up to print its last lines, then sits there) and the
        # console has been quiet for a report's idle time.
        elif (spec.expect == "oops" and self.first_report is not None and not watcher.reports_pending
              and quiet > spec.idle_timeout) or _panic_is_over(watcher, self.panicked, spec.idle_timeout):
            self.outcome = "stopped after the report"
        if self.outcome is not None:
            watcher.stop()


def _panic_is_over(watcher: Watcher, panicked: bool, idle_timeout: float) -> bool:
    """The guest panicked (pvpanic), its report is out and its console quiet: nothing more will come."""
    return panicked and not watcher.reports_pending and time.monotonic() - watcher.last_input > idle_timeout


class QemuConsole:
    """A QEMU guest with a shell on its console for a test session (the pytest plugin):
    `start` boots it and gives the live console once the shell answered; `close` stops
    watching and QEMU (also after a failed start). Reports reach the disk and the index."""

    def __init__(self, target: BootTarget, output: Path, idle_timeout: float = 2.0):
        self.target = target
        target.machine.append = f"{target.machine.append} {SHELL_PARAM}".strip()
        self.options = WatchOptions(board=target.name, output=output, echo=False, idle_timeout=idle_timeout,
                                    arch=target.arch, reconnect=False, announce=False, resume=False)
        self._workdir = tempfile.TemporaryDirectory(prefix="oopswatch-qemu-")
        self.qemu = QemuProcess(target.machine, Path(self._workdir.name))
        self.live: LiveConsole | None = None
        self.recorder: IndexRecorder | None = None
        self.panicked = False

    def start(self, shell_timeout: float) -> LiveConsole:
        """Boot (`QemuError`, `InputError`), watch, wait for the shell (`ShellError`)."""
        console = self.qemu.start()
        self.recorder = IndexRecorder(self.options.output, self.target.name, self.options.index)
        self.live = LiveConsole(console, self.target.chooser, self.options, self.target.shell,
                                on_report=self.recorder.record, tick=self._tick)
        self.live.start(already_open=True)
        self.live.wait_shell(shell_timeout)
        return self.live

    def _tick(self, watcher: Watcher, now: float) -> None:
        events = self.qemu.poll_events()
        self.panicked = self.panicked or any(event.get("event") == "GUEST_PANICKED" for event in events)
        if _panic_is_over(watcher, self.panicked, self.options.idle_timeout):
            watcher.stop()

    def close(self) -> None:
        from oopswatch.build_choice import close_loaded_builds

        try:
            if self.live is not None:
                self.live.stop()
            self.qemu.stop()
        finally:
            if self.recorder is not None:
                self.recorder.close()
            self._workdir.cleanup()
            close_loaded_builds()


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


def _judge(spec: BootSpec, boot: Step, outcome: str, returncode: int | None, stderr_tail: str) -> tuple[int, str]:
    """A boot without commands; `boot` holds its reports, judged against the known issues."""
    crashes = [seen.report for seen in boot.reports if seen.crash]
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
    unknown = boot.crashes()
    if spec.expect == "clean" and unknown:
        expired = boot.verdicts[boot.reports.index(unknown[0])].note()
        return EXIT_NOT_MET, f"unexpected kernel report: {unknown[0].title}" + (
            f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "") + (f"; {expired}" if expired else "")
    if outcome in ("hang", "timeout"):
        return EXIT_HANG, _hang_message(spec, outcome)
    if crashes and not unknown and spec.expect == "clean":
        return EXIT_MET, f"boot ended; {len(crashes)} kernel report(s), all known issues"
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
    """One test case for a boot; with commands, one for the boot and one per command."""
    if not spec.commands:
        write_junit(path, "oopswatch qemu", [junit_case(spec, result)])
        return
    classname = f"oopswatch.qemu.{spec.arch}"
    cases = [step_verdicts.junit_case(step, classname) for step in result.steps]
    if not any(step.is_command for step in result.steps):  # no shell: say each command did not run
        cases += [TestCase(command, classname, 0.0, error=f"not run: {result.verdict}") for command in spec.commands]
    boot = cases[0]
    boot.system_out = f"{result.verdict}\nconsole log: {result.directory / 'console.log'}\n{boot.system_out}"
    if result.exit_code not in (EXIT_MET, EXIT_NOT_MET) and boot.failure is None:
        boot.error = result.verdict  # no shell: the commands did not run
    write_junit(path, "oopswatch qemu", cases)


# -- what to boot -------------------------------------------------------------------

# For `--kernel`: any kernel, so room for a distribution initramfs (QEMU allocates lazily).
# arch: (QEMU, machine arguments, pvpanic device, console), the machines of the test kernels.
DEFAULT_QEMU = {
    "x86_64": ("qemu-system-x86_64", ["-M", "pc", "-cpu", "max", "-m", "512"], "pvpanic", "console=ttyS0"),
    "arm64": ("qemu-system-aarch64", ["-M", "virt", "-cpu", "max", "-m", "512"], "pvpanic-pci", "console=ttyAMA0"),
    "arm": ("qemu-system-arm", ["-M", "virt,highmem=off", "-cpu", "cortex-a15", "-m", "512"], "pvpanic-pci",
            "console=ttyAMA0"),
    "riscv": ("qemu-system-riscv64", ["-M", "virt", "-bios", "default", "-m", "512"], "pvpanic-pci",
              "console=ttyS0"),
    "powerpc": ("qemu-system-ppc64", ["-M", "pseries", "-m", "512"], "pvpanic-pci", "console=hvc0"),
    "mips": ("qemu-system-mips", ["-M", "malta", "-cpu", "24Kf", "-m", "256"], "pvpanic-pci", "console=ttyS0"),
}
QEMU_ARCHES = tuple(DEFAULT_QEMU)


@dataclass
class BootTarget:
    """What `oopswatch qemu` boots: the machine, and the symbols to decode it with."""

    name: str
    arch: str
    machine: QemuMachine
    chooser: BuildChooser
    crash_param: str = "oopswatch.crash"
    build_dir: Path | None = None  # the build's directory, where there is one
    system_map: Path | None = None
    shell: ShellSettings = field(default_factory=ShellSettings)
    has_shell: bool | None = None  # whether its init starts a shell for SHELL_PARAM (None: not known)

    def crash_types(self) -> list[str] | None:
        """The crash types this kernel offers: LKDTM's (its `lkdtm_TYPE` functions in
        System.map) and the test module's; None when there is no System.map to tell."""
        if self.system_map is None or not self.system_map.is_file():
            return None
        try:
            types = sorted({name.decode() for name in _LKDTM_SYMBOL.findall(self.system_map.read_bytes())})
        except OSError:
            return None
        if self.build_dir is not None and (self.build_dir / "modules" / "oopswatch_crash.ko").is_file():
            types += MODULE_CRASH_TYPES
        return types

    def check_crash(self, crash: str) -> None:
        """An `InputError` listing the types when this kernel has no crash type `crash`."""
        types = self.crash_types()
        if types is not None and crash not in types:
            offered = ", ".join(types) if types else "none (no LKDTM in this kernel)"
            raise InputError(f"--crash {crash}: not a crash type of {self.name}; its types: {offered}")


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
        shell = json.loads((directory / "qemu.json").read_text()).get("shell")  # read fine just above
        target = BootTarget(directory.resolve().name, arch, machine, BuildChooser(None, symbols or own), crash_param,
                            build_dir=directory, system_map=directory / "System.map",
                            has_shell=shell if isinstance(shell, bool) else None)
    elif board:
        config = find_board(board, board_dirs or [])
        machine, chosen = machine_from_board(config, build)
        target = BootTarget(config.name, config.arch, machine, BuildChooser(config, symbols), build_dir=chosen.path,
                            system_map=chosen.system_map, shell=config.shell)
    else:
        assert kernel is not None and arch is not None
        binary, machine_args, pvpanic, console = DEFAULT_QEMU[arch]
        machine = QemuMachine(binary=binary, machine_args=machine_args, kernel=Path(kernel),
                              initrd=Path(initrd) if initrd else None, append=append or console,
                              # The guest stays up after a panic to print its last lines
                              # (`Kernel Offset:`); the watcher stops it once it is quiet.
                              devices=["-device", pvpanic, "-action", "panic=none"])
        system_map = (symbols or {}).get("system_map")
        target = BootTarget(Path(kernel).name, arch, machine, BuildChooser(None, symbols),
                            system_map=Path(system_map) if system_map else None)
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
    if not manifest.exists():
        what = "no such directory" if not directory.is_dir() else "no qemu.json in it"
        raise InputError(f"{directory}: not a test kernel build directory ({what}); build the test kernels with "
                         f"{BUILD_SCRIPT} ARCH VARIANT (e.g. x86_64 kallsyms)")
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


def machine_from_board(board, build_name: str | None) -> tuple[QemuMachine, Build]:
    """A QEMU board's machine settings with one of its builds (default: the board's default)."""
    if board.qemu is None:
        raise InputError(f"{board.file}: board '{board.name}' has no 'qemu' section; it is not a QEMU board")
    try:
        builds = board.builds()
    except BoardError as error:  # most often a test kernel not built yet
        raise BoardError(f"{error}; {_build_hint(str(error))}") from None
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


def _build_hint(message: str) -> str:
    """How to build a missing test kernel: the exact command when the directory is named
    ARCH-VARIANT as the build script names its cache entries."""
    named = re.search(r"'[^']*/([a-z0-9_]+)-(kallsyms|nokallsyms)'", message)
    if named:
        return f"build it with {BUILD_SCRIPT} {named.group(1)} {named.group(2)}"
    return f"if it is a test kernel, build it with {BUILD_SCRIPT} ARCH VARIANT"
