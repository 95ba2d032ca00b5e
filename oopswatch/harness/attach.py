"""`oopswatch run`: commands on the shell of a board that is already up, over its console
(no boot): the console is watched, logged, reported and indexed as by `oopswatch watch`
while the commands run, and each command is judged on its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.boards import Board, ShellSettings, console_settings
from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.errors import EXIT_CRASH, EXIT_OK
from oopswatch.harness.live import LiveConsole
from oopswatch.harness.shell import EXIT_NO_SHELL, ShellError
from oopswatch.harness.steps import JobRules, Step, junit_case, run_steps
from oopswatch.sinks.index_recorder import IndexRecorder
from oopswatch.sinks.junit import TestCase, write_junit
from oopswatch.sources.port import open_source, port_name
from oopswatch.watch import WatchOptions


class AttachedConsole:
    """A running board's console with a shell session; `start` gives the live console
    once the shell answered, `close` stops watching (also after a failed start)."""

    def __init__(self, port: str, output: Path, board: Board | None = None, baud: int | None = None,
                 symbols: dict | None = None, arch: str | None = None, idle_timeout: float = 2.0):
        self.name = board.name if board else port_name(port)
        chooser = BuildChooser(board if symbols is None else None, symbols, strict=False)
        options = WatchOptions(board=self.name, output=output, echo=False, idle_timeout=idle_timeout,
                               arch=arch or (board.arch if board else None), announce=False)
        self.output = output
        self.source = open_source(port, console_settings(board, port, baud))
        self.live = LiveConsole(self.source, chooser, options, board.shell if board else ShellSettings())
        self.recorder: IndexRecorder | None = None

    def start(self, shell_timeout: float) -> LiveConsole:
        """Open the port (`PortError`), watch it, wait for the shell (`ShellError`, `LoginError`)."""
        self.source.open()  # a port that cannot be opened is said before anything is written
        self.recorder = IndexRecorder(self.output, self.name)
        self.live.extra_on_report = self.recorder.record
        self.live.start(already_open=True)
        self.live.wait_shell(shell_timeout)
        return self.live

    def close(self) -> None:
        self.live.stop()
        if self.recorder is not None:
            self.recorder.close()
        close_loaded_builds()


@dataclass
class AttachSpec:
    port: str
    commands: list[str]
    output: Path
    board: Board | None = None
    baud: int | None = None
    symbols: dict | None = None
    arch: str | None = None
    rules: JobRules = field(default_factory=JobRules)
    shell_timeout: float = 30.0
    idle_timeout: float = 2.0
    on_step: Callable[[Step], None] | None = None


@dataclass
class JobResult:
    exit_code: int
    verdict: str
    steps: list[Step]
    directory: Path  # console log and reports


def run_attached(spec: AttachSpec) -> JobResult:
    """Attach, find the shell, run and judge each command, detach. A port that cannot be
    opened raises `PortError`; a login the board refuses, `LoginError`."""
    console = AttachedConsole(spec.port, spec.output, spec.board, spec.baud, spec.symbols, spec.arch,
                              spec.idle_timeout)
    try:
        try:
            live = console.start(spec.shell_timeout)
        except ShellError as error:
            return JobResult(EXIT_NO_SHELL, str(error), [], console.live.directory)
        before = Step("before the commands", 0.0, is_command=False)
        steps = run_steps(live, spec.commands, spec.rules, before, spec.on_step, keep_empty_first=False)
    finally:
        console.close()
    failed = [step for step in steps if not step.passed]
    commands = sum(step.is_command for step in steps)
    if failed:
        return JobResult(EXIT_CRASH, f"{len(failed)} of {len(steps)} step(s) failed; first '{failed[0].name}': "
                         f"{failed[0].failure}", steps, live.directory)
    return JobResult(EXIT_OK, f"{commands} command(s) passed", steps, live.directory)


def write_job_junit(path: str, spec: AttachSpec, result: JobResult, classname: str) -> None:
    """One test case per command (and one for reports outside them); with no shell,
    each command is an error: not run."""
    cases = [junit_case(step, classname) for step in result.steps]
    if not result.steps:
        cases = [TestCase(command, classname, 0.0, error=f"not run: {result.verdict}") for command in spec.commands]
    write_junit(path, "oopswatch run", cases)
