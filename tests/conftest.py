"""pytest options of oopswatch's tests."""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption("--update-expectations", action="store_true",
                     help="rewrite tests/expectations/*.json from the detector's current results (for review)")
