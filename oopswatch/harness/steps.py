"""The steps of a CI job on a console (the boot, each command) and their verdicts: a step
fails when the kernel reported a crash during it that is not a known issue, when its
command exited non-zero (unless failures are allowed), or when it did not finish."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from oopswatch.harness.known_issues import KnownIssues, Verdict
from oopswatch.harness.live import CommandRun, LiveConsole, SeenReport
from oopswatch.sinks.junit import TestCase


@dataclass
class Step:
    name: str  # `boot`, or the command line
    seconds: float
    reports: list[SeenReport] = field(default_factory=list)
    output: str = ""
    exit_status: int | None = None
    problem: str | None = None  # a command that did not finish: why
    is_command: bool = True
    verdicts: list[Verdict] = field(default_factory=list)  # one per report, once judged
    failure: str | None = None  # once judged: why the step failed

    @classmethod
    def from_run(cls, run: CommandRun) -> Step:
        return cls(run.command, run.seconds, run.reports, run.output, run.exit_status, run.problem)

    @property
    def passed(self) -> bool:
        return self.failure is None

    def crashes(self) -> list[SeenReport]:
        """The crash reports that fail the step (not known issues)."""
        return [seen for seen, verdict in zip(self.reports, self.verdicts, strict=True)
                if seen.crash and not verdict.known]

    def known(self) -> list[tuple[SeenReport, Verdict]]:
        return [(seen, verdict) for seen, verdict in zip(self.reports, self.verdicts, strict=True) if verdict.known]


def judge(step: Step, known_issues: KnownIssues, allow_failure: bool = False, crashes_fail: bool = True) -> Step:
    """Sets `verdicts` and `failure`; returns the step."""
    step.verdicts = [known_issues.check(seen.title, seen.board, seen.arch, seen.build) for seen in step.reports]
    reasons = []
    crashes = step.crashes() if crashes_fail else []
    if crashes:
        first = crashes[0]
        expired = step.verdicts[step.reports.index(first)].note()
        more = f" (and {len(crashes) - 1} more)" if len(crashes) > 1 else ""
        reasons.append(f"kernel report: {first.title} ({first.directory}){more}"
                       + (f"; {expired}" if expired else ""))
    if step.problem is not None:
        reasons.append(step.problem)
    elif step.is_command and step.exit_status not in (0, None) and not allow_failure:
        reasons.append(f"exit status {step.exit_status}")
    step.failure = "; ".join(reasons) or None
    return step


def summary_line(step: Step) -> str:
    """`PASS  CMD (0.1 s)` or `FAIL  CMD: why (0.1 s)`; known issues after it."""
    what = step.name if step.is_command else f"({step.name})"
    line = f"{'PASS' if step.passed else 'FAIL'}  {what}"
    if step.failure:
        line += f": {step.failure}"
    line += f" ({step.seconds:.1f} s)"
    for seen, verdict in step.known():
        line += f"\n      known: {seen.title} ({seen.directory}); {verdict.note()}"
    return line


def junit_case(step: Step, classname: str) -> TestCase:
    """One test case: the command's output, and each report with its folder."""
    lines = [step.output.rstrip("\n")] if step.output.strip() else []
    if step.is_command and step.exit_status is not None:
        lines.append(f"exit status {step.exit_status}")
    for seen, verdict in zip(step.reports, step.verdicts, strict=True):
        note = f"; {verdict.note()}" if verdict.issue is not None else ""
        lines.append(f"{'crash' if seen.crash else 'note'}: {seen.title} ({seen.directory}){note}")
    return TestCase(name=step.name, classname=classname, seconds=step.seconds,
                    reports=[seen.report for seen in step.crashes()], failure=step.failure,
                    system_out="\n".join(lines) + "\n" if lines else "")


@dataclass
class JobRules:
    """How a job's steps are judged."""

    known_issues: KnownIssues = field(default_factory=KnownIssues)
    allow_failure: bool = False  # a non-zero exit status does not fail a command
    crashes_fail: bool = True  # a crash report (not a known issue) fails its step
    command_timeout: float = 300.0


def run_steps(live: LiveConsole, commands: list[str], rules: JobRules, first: Step,
              on_step: Callable[[Step], None] | None = None, keep_empty_first: bool = True) -> list[Step]:
    """Each command on the console's shell (which answered already), judged as soon as
    its reports are out. `first` (the boot, or what came before the commands) gets the
    reports begun until now; reports after the last command make a step of their own."""
    tell = on_step or (lambda step: None)
    steps = []
    live.settle()
    first.reports = live.take_reports(time.time())
    if first.reports or keep_empty_first:
        steps.append(_judged(first, rules))
        tell(first)
    for command in commands:
        step = Step.from_run(live.run(command, rules.command_timeout))
        step.reports = live.take_reports(time.time())  # with those begun since the last step
        step = _judged(step, rules)
        steps.append(step)
        tell(step)
    late = live.take_reports()
    if late:
        after = _judged(Step("after the commands", 0.0, late, is_command=False), rules)
        steps.append(after)
        tell(after)
    return steps


def _judged(step: Step, rules: JobRules) -> Step:
    return judge(step, rules.known_issues, rules.allow_failure, rules.crashes_fail)
