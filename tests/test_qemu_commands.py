"""End to end: `oopswatch qemu --run` boots a real test kernel, gets a shell on its
console and judges each command; known issues; `oopswatch compare` on two real runs.

The test kernels' init gives the shell with `oopswatch.shell=1` (tests/shell_kernels.py).
Each boot runs several commands, so a handful of boots covers it all."""

from __future__ import annotations

import functools
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import kernels
from tests.kernels import SHELL_ARCHES, kernel_dir, run_oopswatch
from tests.lkdtm_expected import expected
from tests.shell_kernels import shell_kernel_dir

pytestmark = pytest.mark.qemu

DIRECT = "/sys/kernel/debug/provoke-crash/DIRECT"
WARNING_COMMAND = f"echo WARNING > {DIRECT}"
REFCOUNT_COMMAND = f"echo REFCOUNT_INC_OVERFLOW > {DIRECT}"
EXCEPTION_COMMAND = f"echo EXCEPTION > {DIRECT}"  # the oops kills the writer: a subshell of the session's shell
WARNING = "WARNING in lkdtm_WARNING"
EXCEPTION = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
REFCOUNT = "WARNING: refcount bug in lkdtm_REFCOUNT_INC_OVERFLOW"


def title(arch: str, crash: str) -> str:
    """The architecture's title for an LKDTM crash (tests/logs/EXPECTED.tsv)."""
    return expected(arch, "kallsyms", crash).title
OUTPUT = Path("/tmp/oopswatch-tests/qemu-commands")


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str
    output: Path
    junit: Path

    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    def result(self) -> dict:
        [result] = [json.loads(path.read_text()) for path in self.output.glob("*/*/result.json")]
        return result


@functools.cache
def qemu_run(arch: str, name: str, *args: str) -> Run:
    """`oopswatch qemu --kernel-dir SHELL_KERNEL ARGS` into a fresh output directory (once per session)."""
    output = OUTPUT / f"{arch}-{name}"
    if output.exists():
        for path in sorted(output.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    junit = output / "junit.xml"
    completed = run_oopswatch("qemu", "--kernel-dir", str(shell_kernel_dir(arch)), "--output", str(output),
                              "--junit", str(junit), "--timeout", "90", *args)
    return Run(completed.returncode, completed.stdout, completed.stderr, output, junit)


def commands_run(arch: str) -> Run:
    return qemu_run(arch, "commands", "--run", WARNING_COMMAND, "--run", EXCEPTION_COMMAND, "--run", "true",
                    "--run", "exit 3")


@pytest.mark.parametrize("arch", SHELL_ARCHES)
def test_each_command_is_judged_on_its_own(arch):
    run = commands_run(arch)
    warning, exception = title(arch, "WARNING"), title(arch, "EXCEPTION")
    assert run.exit_code == 1, run.stdout + run.stderr
    lines = run.lines()
    assert lines[0].startswith("PASS  (boot) (")
    assert lines[1].startswith(f"FAIL  {WARNING_COMMAND}: kernel report: {warning} ({run.output}/")
    killed = 137 if arch == "x86_64" else 139  # the writer killed by the oops: SIGKILL (x86) or SIGSEGV
    assert lines[2].startswith(f"FAIL  {EXCEPTION_COMMAND}: kernel report: {exception} ({run.output}/")
    assert f"); exit status {killed} (" in lines[2]
    assert lines[3].startswith("PASS  true (")  # the session's shell lives on
    assert lines[4].startswith("FAIL  exit 3: exit status 3 (")
    assert lines[5].startswith(f"3 of 5 step(s) failed; first '{WARNING_COMMAND}': kernel report: {warning}")
    steps = run.result()["steps"]
    assert [(step["name"], step["passed"], step["exit_status"]) for step in steps] == [
        ("boot", True, None), (WARNING_COMMAND, False, 0), (EXCEPTION_COMMAND, False, killed), ("true", True, 0),
        ("exit 3", False, 3)]
    report_dir = Path(steps[1]["reports"][0]["directory"])
    assert json.loads((report_dir / "report.json").read_text())["title"] == warning


@pytest.mark.parametrize("arch", SHELL_ARCHES)
def test_junit_has_one_case_per_command_with_its_output_and_reports(arch):
    run = commands_run(arch)
    cases = ET.parse(run.junit).getroot().findall(".//testcase")
    assert [case.get("name") for case in cases] == ["boot", WARNING_COMMAND, EXCEPTION_COMMAND, "true", "exit 3"]
    assert [case.find("failure") is not None for case in cases] == [False, True, True, False, True]
    failure = cases[1].find("failure")
    assert failure.get("message").startswith(f"kernel report: {title(arch, 'WARNING')} (")
    assert "drivers/misc/lkdtm/bugs.c" in failure.text  # the decoded report
    assert "lkdtm: Performing direct entry WARNING" in cases[1].find("system-out").text  # what the console showed
    assert cases[4].find("failure").get("message") == "exit status 3"


@pytest.mark.parametrize("arch", SHELL_ARCHES)
def test_reports_of_a_qemu_run_are_in_the_index(arch):
    run = commands_run(arch)
    listed = run_oopswatch("reports", "--output", str(run.output), "--json")
    assert listed.returncode == 0, listed.stderr
    titles = sorted(json.loads(line)["title"] for line in listed.stdout.splitlines())
    assert titles == sorted([title(arch, "EXCEPTION"), title(arch, "WARNING")])


def known_issues(tmp: Path, until: str) -> Path:
    path = tmp / f"known-{until}.yaml"
    path.write_text(f"known_issues:\n  - title: '^WARNING in lkdtm_WARNING$'\n    reason: provoked by the test\n"
                    f"    arches: [x86_64]\n    until: {until}\n"
                    "  - title: 'KASAN: '\n    reason: not in this tree any more\n")
    return path


def test_a_known_issue_passes_and_is_shown_as_known(tmp_path):
    run = qemu_run("x86_64", "known", "--known-issues", str(known_issues(tmp_path, "2999-12-31")),
                   "--run", WARNING_COMMAND)
    assert run.exit_code == 0, run.stdout + run.stderr
    lines = run.lines()
    assert lines[1].startswith(f"PASS  {WARNING_COMMAND} (")
    assert lines[2].startswith(f"      known: {WARNING} ({run.output}/")
    assert lines[2].endswith("; known issue: provoked by the test")
    assert "known issue not seen: 'KASAN: ' (not in this tree any more)" in lines
    [known] = run.result()["steps"][1]["reports"]
    assert (known["title"], known["known"]) == (WARNING, True)


def test_an_expired_known_issue_fails_again(tmp_path):
    run = qemu_run("x86_64", "expired", "--known-issues", str(known_issues(tmp_path, "2020-01-31")),
                   "--run", WARNING_COMMAND)
    assert run.exit_code == 1, run.stdout + run.stderr
    assert run.lines()[1].startswith(f"FAIL  {WARNING_COMMAND}: kernel report: {WARNING} (")
    assert "; known issue expired on 2020-01-31: provoked by the test (" in run.lines()[1]


def test_compare_two_real_runs_names_exactly_the_new_title():
    base = commands_run("x86_64")
    new = qemu_run("x86_64", "extra", "--expect", "any", "--allow-failure", "--run", WARNING_COMMAND,
                   "--run", EXCEPTION_COMMAND, "--run", REFCOUNT_COMMAND)
    assert new.exit_code == 0, new.stdout + new.stderr  # reports and exit statuses shown, not judged
    compared = run_oopswatch("compare", str(base.output), str(new.output), "--json")
    assert compared.returncode == 1, compared.stderr
    result = json.loads(compared.stdout)
    assert [item["title"] for item in result["new"]] == [REFCOUNT]
    assert [item["title"] for item in result["both"]] == [EXCEPTION, WARNING]
    assert result["gone"] == []
    backwards = run_oopswatch("compare", str(new.output), str(base.output))
    assert backwards.returncode == 0
    lines = backwards.stdout.splitlines()
    assert lines[:2] == [f"new in {base.output} (0):", f"gone since {new.output} (1):"]
    assert lines[2].startswith(f"  {REFCOUNT}  (refcount; reports 1 -> 0)  {new.output}/")


def test_an_unknown_crash_type_is_refused_with_the_list_of_types(tmp_path):
    completed = run_oopswatch("qemu", "--kernel-dir", str(kernel_dir("x86_64", "kallsyms")), "--crash", "NOSUCHTYPE",
                              "--output", str(tmp_path))
    assert completed.returncode == 2
    [line] = completed.stderr.splitlines()
    assert line.startswith("oopswatch: --crash NOSUCHTYPE: not a crash type of x86_64-kallsyms-")
    types = line.split("; its types: ")[1].split(", ")
    assert {"EXCEPTION", "WARNING", "BUG", "PANIC", "HUNG_TASK", "SOFTLOCKUP", "MODULE_WARNING"} <= set(types)
    assert "PPC_SLB_MULTIHIT" not in types  # a powerpc type: not in an x86_64 kernel
    assert not list(tmp_path.iterdir())  # refused before anything booted


def test_a_boot_without_commands_records_its_report_in_the_index():
    boot = kernels.boot("x86_64", "kallsyms", "WARNING")  # the boot test_qemu_e2e makes too (once per session)
    board = boot.directory.parent
    listed = run_oopswatch("reports", "--output", str(board.parent), "--board", board.name, "--json")
    assert listed.returncode == 0, listed.stderr
    assert WARNING in {json.loads(line)["title"] for line in listed.stdout.splitlines()}


def test_a_known_issue_passes_a_boot_without_commands(tmp_path):
    completed = run_oopswatch("qemu", "--kernel-dir", str(kernel_dir("x86_64", "kallsyms")), "--crash", "WARNING",
                              "--expect", "clean", "--known-issues", str(known_issues(tmp_path, "2999-12-31")),
                              "--output", str(tmp_path / "out"))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0] == f"known: {WARNING} (known issue: provoked by the test)"
    assert lines[-1].startswith("boot ended; 1 kernel report(s), all known issues (")
