"""The command line's own behaviour: a reader that goes away (`| head`) ends the
command quietly with 141, as a shell's pipeline expects; help is laid out for the
terminal's width exactly as argparse lays it out, without argparse's shutil import."""

from __future__ import annotations

import argparse
import subprocess
import sys

from oopswatch.cli import build_parser


def test_a_closed_pipe_ends_the_command_without_a_traceback():
    process = subprocess.Popen([sys.executable, "-m", "oopswatch", "boards"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # gone before the first line is written
    error = process.stderr.read()
    assert process.wait(timeout=60) == 141
    assert error == b""


def test_help_is_laid_out_as_argparse_lays_it_out(monkeypatch):
    helps = []
    for columns in ("50", "120"):
        monkeypatch.setenv("COLUMNS", columns)
        ours = build_parser("scan")._subparsers._group_actions[0].choices["scan"]  # type: ignore[union-attr]
        theirs = build_parser("scan")._subparsers._group_actions[0].choices["scan"]  # type: ignore[union-attr]
        theirs.formatter_class = argparse.RawDescriptionHelpFormatter
        assert ours.format_help() == theirs.format_help()
        helps.append(ours.format_help())
    assert helps[0] != helps[1]  # the width was used
