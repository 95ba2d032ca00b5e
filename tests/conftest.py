"""pytest options and test tiers of oopswatch's tests.

`pytest -m "not qemu"` is the fast tier (no test kernel is built or booted); CI runs
everything. A test that needs a QEMU test kernel must say so with `@pytest.mark.qemu`:
one that does not is stopped with a message instead of quietly building kernels for
minutes inside the fast tier."""

from __future__ import annotations

import pytest

from tests import kernels

pytest_plugins = ["pytester"]  # the pytest plugin's tests run pytest in a subprocess


def pytest_addoption(parser):
    parser.addoption("--update-expectations", action="store_true",
                     help="rewrite tests/expectations/*.json from the detector's current results (for review)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests without a test kernel run first, while the kernels build in the background."""
    items.sort(key=lambda item: item.get_closest_marker("qemu") is not None)


def pytest_collection_finish(session: pytest.Session) -> None:
    if not session.config.option.collectonly and any(item.get_closest_marker("qemu") for item in session.items):
        kernels.start_building()


def pytest_sessionfinish(session: pytest.Session) -> None:
    kernels.stop_building()


def pytest_runtest_setup(item: pytest.Item) -> None:
    kernels.KERNELS_ALLOWED = item.get_closest_marker("qemu") is not None


def pytest_runtest_teardown(item: pytest.Item) -> None:
    kernels.KERNELS_ALLOWED = True
