"""Board configs and the choice of the running build, on the real QEMU test kernels:
two builds of the same release (6.1.192) side by side, told apart by their banners."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from tests.kernels import boot, kernel_dir, run_oopswatch

BOARD = """\
name: {name}
arch: x86_64
console:
  port: /dev/ttyUSB7
  baud: 921600
builds:
{builds}
default_build: {default}
"""


def write_board(directory: Path, name: str, builds: str, default: str = "x86_64-kallsyms") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(BOARD.format(name=name, builds=builds, default=default))
    return path


def both_builds() -> str:
    return "".join(f"  - path: {kernel_dir('x86_64', variant)}\n    name: x86_64-{variant}\n"
                   for variant in ("kallsyms", "nokallsyms"))


def scan(*args: str, env: dict | None = None) -> tuple[int, list[dict], str]:
    completed = run_oopswatch("scan", "--json", *args, env=env)
    return (completed.returncode, [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")],
            completed.stderr)


def crash(reports: list[dict]) -> dict:
    return next(report for report in reports if report["crash"])


@pytest.fixture
def board_dir(tmp_path) -> Path:
    write_board(tmp_path / "boards", "twin", both_builds())
    return tmp_path / "boards"


@pytest.mark.qemu
@pytest.mark.parametrize("variant", ("kallsyms", "nokallsyms"))
def test_each_boot_is_decoded_with_its_own_build_chosen_by_banner(board_dir, variant):
    log = boot("x86_64", variant, "EXCEPTION").console_log
    status, reports, stderr = scan("--board", "twin", "--boards", str(board_dir), str(log))
    assert status == 1, stderr
    report = crash(reports)
    assert report["build"]["name"] == f"x86_64-{variant}"
    assert report["build"]["chosen_by"] == "banner"
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert any(frame["file"] == "drivers/misc/lkdtm/core.c" for frame in report["frames"])  # vmlinux of that build


@pytest.mark.qemu
def test_swapped_banners_are_caught_as_a_mismatch(tmp_path):
    banners = {variant: (kernel_dir("x86_64", variant) / "banner").read_text().strip()
               for variant in ("kallsyms", "nokallsyms")}
    swapped = "".join(f"  - path: {kernel_dir('x86_64', variant)}\n    name: x86_64-{variant}\n"
                      f"    banner: \"{banners[other]}\"\n"
                      for variant, other in (("kallsyms", "nokallsyms"), ("nokallsyms", "kallsyms")))
    write_board(tmp_path / "boards", "swapped", swapped)
    for variant in ("kallsyms", "nokallsyms"):
        log = boot("x86_64", variant, "EXCEPTION").console_log
        _, reports, _ = scan("--board", "swapped", "--boards", str(tmp_path / "boards"), str(log))
        report = crash(reports)
        assert report["build"]["verified"] is False
        assert any(note.startswith("System.map does not match the running kernel") for note in report["notes"])
        assert not any(frame["decoded"] or frame["file"] for frame in report["frames"])


@pytest.mark.qemu
def test_a_build_of_unknown_banner_and_the_same_release_is_the_fallback_confirmed_by_the_frames(tmp_path):
    # A map alone, named as Debian names it: its banner is unknown, its release is in its name.
    build = tmp_path / "rebuilt"
    build.mkdir()
    shutil.copy(kernel_dir("x86_64", "kallsyms") / "System.map", build / "System.map-6.1.192")
    write_board(tmp_path / "boards", "fallback",
                f"  - path: {build}\n    name: rebuilt\n    system_map: System.map-6.1.192\n", default="rebuilt")
    log = boot("x86_64", "kallsyms", "WARNING").console_log
    _, reports, _ = scan("--board", "fallback", "--boards", str(tmp_path / "boards"), str(log))
    report = crash(reports)
    assert report["build"]["name"] == "rebuilt"
    assert report["build"]["chosen_by"] == ("release 6.1.192 (the name System.map-6.1.192; its banner is unknown), "
                                            "checked against the report")
    assert report["build"]["verified"] is True


@pytest.mark.qemu
def test_a_build_whose_known_banner_differs_is_never_the_fallback(tmp_path):
    """The same release is not the same build: a banner the board config knows, of
    another build of 6.1.192, rules the build out (it used to be chosen 'by release')."""
    build = tmp_path / "rebuilt"
    shutil.copytree(kernel_dir("x86_64", "nokallsyms"), build, ignore=shutil.ignore_patterns("vmlinux", "banner"))
    other = "Linux version 6.1.192 (other@host) #9 SMP Tue Nov 24 00:18:08 UTC 2026"
    write_board(tmp_path / "boards", "fallback", f"  - path: {build}\n    name: rebuilt\n    banner: \"{other}\"\n",
                default="rebuilt")
    log = boot("x86_64", "nokallsyms", "EXCEPTION").console_log
    running = (kernel_dir("x86_64", "nokallsyms") / "banner").read_text().strip()
    _, reports, _ = scan("--board", "fallback", "--boards", str(tmp_path / "boards"), str(log))
    report = crash(reports)
    assert report["notes"] == [f"System.map does not match the running kernel: banner '{' '.join(running.split())}' "
                               f"vs '{other}' (build rebuilt)"]
    assert report["build"]["verified"] is False
    assert report["build"]["chosen_by"] == "no build of board fallback has the banner the kernel printed"
    assert not any(frame["decoded"] for frame in report["frames"])
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference"  # as without a map


@pytest.mark.qemu
def test_without_a_banner_the_default_build_is_used_and_verified(board_dir, tmp_path):
    log = boot("x86_64", "kallsyms", "BUG").console_log
    lines = log.read_text(errors="replace").splitlines()
    start = next(index for index, line in enumerate(lines) if "kernel BUG at" in line)
    attached_late = tmp_path / "late.log"  # the watcher attached after the boot
    attached_late.write_text("\n".join(lines[start - 3:]) + "\n")
    _, reports, _ = scan("--board", "twin", "--boards", str(board_dir), str(attached_late))
    report = crash(reports)
    assert report["build"]["name"] == "x86_64-kallsyms"
    assert report["build"]["chosen_by"].startswith("board default")
    assert report["build"]["verified"] is True


@pytest.mark.qemu
def test_a_reboot_chooses_again(board_dir, tmp_path):
    first = boot("x86_64", "nokallsyms", "WARNING").console_log.read_bytes()
    second = boot("x86_64", "kallsyms", "EXCEPTION").console_log.read_bytes()
    two_boots = tmp_path / "two-boots.log"
    two_boots.write_bytes(first + second)
    _, reports, _ = scan("--board", "twin", "--boards", str(board_dir), str(two_boots))
    crashes = [report for report in reports if report["crash"]]
    assert [(r["title"], r["build"]["name"]) for r in crashes] == [
        ("WARNING in lkdtm_WARNING", "x86_64-nokallsyms"),
        ("BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION", "x86_64-kallsyms")]


@pytest.mark.qemu
def test_the_shipped_qemu_board_decodes_a_saved_boot_log_without_options(tmp_path):
    log = boot("x86_64", "nokallsyms", "EXCEPTION").console_log
    status, reports, stderr = scan("--board", "qemu-x86_64", str(log))
    assert status == 1, stderr
    report = crash(reports)
    assert report["build"]["name"] == "x86_64-nokallsyms"
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    # The watcher (`oopswatch --board qemu-x86_64 FILE`) gives the same decoded report.
    completed = run_oopswatch("--board", "qemu-x86_64", "--quiet", "--output", str(tmp_path), str(log))
    assert completed.returncode == 0, completed.stderr
    [written] = list(tmp_path.glob("qemu-x86_64/*/report-*/report.json"))
    watched = json.loads(written.read_text())
    assert (watched["title"], watched["build"]["name"]) == (report["title"], "x86_64-nokallsyms")


@pytest.mark.qemu
def test_boards_lists_boards_and_builds(board_dir):
    completed = run_oopswatch("boards", "--boards", str(board_dir))
    assert completed.returncode == 0, completed.stderr
    assert re.search(r"^twin\s+x86_64\s+/dev/ttyUSB7 @ 921600", completed.stdout, re.MULTILINE)
    assert "x86_64-kallsyms [default]" in completed.stdout
    assert "oopswatch@x86_64-nokallsyms" in completed.stdout  # its banner
    assert re.search(r"^rpi4\s+arm64\s+/dev/ttyUSB0 @ 115200", completed.stdout, re.MULTILINE)


# -- bad input: one line naming the file and the key, exit code 2, no traceback ----------

def _check(tmp_path: Path, content: str, *extra: str) -> tuple[int, str]:
    directory = tmp_path / "bad"
    directory.mkdir(exist_ok=True)
    (directory / "broken.yaml").write_text(content)
    environment = dict(os.environ, OOPSWATCH_BOARDS=str(directory))
    completed = run_oopswatch("scan", "--board", "broken", *extra, str(Path(__file__)), env=environment)
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    return completed.returncode, lines[0]


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    status, message = _check(tmp_path, "name: broken\narch: x86_64\nconsole:\n  baud: [115200\n")
    assert status == 2
    assert re.search(r"broken\.yaml: line \d+: YAML syntax error", message)


def test_unknown_key_is_named_with_the_nearest_valid_key(tmp_path):
    status, message = _check(tmp_path, "name: broken\narch: x86_64\nconsle:\n  baud: 115200\n")
    assert status == 2
    assert "broken.yaml: unknown key 'consle'; did you mean 'console'?" in message
    status, message = _check(tmp_path, "name: broken\narch: x86_64\nconsole:\n  bauds: 115200\n")
    assert "unknown key 'console.bauds'; did you mean 'console.baud'?" in message


def test_missing_build_directory(tmp_path):
    status, message = _check(tmp_path, f"name: broken\narch: x86_64\nbuilds:\n  - {tmp_path}/nowhere\n")
    assert status == 2
    assert f"broken.yaml: builds[0]: build directory '{tmp_path}/nowhere' not found" in message


def test_glob_matching_nothing(tmp_path):
    status, message = _check(tmp_path, f"name: broken\narch: x86_64\nbuilds:\n  - {tmp_path}/builds/*\n")
    assert status == 2
    assert f"broken.yaml: builds[0]: the glob '{tmp_path}/builds/*' matches no build directory" in message


def test_placeholder_system_map(tmp_path):
    build = tmp_path / "debian"
    build.mkdir()
    (build / "System.map").write_text(
        "ffffffffffffffff B The real System.map is in the linux-image-6.1.0-18-amd64-dbg package\n")
    status, message = _check(tmp_path, f"name: broken\narch: x86_64\nbuilds:\n  - {build}\n")
    assert status == 2
    assert "the real System.map is in the linux-image-6.1.0-18-amd64-dbg package" in message


@pytest.mark.qemu
def test_boards_check_validates_every_file(tmp_path):
    good = tmp_path / "good"
    write_board(good, "twin", both_builds())
    completed = run_oopswatch("boards", "--check", "--boards", str(good))
    assert completed.returncode == 0, completed.stderr
    assert "board config(s) OK" in completed.stdout
    (good / "zz-broken.yaml").write_text("name: zz\narch: sparc\n")
    completed = run_oopswatch("boards", "--check", "--boards", str(good))
    assert completed.returncode == 2
    assert "zz-broken.yaml: arch: 'sparc' is not one of" in completed.stderr


@pytest.mark.qemu
def test_builds_that_are_a_system_map_alone_are_told_apart_by_the_frames(tmp_path):
    """A lab drops bare System.map directories (no vmlinux, no banner): the banner on the
    console names none of them, so the report's own frames rule out the ones that do not
    fit (here the default, a map of another kernel that a careless glob picked up)."""
    builds = ""
    for arch in ("arm64", "x86_64"):
        (tmp_path / arch).mkdir()
        shutil.copy(kernel_dir(arch, "kallsyms") / "System.map", tmp_path / arch / "System.map")
        builds += f"  - path: {tmp_path / arch}\n    name: map-{arch}\n"
    write_board(tmp_path / "boards", "maps", builds, default="map-arm64")
    log = boot("x86_64", "kallsyms", "WARNING").console_log
    _, reports, stderr = scan("--board", "maps", "--boards", str(tmp_path / "boards"), str(log))
    report = crash(reports)
    assert report["build"]["name"] == "map-x86_64", (report["build"], report["notes"], stderr)
    assert report["build"]["chosen_by"].startswith("builds without a known banner")
    assert report["build"]["verified"] is True
