"""Commands over a console (`oopswatch run`, the shell session under it) against a real
shell whose terminal is a pty, wired to a second pty that oopswatch opens as its serial
port (tests/shell_board.py): prompt, login, output, exit status, timeouts and Ctrl-C,
while the watcher logs and reports every byte. A kernel report during a command is a
real oops text that reaches the console while the command runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from oopswatch.boards import ShellSettings
from oopswatch.build_choice import BuildChooser
from oopswatch.errors import PortError
from oopswatch.harness.live import LiveConsole
from oopswatch.harness.shell import LoginError, ShellError
from oopswatch.sources.serial_port import SerialSource
from oopswatch.watch import WatchOptions
from tests.kernels import REPO, run_oopswatch
from tests.ptys import Pty, oops_block
from tests.shell_board import PROMPT, ShellBoard

EXAMPLE_LOG = REPO / "examples" / "qemu-x86_64-nokallsyms-exception.log"
EXAMPLE_MAP = REPO / "examples" / "qemu-x86_64-nokallsyms.System.map"
TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


@pytest.fixture
def oops_file(tmp_path: Path) -> Path:
    """A real oops (the example log's), for a command to put on the console as the kernel would."""
    path = tmp_path / "oops.txt"
    path.write_bytes(oops_block(EXAMPLE_LOG.read_bytes()))
    return path


def live_console(board: ShellBoard, output: Path, shell: ShellSettings | None = None) -> LiveConsole:
    symbols = {"system_map": str(EXAMPLE_MAP)}
    options = WatchOptions(board="pty-board", output=output, echo=False, arch="x86_64", idle_timeout=0.5)
    live = LiveConsole(SerialSource(board.path), BuildChooser(None, symbols), options, shell)
    live.start()
    return live


def test_commands_give_their_output_and_exit_status(tmp_path):
    with ShellBoard() as board:
        live = live_console(board, tmp_path)
        try:
            live.wait_shell(10)
            runs = [live.run(command, 10) for command in (
                "true", "echo hello; echo world", "exit 3", "cd /tmp && pwd", "pwd",
                "echo 'a # b' # a comment", "printf 'no newline'", "echo one\necho two")]
        finally:
            live.stop()
    assert [(run.exit_status, run.output) for run in runs] == [
        (0, ""), (0, "hello\nworld\n"), (3, ""), (0, "/tmp\n"), (0, "/\n"), (0, "a # b\n"), (0, "no newline"),
        (0, "one\ntwo\n")]  # each in a subshell: `exit` ends only it, a `cd` does not carry over
    assert [run.problem for run in runs] == [None] * 8
    log = next(tmp_path.glob("pty-board/*/console.log")).read_bytes()
    assert b"hello\r\nworld\r\n" in log  # the watcher logged what the session read
    assert log.count(PROMPT.encode()) >= 8


def test_a_long_output_comes_back_whole(tmp_path):
    with ShellBoard() as board:
        live = live_console(board, tmp_path)
        try:
            live.wait_shell(10)
            run = live.run("seq 1 30000", 30)
        finally:
            live.stop()
    assert (run.exit_status, run.output) == (0, "".join(f"{number}\n" for number in range(1, 30001)))


def test_a_command_that_does_not_finish_is_interrupted_and_the_shell_answers_again(tmp_path):
    with ShellBoard() as board:
        live = live_console(board, tmp_path)
        try:
            live.wait_shell(10)
            stuck = live.run("echo started; sleep 30", 1.5)
            after = live.run("echo after", 10)
        finally:
            live.stop()
    assert (stuck.exit_status, stuck.problem, stuck.output) == (None, "no exit status within 1.5 s", "started\n")
    assert (after.exit_status, after.output) == (0, "after\n")


def test_a_crash_during_a_command_is_that_commands(tmp_path, oops_file):
    with ShellBoard() as board:
        live = live_console(board, tmp_path)
        try:
            live.wait_shell(10)
            before = live.run("true", 10)
            oops = live.run(f"cat {oops_file}", 10)
            after = live.run("true", 10)
        finally:
            live.stop()
    assert before.reports == [] and after.reports == []
    assert [seen.title for seen in oops.reports] == [TITLE]
    assert oops.exit_status == 0
    assert (oops.reports[0].directory / "report.json").is_file()  # on disk when the command came back


def test_login_with_the_board_configs_user_and_password(tmp_path):
    with ShellBoard(login=("root", "s3cret")) as board:
        live = live_console(board, tmp_path, ShellSettings(user="root", password="s3cret"))
        try:
            live.wait_shell(10)
            run = live.run("echo logged in", 10)
        finally:
            live.stop()
    assert (run.exit_status, run.output) == (0, "logged in\n")


@pytest.mark.parametrize(("settings", "message"), [
    (ShellSettings(user="root", password="wrong"), r"login as 'root' refused; check shell.user and shell.password"),
    (ShellSettings(user="root"), r"asks for a password; give shell.password or shell.password_env"),
    (ShellSettings(), r"asks for a login; give shell.user"),
])
def test_a_login_that_cannot_succeed_is_a_one_line_error(tmp_path, settings, message):
    with ShellBoard(login=("root", "s3cret")) as board:
        live = live_console(board, tmp_path, settings)
        try:
            with pytest.raises(LoginError, match=message):
                live.wait_shell(10)
        finally:
            live.stop()


def test_a_console_without_a_shell(tmp_path):
    with Pty() as silent:
        live = LiveConsole(SerialSource(silent.path), BuildChooser(None, None),
                           WatchOptions(board="silent", output=tmp_path, echo=False))
        live.start()
        try:
            with pytest.raises(ShellError, match=r"silent: no shell prompt within 1 s"):
                live.wait_shell(1)
        finally:
            live.stop()
    assert ShellError.exit_code == 6


def test_a_port_that_cannot_be_opened(tmp_path):
    live = LiveConsole(SerialSource(str(tmp_path / "ttyUSB9")), BuildChooser(None, None),
                       WatchOptions(board="gone", output=tmp_path, echo=False))
    with pytest.raises(PortError, match="no such port"):
        live.start()


# -- `oopswatch run`, as a user runs it ----------------------------------------------------

def board_config(directory: Path, **shell: str) -> Path:
    directory.mkdir(exist_ok=True)
    lines = "".join(f"  {key}: {value}\n" for key, value in shell.items())
    (directory / "lab-board.yaml").write_text(
        f"name: lab-board\narch: x86_64\nbuilds:\n  - path: {EXAMPLE_MAP.parent}\n    system_map: {EXAMPLE_MAP}\n"
        + (f"shell:\n{lines}" if lines else ""))
    return directory


def test_oopswatch_run_judges_each_command_and_writes_junit_and_the_index(tmp_path, oops_file):
    boards = board_config(tmp_path / "boards", user="root", password="s3cret")
    junit = tmp_path / "run.xml"
    with ShellBoard(login=("root", "s3cret")) as board:
        completed = run_oopswatch("run", "--boards", str(boards), "--board", "lab-board", "--output",
                                  str(tmp_path / "out"), "--junit", str(junit), "--idle-timeout", "0.5",
                                  "--run", "true", "--run", f"cat {oops_file}", "--run", "sh -c 'exit 3'", board.path,
                                  "--", "echo", "done", timeout=120)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("PASS  true (")
    assert lines[1].startswith(f"FAIL  cat {oops_file}: kernel report: {TITLE} (")
    assert lines[2].startswith("FAIL  sh -c 'exit 3': exit status 3 (")
    assert lines[3].startswith("PASS  echo done (")
    assert lines[4].startswith(f"2 of 4 step(s) failed; first 'cat {oops_file}': kernel report: {TITLE}")
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert [case.get("name") for case in cases] == ["true", f"cat {oops_file}", "sh -c 'exit 3'", "echo done"]
    assert [case.find("failure") is not None for case in cases] == [False, True, True, False]
    assert "lkdtm_EXCEPTION" in cases[1].find("failure").text  # the decoded report
    assert cases[3].find("system-out").text == "done\nexit status 0\n"
    reports = run_oopswatch("reports", "--output", str(tmp_path / "out"), "--json")
    assert [json.loads(line)["title"] for line in reports.stdout.splitlines()] == [TITLE]


def test_oopswatch_run_with_allow_failure_and_a_known_issue_passes(tmp_path, oops_file):
    known = tmp_path / "known.yaml"
    known.write_text("known_issues:\n  - title: 'NULL pointer dereference in lkdtm_'\n    reason: provoked\n"
                     "  - title: 'never seen'\n    reason: trimmed later\n")
    with ShellBoard() as board:
        completed = run_oopswatch("run", "--output", str(tmp_path / "out"), "--system-map", str(EXAMPLE_MAP),
                                  "--known-issues", str(known), "--allow-failure", "--idle-timeout", "0.5",
                                  "--run", f"cat {oops_file}",
                                  board.path, "--", "false", timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert f"      known: {TITLE} (" in completed.stdout
    assert "; known issue: provoked" in completed.stdout
    assert "known issue not seen: 'never seen' (trimmed later)" in completed.stdout
    assert "2 command(s) passed" in completed.stdout


def test_oopswatch_run_without_a_shell_exits_6(tmp_path):
    with Pty() as silent:
        completed = run_oopswatch("run", "--output", str(tmp_path), "--shell-timeout", "1", silent.path, "--", "true")
    assert completed.returncode == 6
    assert "no shell prompt within 1 s" in completed.stdout


def test_oopswatch_run_refused_login_is_one_line_and_exit_2(tmp_path):
    boards = board_config(tmp_path / "boards", user="root", password="wrong")
    with ShellBoard(login=("root", "s3cret")) as board:
        completed = run_oopswatch("run", "--boards", str(boards), "--board", "lab-board", "--output", str(tmp_path),
                                  board.path, "--", "true")
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "oopswatch: lab-board: login as 'root' refused; check shell.user and shell.password in the board config"]


def test_oopswatch_run_on_a_missing_port_exits_3(tmp_path):
    completed = run_oopswatch("run", "--output", str(tmp_path / "out"), str(tmp_path / "ttyUSB9"), "--", "true")
    assert completed.returncode == 3
    assert "ttyUSB9: no such port" in completed.stderr
    assert not (tmp_path / "out").exists()  # nothing written for a port that is not there
