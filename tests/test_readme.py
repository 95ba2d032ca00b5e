"""The commands README.md gives a new user do what it says."""

from __future__ import annotations

import re
from pathlib import Path

from tests.kernels import REPO, run_oopswatch

README = (REPO / "README.md").read_text()


def test_readme_sample_command_prints_a_decoded_report():
    [command] = re.findall(r"^\s+\.venv/bin/oopswatch (scan .*)$", README, re.MULTILINE)
    completed = run_oopswatch(*command.split(), cwd=REPO)
    assert completed.returncode == 1  # a crash report was found
    assert "== BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION" in completed.stdout
    # A map alone cannot be checked against bare addresses: each name is a guess, printed
    # beside the raw address it was made from.
    trace = completed.stdout.split("Call Trace:")[1].split("RIP: 0033")[0]
    assert re.search(r"^ 0xffffffff[0-9a-f]{8} \(guessed: direct_entry\+0xa5/0xbb\)$", trace, re.MULTILINE)
    assert "note: not verified: the kernel printed bare addresses only" in completed.stdout


def test_readme_setup_and_test_commands_are_what_ci_runs():
    ci = (REPO / ".ci" / "run").read_text()
    for command in ("./setup.sh", ".venv/bin/pytest"):
        assert re.search(rf"^\s+{re.escape(command)}\s*$", README, re.MULTILINE)
        assert re.search(rf"^{re.escape(command)}\s*$", ci, re.MULTILINE)
    assert Path(REPO / "setup.sh").stat().st_mode & 0o111
