"""The boot banner wherever it appears in a console line: after firmware escapes (QEMU's
SeaBIOS, captured for real in tests/logs/banners), NULs, 0xff line noise, a boot
loader's last words or another program's output; and a banner that is not a boot
(`cat /proc/version` later in a boot) is still not one."""

from __future__ import annotations

import json
import subprocess

import pytest

from oopswatch.console import split_lines
from oopswatch.detect import BootBanner, Detector, Report
from oopswatch.detect.events import banner_build, find_banner
from tests.kernels import REPO, kernel_dir, run_oopswatch

LOGS = REPO / "tests" / "logs" / "banners"
BANNER = ("Linux version 6.1.192 (oopswatch@x86_64-kallsyms) (gcc (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU "
          "Binutils for Debian) 2.40) #1 Mon Jan  1 00:00:00 UTC 2024")
TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def events(data: bytes) -> list:
    detector = Detector()
    found = [event for line in split_lines([data]) for event in detector.feed(line)]
    return found + detector.finish()


def banners(data: bytes) -> list[BootBanner]:
    return [event for event in events(data) if isinstance(event, BootBanner)]


@pytest.mark.parametrize(("log", "before", "line"), [
    ("qemu-x86_64-seabios.log", b"\n\x1bc\x1b[?7l\x1b[2J[    0.000000] ", 9),
    ("qemu-x86_64-seabios-printk-time-0.log", b"\n\x1bc\x1b[?7l\x1b[2J", 9),
    ("qemu-x86_64-seabios-same-line.log", b"\nBooting from ROM..\x1bc\x1b[?7l\x1b[2J", 8),
    ("qemu-x86_64-seabios-same-line-cr.log", b"\nBooting from ROM..\x1bc\x1b[?7l\x1b[2J\x1b[0m.\r", 8),
])
def test_the_banner_after_seabios_escapes_is_a_boot(log, before, line):
    data = (LOGS / log).read_bytes()
    assert before + b"Linux version" in data
    [banner] = banners(data)
    assert (banner.banner, banner.release, banner.line.number) == (BANNER, "6.1.192", line)
    assert banner.build == "#1 Mon Jan  1 00:00:00 UTC 2024"
    [report] = [event for event in events(data) if isinstance(event, Report)]
    assert report.title == TITLE


def _with_banner_prefix(prefix: bytes) -> bytes:
    """The real capture with `prefix` in front of the banner, on the banner's line."""
    data = (LOGS / "qemu-x86_64-seabios-printk-time-0.log").read_bytes()
    return data.replace(b"\x1bc\x1b[?7l\x1b[2JLinux version", prefix + b"Linux version", 1)


@pytest.mark.parametrize("prefix", [
    b"Booting from ROM..\x1bc\x1b[?7l\x1b[2J",  # the firmware's last words and escapes on the banner's line
    b"\x00\x00\x00\x00",  # a UART's NULs while the line settles
    b"\xff\xfe\xff",  # line noise: not UTF-8
    b"Starting kernel ...\x00\xff",  # U-Boot's last words, then noise
    b"login: ",  # another program's prompt, left without a newline by a reset
    b"\x1b[0m\x1b[1;32m[ OK ] \x1b[0mReached target Reboot.",  # systemd's coloured last line
])
def test_the_banner_is_found_after_anything_on_its_line(prefix):
    [banner] = banners(_with_banner_prefix(prefix))
    assert (banner.banner, banner.release, banner.line.number) == (BANNER, "6.1.192", 9)


def test_find_banner_takes_release_and_build_string_from_anywhere_in_the_line():
    match = find_banner(f"\ufffd\ufffdgarbage{BANNER}")
    assert match is not None
    assert (match.group(1), match.string[match.start():]) == ("6.1.192", BANNER)
    assert banner_build("Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) "
                        "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 "
                        "(2024-02-01)") == "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"
    assert find_banner("a Linux version of the tool, 2.0") is None  # prose, not a release
    assert find_banner("Linux version ") is None


def test_proc_version_printed_late_in_a_timestamped_boot_is_not_a_boot():
    data = (LOGS / "qemu-x86_64-seabios.log").read_bytes()
    late = data + b"~ # cat /proc/version\r\n" + BANNER.encode() + b"\r\n" + \
        b"[   45.000000] foo: " + BANNER.encode() + b"\r\n"
    assert [banner.line.number for banner in banners(late)] == [9]


@pytest.mark.qemu
def test_a_live_seabios_boot_chooses_its_build_by_the_escaped_banner(tmp_path):
    """QEMU's firmware on the kernel's serial console (`-nographic`): the banner line
    starts with SeaBIOS's escapes and carries no printk time; the board's build is
    chosen by it, and the oops decoded with that build."""
    directory = kernel_dir("x86_64", "kallsyms")
    qemu = json.loads((directory / "qemu.json").read_text())
    log = tmp_path / "console.log"
    with log.open("wb") as output:
        subprocess.run([qemu["qemu"], *qemu["machine_args"], "-nographic", "-no-reboot",
                        "-kernel", str(directory / qemu["image"]), "-initrd", str(directory / qemu["initrd"]),
                        "-append", f"{qemu['append']} printk.time=0 {qemu['crash_param']}=EXCEPTION"],
                       stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, timeout=240, check=False)
    data = log.read_bytes()
    position = data.find(b"Linux version 6.1.192 ")
    assert b"\x1b[2J" in data[data.rfind(b"\n", 0, position) + 1:position], data[:2000]  # the escapes, then the banner
    boards = tmp_path / "boards"
    boards.mkdir()
    builds = "".join(f"  - path: {kernel_dir('x86_64', variant)}\n    name: {variant}\n"
                     for variant in ("nokallsyms", "kallsyms"))
    (boards / "twin.yaml").write_text(f"name: twin\narch: x86_64\nbuilds:\n{builds}default_build: nokallsyms\n")
    completed = run_oopswatch("scan", "--json", "--board", "twin", "--boards", str(boards), str(log))
    reports = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    report = next((report for report in reports if report["crash"]), None)
    assert report is not None, (completed.stdout, completed.stderr, data[-3000:])
    assert (report["title"], report["build"]["name"], report["build"]["chosen_by"]) == (TITLE, "kallsyms", "banner")
    assert report["build"]["verified"] is True
