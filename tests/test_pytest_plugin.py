"""The pytest plugin, as a team's own test suite uses it: pytest in a subprocess
(pytester) on a small test file, the plugin found through its `pytest11` entry point,
against a real shell on a board console (a pty) and against a test kernel under QEMU."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.kernels import REPO
from tests.ptys import oops_block
from tests.shell_board import ShellBoard
from tests.shell_kernels import shell_kernel_dir

EXAMPLE_LOG = REPO / "examples" / "qemu-x86_64-nokallsyms-exception.log"

BOARD_TESTS = """
import pytest

def test_true(kernel_console):
    assert kernel_console.run("true").exit_status == 0

def test_oops(kernel_console):
    assert kernel_console.run("cat {oops}").exit_status == 0

def test_after_the_oops(kernel_console):
    assert kernel_console.run("echo hello").output == "hello\\n"

@pytest.mark.oopswatch_expect_crash(title="NULL pointer dereference")
def test_expected_oops(kernel_console):
    kernel_console.run("cat {oops}")

@pytest.fixture
def oops_at_teardown(kernel_console):
    yield
    kernel_console.run("cat {oops}")

def test_oops_in_its_teardown(oops_at_teardown):
    pass
"""


def test_the_plugin_changes_nothing_unless_enabled(pytester):
    pytester.makepyfile("def test_plain():\n    assert True\n\n"
                        "def test_needs_a_console(kernel_console):\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*kernel_console needs a kernel console: give --oopswatch-kernel-dir, "
                                 "--oopswatch-board or --oopswatch-port*"])
    assert "= oopswatch =" not in result.stdout.str()  # no summary section of its own


@pytest.mark.slow
def test_against_a_board_console_exactly_the_test_with_the_oops_fails(pytester, tmp_path):
    oops = tmp_path / "oops.txt"
    oops.write_bytes(oops_block(EXAMPLE_LOG.read_bytes()))
    pytester.makepyfile(test_board=BOARD_TESTS.format(oops=oops))
    with ShellBoard() as board:
        # Options as one word each: pytest takes a bare path argument as a place to look for its rootdir.
        result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--oopswatch-port={board.path}",
                                               f"--oopswatch-output={tmp_path / 'out'}", "--oopswatch-idle-timeout=0.5",
                                               f"--junitxml={tmp_path / 'junit.xml'}")
    result.assert_outcomes(passed=4, failed=1, errors=1)
    title = "BUG: unable to handle kernel NULL pointer dereference"  # no symbols given: the raw title
    outcomes = junit_outcomes(tmp_path / "junit.xml")
    assert outcomes == {"test_true": None, "test_after_the_oops": None, "test_expected_oops": None,
                        "test_oops": f"the kernel reported a crash during this test: {title}",
                        "test_oops_in_its_teardown": 'failed on teardown with "the kernel reported a crash during '
                                                     f"this test's teardown: {title}"}
    [teardown] = [case for case in ET.parse(tmp_path / "junit.xml").getroot().iter("testcase")
                  if case.get("name") == "test_oops_in_its_teardown"]
    assert teardown.find("error") is not None  # an error at teardown, the test itself passed
    # The unexpected ones and the expected one, all on disk: the same oops again in one boot
    # is a repeat of its first report.
    [report] = [json.loads(path.read_text()) for path in (tmp_path / "out").glob("*/*/report-*/report.json")]
    assert report["repeats"] == 2


def junit_outcomes(path: Path) -> dict[str, str | None]:
    """Test name: its failure message without the report's folder, or None when it passed."""
    cases = ET.parse(path).getroot().findall(".//testcase")
    outcomes: dict[str, str | None] = {}
    for case in cases:
        problem = case.find("failure") if case.find("failure") is not None else case.find("error")
        outcomes[case.get("name")] = problem.get("message").split(" (/")[0] if problem is not None else None
    return outcomes


QEMU_TESTS = """
import json
import pytest

DIRECT = "/sys/kernel/debug/provoke-crash/DIRECT"

def test_true(kernel_console):
    kernel_console.run("true", check=True)

def test_warning(kernel_console):
    result = kernel_console.run(f"echo WARNING > {DIRECT}")
    # the report is on disk while QEMU runs, as soon as the command came back
    [report] = result.reports
    assert json.loads((report.directory / "report.json").read_text())["title"] == "WARNING in lkdtm_WARNING"

def test_still_up(kernel_console):
    assert kernel_console.run("uname -s").output == "Linux\\n"

@pytest.mark.oopswatch_expect_crash(title="^WARNING in lkdtm_WARNING$")
def test_expected_warning(kernel_console):
    kernel_console.run(f"echo WARNING > {DIRECT}")

@pytest.mark.oopswatch_expect_crash
def test_expected_but_none_came(kernel_console):
    kernel_console.run("true")
"""


@pytest.fixture(scope="module")
def shell_kernel() -> Path:
    """Found before the pytester fixture points HOME at its own folder, where no test kernel is cached."""
    return shell_kernel_dir("x86_64")


@pytest.mark.qemu
def test_against_a_qemu_booted_kernel_exactly_the_test_with_the_oops_fails(shell_kernel, pytester, tmp_path):
    pytester.makepyfile(test_kernel=QEMU_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", f"--oopswatch-kernel-dir={shell_kernel}",
                                           f"--oopswatch-output={tmp_path}", f"--junitxml={tmp_path / 'junit.xml'}")
    result.assert_outcomes(passed=3, failed=2)
    assert junit_outcomes(tmp_path / "junit.xml") == {
        "test_true": None, "test_still_up": None, "test_expected_warning": None,
        "test_warning": "the kernel reported a crash during this test: WARNING in lkdtm_WARNING",
        "test_expected_but_none_came": "expected a kernel crash report, none came"}
    result.stdout.fnmatch_lines(["test_kernel.py::test_warning: WARNING in lkdtm_WARNING (*",
                                 "test_kernel.py::test_expected_warning: WARNING in lkdtm_WARNING (*"])
