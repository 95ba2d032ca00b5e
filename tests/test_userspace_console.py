"""A real console where user space writes next to the kernel: a real x86_64 test kernel
boots under QEMU with an initramfs whose /init (busybox ash) prints what daemons, test
runners and QEMU itself put on a shared console (`WARNING:`, `INFO:` progress lines,
`main-loop: WARNING:`, a syslog-tagged daemon line), before, during and after a real
LKDTM oops. Exactly one report comes out, with the kernel's title."""

from __future__ import annotations

import gzip
import stat
import subprocess
from pathlib import Path

import pytest

from tests.kernels import kernel_dir, run_oopswatch

BUSYBOX = Path("/bin/busybox")  # busybox-static (setup.sh)

# The lines every program on a lab's shared console prints, none of them the kernel's.
NOISE = (
    "WARNING: certificate for vpn.example.com expires in 3 days",
    "vpnd[812]: WARNING: certificate expires soon",
    "INFO: running test 3 of 12: net/udp_gso",
    "main-loop: WARNING: I/O thread spun for 1000 iterations",
    "BUG: #4711 is still open, skipping the flaky test",
    "INFO: task list refreshed",
    "test-runner: BUG: unexpected exit status 2 from ./setup.sh",
)

INIT = """#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t debugfs debugfs /sys/kernel/debug
mount -t devtmpfs devtmpfs /dev
noise() {{
{noise}
}}
noise
# A test runner keeps printing progress while the kernel oopses.
( i=0; while [ $i -lt 30 ]; do echo "INFO: progress $i/30"; echo "WARNING: slow step $i"; i=$((i+1)); \
usleep 20000; done ) &
sleep 0.2
sh -c 'echo EXCEPTION > /sys/kernel/debug/provoke-crash/DIRECT'
sleep 1
noise
echo "INFO: all tests done"
sync
reboot -f
"""


def _cpio_newc(files: dict[str, tuple[int, bytes]]) -> bytes:
    """A newc cpio archive (what the kernel unpacks as an initramfs): path -> (mode, data)."""
    out = bytearray()
    for inode, (path, (mode, data)) in enumerate([*files.items(), ("TRAILER!!!", (0, b""))], start=1):
        name = path.encode() + b"\0"
        fields = (inode, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
        out += b"070701" + b"".join(b"%08X" % value for value in fields) + name
        out += b"\0" * (-len(out) % 4)
        out += data
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


@pytest.fixture(scope="module")
def initramfs(tmp_path_factory) -> Path:
    noise = "\n".join(f"\techo '{line}'" for line in NOISE)
    directory = stat.S_IFDIR | 0o755
    files = {name: (directory, b"") for name in ("bin", "proc", "sys", "dev", "tmp")}
    files["bin/busybox"] = (stat.S_IFREG | 0o755, BUSYBOX.read_bytes())
    files["init"] = (stat.S_IFREG | 0o755, INIT.format(noise=noise).encode())
    path = tmp_path_factory.mktemp("initramfs") / "noisy.cpio.gz"
    path.write_bytes(gzip.compress(_cpio_newc(files)))
    return path


@pytest.mark.qemu
def test_user_space_on_the_console_gives_exactly_the_kernels_report(initramfs, tmp_path):
    build = kernel_dir("x86_64", "kallsyms")
    completed = run_oopswatch(
        "qemu", "--kernel", str(build / "bzImage"), "--initrd", str(initramfs), "--arch", "x86_64",
        "--append", "console=ttyS0 panic=-1 nokaslr", "--system-map", str(build / "System.map"),
        "--expect", "oops", "--expect-title",
        "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION",
        "--output", str(tmp_path), "--json", "--timeout", "120", "--hang-timeout", "40")
    console = next(tmp_path.rglob("console.log")).read_text(errors="replace")
    for line in NOISE:  # user space really wrote on the console, around the oops
        assert console.count(line) == 2, line
    assert "INFO: progress" in console.split("Call Trace:")[1]  # a runner's lines right after the oops
    reports = [path for path in tmp_path.rglob("report.json")]
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert len(reports) == 1, completed.stdout
    assert "unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION" in reports[0].read_text()
    # The same log scanned afterwards: the same single report.
    scanned = run_oopswatch("scan", "--json", str(next(tmp_path.rglob("console.log"))))
    titles = [line for line in scanned.stdout.splitlines() if line.startswith("{")]
    assert len(titles) == 1 and '"title": "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"' \
        in titles[0], scanned.stdout


def test_the_initramfs_is_a_newc_archive_cpio_can_list(initramfs):
    """The archive writer itself, checked by GNU cpio (setup.sh installs it)."""
    listing = subprocess.run(["cpio", "-t"], input=gzip.decompress(initramfs.read_bytes()), capture_output=True,
                             check=True).stdout.decode()
    assert listing.split() == ["bin", "proc", "sys", "dev", "tmp", "bin/busybox", "init"], listing
