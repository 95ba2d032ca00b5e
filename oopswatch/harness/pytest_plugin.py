"""pytest plugin: a team's own tests run against a kernel whose console oopswatch watches,
and a test fails when the kernel reported a crash while it ran.

Registered through the `pytest11` entry point, it does nothing unless asked:

    pytest --oopswatch-kernel-dir DIR            # boot a test kernel under QEMU (needs a shell: oopswatch.shell=1)
    pytest --oopswatch-board qemu-x86_64         # boot a QEMU board's kernel
    pytest --oopswatch-board rpi4 --oopswatch-port /dev/ttyUSB0   # a running board's console

The console is opened before the first test and closed after the last. The session
fixture `kernel_console` runs commands on the kernel's shell (`.run(cmd)`). Every
report the kernel printed is given to the test during which it began: a crash report
(not a known issue, `--oopswatch-known-issues`) fails the test, or errors its teardown
when it came then; `@pytest.mark.oopswatch_expect_crash(title=REGEX)` marks a test that
must make the kernel report a crash. Reports outside any test (the boot, between tests)
fail the session and are listed at the end.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from oopswatch.harness.known_issues import KnownIssues
    from oopswatch.harness.live import CommandRun, LiveConsole, SeenReport

MARKER = "oopswatch_expect_crash"
_ENABLING = ("oopswatch_kernel_dir", "oopswatch_board", "oopswatch_port")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("oopswatch", "kernel console watched by oopswatch (enabled by the first three)")
    group.addoption("--oopswatch-kernel-dir", metavar="DIR", help="boot this test kernel build directory under QEMU")
    group.addoption("--oopswatch-board", metavar="NAME",
                    help="a board config: a QEMU board is booted, any other board is attached to at its port")
    group.addoption("--oopswatch-port", metavar="PORT", help="attach to this console (a running board's shell)")
    group.addoption("--oopswatch-build", metavar="NAME", help="with a QEMU board: which build to boot")
    group.addoption("--oopswatch-boards", metavar="DIR", action="append", default=[],
                    help="also look for board configs here")
    group.addoption("--oopswatch-append", metavar="CMDLINE", default="", help="QEMU: add to the kernel command line")
    group.addoption("--oopswatch-output", metavar="DIR", default=None,
                    help="where console logs, reports and the index go (./oopswatch-out)")
    group.addoption("--oopswatch-known-issues", metavar="FILE", help="known issues (YAML): recorded, never fail")
    group.addoption("--oopswatch-shell-timeout", type=float, default=120.0, metavar="SECONDS",
                    help="seconds for the shell to answer after the boot or attach (120)")
    group.addoption("--oopswatch-command-timeout", type=float, default=300.0, metavar="SECONDS",
                    help="default seconds for kernel_console.run (300)")
    group.addoption("--oopswatch-idle-timeout", type=float, default=2.0, metavar="SECONDS",
                    help="seconds of console quiet that end a report without an end marker (2)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}(title=None): the test must make the kernel report a crash "
                            "(whose title matches the regex, if given); such a report does not fail it")
    if any(config.getoption(name) for name in _ENABLING):
        config.pluginmanager.register(KernelWatch(config), "oopswatch-kernel-watch")


class KernelConsole:
    """What the `kernel_console` fixture gives: commands on the kernel's shell."""

    def __init__(self, live: LiveConsole, command_timeout: float):
        self._live = live
        self.command_timeout = command_timeout

    def run(self, command: str, timeout: float | None = None, check: bool = False) -> CommandRun:
        """Run one shell command line; `.output`, `.exit_status` (None when it did not
        finish: `.problem` says why), `.reports` (those during it). `check`: an
        AssertionError when it did not exit 0."""
        result = self._live.run(command, self.command_timeout if timeout is None else timeout)
        if check and result.exit_status != 0:
            raise AssertionError(f"'{command}' {result.problem or f'exited {result.exit_status}'}:\n{result.output}")
        return result

    @property
    def spawn(self):
        """The pexpect spawn on the console, for a conversation of your own."""
        return self._live.spawn

    @property
    def directory(self) -> Path:
        """Where the console log and the reports are."""
        return self._live.directory


@pytest.fixture(scope="session")
def kernel_console(request: pytest.FixtureRequest) -> KernelConsole:
    watch = request.config.pluginmanager.get_plugin("oopswatch-kernel-watch")
    if watch is None:
        raise pytest.UsageError("kernel_console needs a kernel console: give --oopswatch-kernel-dir, "
                                "--oopswatch-board or --oopswatch-port")
    return KernelConsole(watch.console(), request.config.getoption("oopswatch_command_timeout"))


class KernelWatch:
    """The plugin's state once enabled: the console, and whose each report is."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self._console = None  # AttachedConsole or QemuConsole
        self._live: LiveConsole | None = None
        self._failed_start: str | None = None
        self.known: KnownIssues | None = None
        self.outside: list[SeenReport] = []  # reports during no test
        self.by_test: dict[str, list[SeenReport]] = {}

    def console(self) -> LiveConsole:
        """Open it on first use: boot or attach, then wait for the shell."""
        if self._failed_start is not None:
            pytest.fail(self._failed_start, pytrace=False)
        if self._live is None:
            try:
                self._live = self._start()
            except Exception as error:
                from oopswatch.errors import OopswatchError

                if not isinstance(error, OopswatchError):
                    raise
                self._failed_start = f"oopswatch: {error}"
                pytest.fail(self._failed_start, pytrace=False)
        return self._live

    def _start(self) -> LiveConsole:
        from oopswatch import DEFAULT_OUTPUT
        from oopswatch.boards import find_board
        from oopswatch.harness.attach import AttachedConsole
        from oopswatch.harness.known_issues import load_known_issues
        from oopswatch.qemu_boot import QemuConsole, boot_target

        option = self.config.getoption
        self.known = load_known_issues(option("oopswatch_known_issues"))
        output = Path(option("oopswatch_output") or DEFAULT_OUTPUT)
        board = find_board(option("oopswatch_board"), option("oopswatch_boards")) if option("oopswatch_board") \
            else None
        if option("oopswatch_port") or (board is not None and board.qemu is None):
            port = option("oopswatch_port") or board.console.port
            if not port:
                raise pytest.UsageError(f"board {board.name} has no console.port: give --oopswatch-port")
            self._console = AttachedConsole(port, output, board, idle_timeout=option("oopswatch_idle_timeout"))
        else:
            target = boot_target(kernel_dir=option("oopswatch_kernel_dir"), board=option("oopswatch_board"),
                                 board_dirs=option("oopswatch_boards"), build=option("oopswatch_build"),
                                 append=option("oopswatch_append"))
            self._console = QemuConsole(target, output, idle_timeout=option("oopswatch_idle_timeout"))
        live = self._console.start(option("oopswatch_shell_timeout"))
        live.settle()
        return live

    # -- whose is each report ------------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        live = self.console()
        self.outside += live.take_reports(time.time())  # began before this test
        self.by_test[item.nodeid] = []

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo):
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        if self._live is None or item.nodeid not in self.by_test or (call.when == "setup" and report.passed):
            return  # a passed setup's reports are judged with the call's
        self._live.settle()
        seen = self._live.take_reports(time.time())
        self.by_test[item.nodeid] += seen
        for entry in seen:
            item.user_properties.append(("oopswatch_report", f"{entry.title} ({entry.directory})"))
        judged = self._judge(item, self.by_test[item.nodeid] if call.when != "teardown" else seen, call.when)
        if judged:
            if judged[1]:
                report.sections.append(("oopswatch: kernel reports", judged[1]))
            if judged[0] and not report.failed:
                report.outcome = "failed"
                report.longrepr = judged[0]

    def _judge(self, item: pytest.Item, seen: list[SeenReport], phase: str) -> tuple[str, str] | None:
        """(why the test fails, or "", the reports as text), or None when there is nothing to say."""
        assert self.known is not None
        marker = item.get_closest_marker(MARKER)
        title = (marker.kwargs.get("title") or (marker.args[0] if marker.args else None)) if marker else None
        lines, unknown, expected = [], [], []
        for entry in seen:
            verdict = self.known.check(entry.title, entry.board, entry.arch, entry.build)
            note = f"; {verdict.note()}" if verdict.issue is not None else ""
            lines.append(f"{'crash' if entry.crash else 'note'}: {entry.title} ({entry.directory}){note}")
            if not entry.crash or verdict.known:
                continue
            if marker is not None and (title is None or re.search(title, entry.title)):
                expected.append(entry)
            else:
                unknown.append(entry)
        why = ""
        if unknown:
            first = unknown[0]
            more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
            during = "this test" if phase == "call" else f"this test's {phase}"
            why = f"the kernel reported a crash during {during}: {first.title} ({first.directory}){more}"
        elif phase == "call" and marker is not None and not expected:
            why = "expected a kernel crash report" + (f" matching '{title}'" if title else "") + ", none came"
        if not why and not lines:
            return None
        return why, "\n".join(lines)

    # -- the end -------------------------------------------------------------------------

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._console is None:
            return
        if self._live is not None:
            self._live.settle()
            self.outside += self._live.take_reports()
        self._console.close()
        if any(entry.crash and not self._known(entry) for entry in self.outside) and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def _known(self, entry: SeenReport) -> bool:
        return self.known is not None and self.known.check(entry.title, entry.board, entry.arch, entry.build).known

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self._live is None:
            return
        write = terminalreporter.write_line
        terminalreporter.section("oopswatch")
        write(f"console log and reports: {self._live.directory}")
        for nodeid, seen in self.by_test.items():
            for entry in seen:
                write(f"{nodeid}: {entry.title} ({entry.directory})")
        for entry in self.outside:
            label = "known" if self._known(entry) else "crash" if entry.crash else "note"
            write(f"outside any test: {label}: {entry.title} ({entry.directory})")
        for issue in self.known.not_seen() if self.known else []:
            write(f"known issue not seen: {issue.describe()}")
