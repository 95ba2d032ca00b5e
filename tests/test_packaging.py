"""A non-editable install finds the shipped board configs (package data)."""

from __future__ import annotations

import subprocess
import sys
import venv

import pytest

from tests.kernels import REPO


@pytest.mark.slow
def test_the_installed_wheel_ships_its_boards(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(tmp_path / "dist"),
                    str(REPO)], check=True, capture_output=True, timeout=300)
    [wheel] = (tmp_path / "dist").glob("oopswatch-*.whl")
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", str(wheel)], check=True, capture_output=True,
                   timeout=600)
    elsewhere = tmp_path / "elsewhere"  # not the repository: nothing found by accident in ./boards
    elsewhere.mkdir()
    completed = subprocess.run([str(tmp_path / "venv" / "bin" / "oopswatch"), "boards", "--check"], cwd=elsewhere,
                               capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                                                "HOME": str(tmp_path)})
    assert completed.returncode == 0, completed.stderr
    shipped = sorted(path.stem for path in (REPO / "oopswatch" / "board_configs").glob("*.yaml"))
    lines = completed.stdout.splitlines()
    assert lines[-1] == f"{len(shipped)} board config(s) OK"
    assert sorted(line.split()[0] for line in lines[:-1] if not line.startswith(" ")) == shipped
    assert str(REPO) not in completed.stdout  # found inside the installed package, not in this checkout
