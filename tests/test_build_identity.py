"""Never decode an oops with another build's System.map, on real builds of the test
kernels: the two KALLSYMS variants of one release (6.1.192, built minutes apart, their
banners differ in the build host), and two builds of one variant (`--build-number 2`:
the same release and config, another `#N` and another code layout).

Every combination of a board's builds against every boot: a board whose only build
is the other one says "does not match" and decodes nothing; a board that has the
running build decodes with it, chosen by its banner; equal banners (reproducible
builds) are told apart by the report itself, or not at all; a module built for another
release is not used."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.kernels import PAIRED_ARCHES, VARIANTS, boot, kernel_dir, run_oopswatch

pytestmark = pytest.mark.qemu  # every test here boots or reads a QEMU test kernel

CRASHES = ("EXCEPTION", "BUG", "WARNING")
OTHER = {"kallsyms": "nokallsyms", "nokallsyms": "kallsyms"}
# Reports with bare addresses and nothing to check them by, so the banner alone chose the
# build: arm's WARNING prints no Code: line and the address beside its file:line is WARN's
# return address; riscv prints no Code: line before 6.2 (the WARNING's file:line checks it).
NOTHING_TO_VERIFY = {("arm", "nokallsyms", "WARNING"), ("riscv64", "nokallsyms", "EXCEPTION"),
                     ("riscv64", "nokallsyms", "BUG")}
MISMATCH = "System.map does not match the running kernel: banner '{running}' vs '{build}' (build {name})"


def banner_of(directory: Path) -> str:
    return " ".join((directory / "banner").read_text().split())


def write_board(directory: Path, name: str, arch: str, builds: list[tuple[str, Path]]) -> Path:
    """A board config listing `builds` (name, directory), the first the default."""
    directory.mkdir(parents=True, exist_ok=True)
    listed = "".join(f"  - path: {path}\n    name: {build_name}\n" for build_name, path in builds)
    (directory / f"{name}.yaml").write_text(f"name: {name}\narch: {arch}\nbuilds:\n{listed}"
                                            f"default_build: {builds[0][0]}\n")
    return directory


def scan(*args: str) -> dict[str, dict]:
    """`oopswatch scan --json ARGS`: the first crash report of each file, by file."""
    completed = run_oopswatch("scan", "--json", *args)
    assert "Traceback" not in completed.stderr, completed.stderr
    reports: dict[str, dict] = {}
    for line in completed.stdout.splitlines():
        report = json.loads(line)
        if report["crash"]:
            reports.setdefault(report["source"], report)
    return reports


def scan_board(boards: Path, board: str, logs: list[Path]) -> dict[str, dict]:
    return scan("--board", board, "--boards", str(boards), *map(str, logs))


def undecoded(report: dict) -> bool:
    return not any(frame["decoded"] or frame["file"] for frame in report["frames"])


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("arch", PAIRED_ARCHES)
def test_a_board_whose_only_build_is_the_other_build_says_mismatch(tmp_path, arch, variant):
    own, other = kernel_dir(arch, variant), kernel_dir(arch, OTHER[variant])
    logs = [boot(arch, variant, crash).console_log for crash in CRASHES]
    boards = write_board(tmp_path, "other", arch, [(f"{arch}-{OTHER[variant]}", other)])
    reports = scan_board(boards, "other", logs)
    without_map = scan(*map(str, logs))
    for log in map(str, logs):
        report = reports[log]
        assert report["notes"] == [MISMATCH.format(running=banner_of(own), build=banner_of(other),
                                                   name=f"{arch}-{OTHER[variant]}")], log
        assert report["build"]["verified"] is False
        assert report["build"]["name"] == f"{arch}-{OTHER[variant]}"
        assert undecoded(report), log
        assert report["title"] == without_map[log]["title"], log  # as if no map were given


@pytest.mark.parametrize("arch", PAIRED_ARCHES)
def test_each_boot_decodes_with_its_own_build_whatever_the_default(tmp_path, arch):
    """A board with both builds, each the default in turn: every boot of either
    variant is decoded with its own build, chosen by its banner, and titled as the
    KALLSYMS kernel titles it."""
    builds = {variant: (f"{arch}-{variant}", kernel_dir(arch, variant)) for variant in VARIANTS}
    logs = {(variant, crash): boot(arch, variant, crash).console_log for variant in VARIANTS for crash in CRASHES}
    titles = {crash: boot(arch, "kallsyms", crash).crash_reports()[0]["title"] for crash in CRASHES}
    for default in VARIANTS:
        boards = write_board(tmp_path / default, "twin", arch,
                             [builds[default], builds[OTHER[default]]])
        reports = scan_board(boards, "twin", list(logs.values()))
        for (variant, crash), log in logs.items():
            report = reports[str(log)]
            assert (report["build"]["name"], report["build"]["chosen_by"]) == (f"{arch}-{variant}", "banner")
            if (arch, variant, crash) in NOTHING_TO_VERIFY:
                assert report["build"]["verified"] is None, report["notes"]  # the banner alone chose it
            else:
                assert report["build"]["verified"] is True, report["notes"]  # frame sizes, or Code: bytes
            assert report["title"] == titles[crash]
            assert not any("does not match" in note for note in report["notes"])


def test_two_builds_of_one_variant_are_told_apart_by_their_build_number(tmp_path):
    """Build #1 and build #2 of the x86_64 kernel without KALLSYMS: one release, one
    config, one build host; the banners differ only in `#N`, the code addresses in
    everything. A board with both decodes each boot with its own build; a board with
    only the other build decodes neither."""
    first, second = kernel_dir("x86_64", "nokallsyms", 1), kernel_dir("x86_64", "nokallsyms", 2)
    assert banner_of(first).replace(" #1 ", " #2 ") == banner_of(second)
    logs = {1: boot("x86_64", "nokallsyms", "EXCEPTION", 1).console_log,
            2: boot("x86_64", "nokallsyms", "EXCEPTION", 2).console_log}
    builds = {1: ("build1", first), 2: ("build2", second)}
    both = scan_board(write_board(tmp_path / "both", "both", "x86_64", [builds[2], builds[1]]), "both",
                      list(logs.values()))
    for number, log in logs.items():
        report = both[str(log)]
        assert (report["build"]["name"], report["build"]["chosen_by"]) == (f"build{number}", "banner")
        assert report["build"]["verified"] is True  # the Code: bytes of its own vmlinux
        assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
        assert report["frames"][0]["file"] == "drivers/misc/lkdtm/bugs.c"
    for number, log in logs.items():
        other = 3 - number
        boards = write_board(tmp_path / f"only{other}", "only", "x86_64", [builds[other]])
        [report] = scan_board(boards, "only", [log]).values()
        assert report["notes"] == [MISMATCH.format(running=banner_of(builds[number][1]),
                                                   build=banner_of(builds[other][1]), name=f"build{other}")]
        assert undecoded(report)
        assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference"


def test_without_a_banner_the_reports_own_build_number_rules_out_the_other_build(tmp_path):
    """The watcher attached after the boot: no banner, two maps (no vmlinux), the
    default is build #2. The oops header says `6.1.192 #1`: build #2 is ruled out, and
    build #1's names are a guess printed beside each raw address."""
    log = tmp_path / "attached-late.log"
    log.write_text("".join(line for line in boot("x86_64", "nokallsyms", "EXCEPTION", 1).console_log
                           .read_text(errors="replace").splitlines(keepends=True) if "Linux version" not in line))
    maps = []
    for number in (2, 1):
        directory = tmp_path / f"map{number}"
        directory.mkdir()
        for name in ("System.map", "banner"):
            shutil.copy(kernel_dir("x86_64", "nokallsyms", number) / name, directory / name)
        maps.append((f"build{number}", directory))
    [report] = scan_board(write_board(tmp_path / "boards", "maps", "x86_64", maps), "maps", [log]).values()
    assert report["build"]["name"] == "build1"
    assert report["build"]["chosen_by"] == "a build of the board (no boot banner seen), checked against the report"
    assert report["build"]["verified"] is None
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    completed = run_oopswatch("scan", "--board", "maps", "--boards", str(tmp_path / "boards"), str(log))
    assert re.search(r"^ 0xffffffff[0-9a-f]{8} \(guessed: direct_entry\+0x[0-9a-f]+/0x[0-9a-f]+\)$", completed.stdout,
                     re.MULTILINE), completed.stdout
    # Build #2 alone: refuted by the report's own `#1`.
    [report] = scan_board(write_board(tmp_path / "only2", "only2", "x86_64", maps[:1]), "only2", [log]).values()
    assert report["notes"] == ["System.map does not match the running kernel: the report says 6.1.192 #1, "
                               "the build's banner says 6.1.192 #2"]
    assert undecoded(report)


def _impostor(tmp_path: Path, running: Path, code_of: Path, with_vmlinux: bool) -> Path:
    """A build whose banner is byte for byte the running kernel's while its code is
    another build's: what reproducible builds (a fixed KBUILD_BUILD_TIMESTAMP) of two
    different trees give. Build #2's files, its vmlinux's linux_banner patched to #1's."""
    directory = tmp_path / "impostor"
    directory.mkdir()
    shutil.copy(code_of / "System.map", directory / "System.map")
    shutil.copy(running / "banner", directory / "banner")
    if with_vmlinux:
        image = (code_of / "vmlinux").read_bytes()
        ours, theirs = (running / "banner").read_bytes().strip(), (code_of / "banner").read_bytes().strip()
        assert len(ours) == len(theirs) and image.count(theirs) >= 1
        (directory / "vmlinux").write_bytes(image.replace(theirs, ours))
    return directory


@pytest.mark.parametrize("with_vmlinux", (True, False))
def test_equal_banners_are_not_proof_the_report_decides(tmp_path, with_vmlinux):
    real = kernel_dir("x86_64", "nokallsyms", 1)
    impostor = _impostor(tmp_path, real, kernel_dir("x86_64", "nokallsyms", 2), with_vmlinux)
    log = boot("x86_64", "nokallsyms", "EXCEPTION", 1).console_log
    if with_vmlinux:
        real_copy = real
    else:
        real_copy = tmp_path / "real"
        real_copy.mkdir()
        for name in ("System.map", "banner"):
            shutil.copy(real / name, real_copy / name)
    boards = write_board(tmp_path / "boards", "twins", "x86_64", [("impostor", impostor), ("real", real_copy)])
    [report] = scan_board(boards, "twins", [log]).values()
    if with_vmlinux:  # the Code: bytes at the crash site: only the real vmlinux has them
        assert (report["build"]["name"], report["build"]["chosen_by"]) == ("real", "banner")
        assert report["build"]["verified"] is True
        assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    else:  # two maps, bare addresses: nothing tells them apart, and a guess is a coin toss
        assert report["notes"] == ["not decoded: 2 builds could be running (impostor, real) and nothing in the report "
                                   "tells them apart (bare addresses, and no vmlinux to check a Code: line or a "
                                   "WARNING's file:line against)"]
        assert undecoded(report)
    # The impostor alone: the banner matches exactly, the report refutes it.
    boards = write_board(tmp_path / "alone", "alone", "x86_64", [("impostor", impostor)])
    [report] = scan_board(boards, "alone", [log]).values()
    if with_vmlinux:
        assert report["build"]["verified"] is False
        assert report["notes"][-1].startswith("vmlinux does not match the running kernel: the code at the crash site "
                                              "differs"), report["notes"]
        assert undecoded(report)
    else:  # nothing can verify a map alone against bare addresses: the honest note, the guesses shown
        assert report["build"]["verified"] is None
        assert report["notes"][-1].startswith("not verified: the kernel printed bare addresses only")


def test_a_module_built_for_another_release_is_not_used(tmp_path):
    """klogd's rule: a .ko whose vermagic names another release than the running
    kernel's decodes to nonsense. (The test module, its vermagic edited to 6.1.193, as
    a module of the next stable release would be.)"""
    directory = kernel_dir("x86_64", "kallsyms")
    log = boot("x86_64", "kallsyms", "MODULE_EXCEPTION").console_log
    modules = tmp_path / "modules"
    modules.mkdir()
    module = (directory / "modules" / "oopswatch_crash.ko").read_bytes()
    assert module.count(b"\0vermagic=6.1.192 ") == 1
    (modules / "oopswatch_crash.ko").write_bytes(module.replace(b"\0vermagic=6.1.192 ", b"\0vermagic=6.1.193 "))
    options = ("--system-map", str(directory / "System.map"), "--vmlinux", str(directory / "vmlinux"))
    [report] = scan(*options, "--modules", str(modules), str(log)).values()
    assert f"{modules}/oopswatch_crash.ko: built for 6.1.193 (vermagic '6.1.193 mod_unload'), the running kernel " \
           "is 6.1.192: not used" in report["notes"]
    module_frames = [frame for frame in report["frames"] if frame["module"] == "oopswatch_crash"]
    assert module_frames and not any(frame["file"] for frame in module_frames)
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in oopswatch_crash_exception"
    [report] = scan(*options, "--modules", str(directory / "modules"), str(log)).values()
    assert all(frame["file"] for frame in report["frames"] if frame["module"] == "oopswatch_crash")
