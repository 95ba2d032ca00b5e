"""The CI harness's inputs and outputs without a kernel: known-issue files, `oopswatch
compare` over saved runs, the report index of `oopswatch watch`, the exit codes that
--help lists, and what a user is told when a test kernel is missing."""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path

import pytest

from oopswatch.cli import main
from oopswatch.errors import InputError
from oopswatch.harness.known_issues import load_known_issues
from tests.kernels import REPO, run_oopswatch

EXAMPLE_LOG = REPO / "examples" / "qemu-x86_64-nokallsyms-exception.log"
EXAMPLE_MAP = REPO / "examples" / "qemu-x86_64-nokallsyms.System.map"
TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def one_line_error(completed) -> str:
    assert "Traceback" not in completed.stderr
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, completed.stderr
    return lines[0]


# -- known issues ---------------------------------------------------------------------------

def test_known_issues_match_title_board_arch_build_and_expire(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("""\
known_issues:
  - title: 'WARNING in lkdtm_'
    reason: provoked
    boards: [rpi4]
    until: 2026-06-30
  - title: '^BUG: soft lockup'
    reason: slow machine
    arches: [arm64]
    builds: [next-20260101]
  - title: 'never'
    reason: trimmed later
""")
    known = load_known_issues(path, today=datetime.date(2026, 6, 30))
    assert known.check("WARNING in lkdtm_WARNING", "rpi4", "arm64", None).known
    assert not known.check("WARNING in lkdtm_WARNING", "other-board", "arm64", None).known
    lockup = "BUG: soft lockup in full_proxy_write"
    assert known.check(lockup, "rpi4", "arm64", "next-20260101").known
    assert not known.check(lockup, "rpi4", "x86_64", "next-20260101").known
    assert not known.check(lockup, "rpi4", "arm64", None).known
    assert [issue.reason for issue in known.not_seen()] == ["trimmed later"]
    later = load_known_issues(path, today=datetime.date(2026, 7, 1))
    expired = later.check("WARNING in lkdtm_WARNING", "rpi4", "arm64", None)
    assert (expired.known, expired.note()) == (False, f"known issue expired on 2026-06-30: provoked ({path}: "
                                                      "known_issues[0])")


@pytest.mark.parametrize(("text", "message"), [
    ("known_issues:\n  - title: 'a'\n  reason: [\n", r"known\.yaml: line \d+: YAML syntax error: "),
    ("known_issues:\n  - title: 'ok'\n    reason: fine\n  - title: 'lkdtm_(WARNING'\n    reason: typo\n",
     r"known\.yaml: known_issues\[1\]: title 'lkdtm_\(WARNING' is not a regular expression: missing \), "),
    ("known_issues:\n  - title: 'x'\n    reasons: typo\n",
     r"known\.yaml: unknown key 'known_issues\[0\]\.reasons'; did you mean 'known_issues\[0\]\.reason'\?"),
    ("known_issues:\n  - title: 'x'\n", r"known\.yaml: known_issues\[0\]: missing key 'reason'"),
    ("known_issues:\n  - title: 'x'\n    reason: y\n    until: next week\n",
     r"known\.yaml: known_issues\[0\]: until 'next week' is not a date \(2026-12-31\)"),
    ("- title: x\n", r"known\.yaml: expected a mapping of 'known_issues:' with a list of entries at the top level"),
])
def test_a_bad_known_issues_file_is_one_line_naming_the_entry(tmp_path, text, message):
    path = tmp_path / "known.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as raised:
        load_known_issues(path)
    assert re.match(f"{re.escape(str(tmp_path))}/{message}", str(raised.value))
    assert "\n" not in str(raised.value)


def test_qemu_and_run_refuse_a_bad_known_issues_file_with_exit_2_before_anything_else(tmp_path):
    path = tmp_path / "known.yaml"
    path.write_text("known_issues:\n  - title: 'lkdtm_(WARNING'\n    reason: typo\n")
    for command in (["qemu", "--kernel-dir", str(tmp_path)], ["run", str(tmp_path / "ttyUSB0")]):
        completed = run_oopswatch(*command, "--known-issues", str(path), "--run", "true")
        assert completed.returncode == 2
        assert one_line_error(completed).startswith(f"oopswatch: {path}: known_issues[0]: title 'lkdtm_(WARNING' is "
                                                    "not a regular expression")


# -- compare --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scanned(tmp_path_factory):
    """`oopswatch scan --json` of a real oops log, and of a log without one."""
    directory = tmp_path_factory.mktemp("scanned")
    crash = run_oopswatch("scan", "--json", "--system-map", str(EXAMPLE_MAP), str(EXAMPLE_LOG))
    assert crash.returncode == 1
    (directory / "crash.jsonl").write_text(crash.stdout)
    clean = run_oopswatch("scan", "--json", str(REPO / "examples" / "qemu-x86_64-boot.log"))
    assert clean.returncode == 0
    (directory / "clean.jsonl").write_text(clean.stdout)
    return directory


def test_compare_scan_json_files(scanned):
    new = run_oopswatch("compare", str(scanned / "clean.jsonl"), str(scanned / "crash.jsonl"), "--json")
    assert new.returncode == 1
    assert json.loads(new.stdout) == {"new": [{"title": TITLE, "kind": "null-deref", "crash": True, "base_count": 0,
                                               "new_count": 1, "report_dir": None}], "gone": [], "both": []}
    same = run_oopswatch("compare", str(scanned / "crash.jsonl"), str(scanned / "crash.jsonl"))
    assert same.returncode == 0
    assert same.stdout.splitlines() == [f"new in {scanned / 'crash.jsonl'} (0):",
                                        f"gone since {scanned / 'crash.jsonl'} (0):", "in both (1):",
                                        f"  {TITLE}  (null-deref; reports 1 -> 1)"]


def test_watch_records_into_the_index_and_compare_reads_output_directories_and_indexes(tmp_path, scanned):
    watched = run_oopswatch("watch", "--output", str(tmp_path / "out"), "--quiet", "--system-map", str(EXAMPLE_MAP),
                            str(EXAMPLE_LOG))
    assert watched.returncode == 0, watched.stderr
    listed = run_oopswatch("reports", "--output", str(tmp_path / "out"), "--json")
    assert [json.loads(line)["title"] for line in listed.stdout.splitlines()] == [TITLE]
    for new in (tmp_path / "out", tmp_path / "out" / "reports.sqlite"):
        compared = run_oopswatch("compare", str(scanned / "clean.jsonl"), str(new), "--json")
        assert compared.returncode == 1
        [item] = json.loads(compared.stdout)["new"]
        assert item["title"] == TITLE
        assert (tmp_path / "out") in Path(item["report_dir"]).parents
    (tmp_path / "out" / "reports.sqlite").unlink()  # an output directory without its index: its report.json files
    fallback = run_oopswatch("compare", str(tmp_path / "out"), str(scanned / "crash.jsonl"))
    assert fallback.returncode == 0, fallback.stderr


@pytest.mark.parametrize(("make", "message"), [
    (lambda path: None, "{path}: no such file or directory"),
    (lambda path: path.write_text("not json\n"), "{path}: line 1: not JSON; give an oopswatch output directory"),
    (lambda path: path.mkdir(), "{path}: no reports.sqlite and no report.json under it; give an oopswatch output"),
])
def test_compare_bad_input_is_one_line_and_exit_2(tmp_path, scanned, make, message):
    path = tmp_path / "run"
    make(path)
    completed = run_oopswatch("compare", str(scanned / "crash.jsonl"), str(path))
    assert completed.returncode == 2
    assert one_line_error(completed).startswith("oopswatch: " + message.format(path=path))


# -- help texts and a missing test kernel ---------------------------------------------------

def listed_codes(help_text: str) -> list[int]:
    return [int(code) for code in re.findall(r"^  (\d+) ", help_text.split("exit codes:")[1], re.MULTILINE)]


@pytest.mark.parametrize(("command", "codes"), [
    ((), [0, 1, 2, 3, 4, 5, 6, 7, 130]),
    (("scan",), [0, 1, 2]),
    (("qemu",), [0, 1, 2, 4, 5, 6, 7]),
    (("run",), [0, 1, 2, 3, 6]),
    (("compare",), [0, 1, 2]),
    (("watch",), [0, 1, 2, 3]),
])
def test_help_lists_the_exit_codes(command, codes, capsys):
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    assert listed_codes(capsys.readouterr().out) == codes


def test_a_missing_test_kernel_directory_says_how_to_build_one(tmp_path):
    completed = run_oopswatch("qemu", "--kernel-dir", str(tmp_path / "x86_64-kallsyms"), "--output", str(tmp_path))
    assert completed.returncode == 2
    assert one_line_error(completed) == (
        f"oopswatch: {tmp_path / 'x86_64-kallsyms'}: not a test kernel build directory (no such directory); "
        "build the test kernels with scripts/build-test-kernels.sh ARCH VARIANT (e.g. x86_64 kallsyms)")


def test_a_qemu_board_whose_test_kernel_is_not_built_says_how_to_build_it(tmp_path):
    boards = tmp_path / "boards"
    boards.mkdir()
    shipped = (REPO / "oopswatch" / "board_configs" / "qemu-arm64.yaml").read_text()
    (boards / "qemu-arm64.yaml").write_text(shipped.replace("~/.cache/oopswatch/kernels", str(tmp_path / "none")))
    completed = run_oopswatch("qemu", "--boards", str(boards), "--board", "qemu-arm64", "--output", str(tmp_path))
    assert completed.returncode == 2
    assert one_line_error(completed).endswith(
        f"build directory '{tmp_path / 'none'}/arm64-kallsyms' not found; "
        "build it with scripts/build-test-kernels.sh arm64 kallsyms")


def test_run_on_a_test_kernel_whose_init_has_no_shell_is_refused_up_front(tmp_path):
    kernel = tmp_path / "mips-kallsyms"
    kernel.mkdir()
    (kernel / "qemu.json").write_text(json.dumps({"arch": "mips", "qemu": "qemu-system-mips", "machine_args": [],
                                                  "image": "vmlinux", "shell": False}))
    completed = run_oopswatch("qemu", "--kernel-dir", str(kernel), "--output", str(tmp_path / "out"), "--run", "true")
    assert completed.returncode == 2
    assert one_line_error(completed) == ("oopswatch: --run: the init of mips-kallsyms starts no shell (its qemu.json "
                                         "says \"shell\": false: no busybox for this architecture)")
    assert not (tmp_path / "out").exists()
