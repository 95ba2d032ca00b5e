"""The test kernels' init (qemu/init.c) in shell mode: `oopswatch.shell=1` gives an
interactive busybox shell on the console, a session of its own with the console as
controlling terminal (so Ctrl-C interrupts a command, not the shell), where Debian 12
packages busybox-static for the architecture; elsewhere init says it has no shell."""

from __future__ import annotations

import json
import time

import pexpect
import pytest

from tests.kernels import kernel_dir

PROMPT = "oopswatch-shell# "

pytestmark = pytest.mark.qemu  # boots the test kernels


def spawn(arch: str) -> pexpect.spawn:
    """The kernel booted under QEMU with its console on the terminal pexpect reads."""
    directory = kernel_dir(arch, "kallsyms")
    manifest = json.loads((directory / "qemu.json").read_text())
    argv = [*manifest["machine_args"], *manifest["common_args"], *manifest["device_args"],
            "-kernel", str(directory / manifest["image"]), "-initrd", str(directory / manifest["initrd"]),
            "-append", f"{manifest['append']} oopswatch.shell=1"]
    return pexpect.spawn(manifest["qemu"], argv, encoding="utf-8", codec_errors="replace", timeout=60)


@pytest.mark.parametrize("arch", ("x86_64", "arm"))
def test_shell_mode_gives_a_shell_with_job_control(arch):
    qemu = spawn(arch)
    try:
        qemu.expect_exact("shell started on the console")
        qemu.expect_exact(PROMPT)
        qemu.sendline("echo $((6 * 7))")
        qemu.expect(r"\r+\n42\r+\n")  # the guest's console turns \n into \r\n, the pty again
        qemu.expect_exact(PROMPT)
        # Ctrl-C reaches the foreground command only on a controlling terminal.
        qemu.sendline("echo sleeping; sleep 50")
        qemu.expect(r"\nsleeping\r")  # the output, not the echo of the typed line
        time.sleep(1)  # sleep has started: Ctrl-C now goes to it, not to the shell reading its line
        qemu.sendcontrol("c")
        qemu.expect_exact(PROMPT, timeout=15)
        qemu.sendline("echo status=$?")
        qemu.expect_exact("status=130")
        qemu.expect_exact(PROMPT)
        qemu.sendline("exit")
        qemu.expect_exact("oopswatch-init: shell exited with status 0")
        qemu.expect_exact("oopswatch-init: rebooting")
        qemu.expect(pexpect.EOF)
    finally:
        qemu.close(force=True)


def test_shell_mode_without_busybox_says_so_and_reboots():
    qemu = spawn("riscv64")  # Debian 12 has no busybox-static for riscv64
    try:
        qemu.expect_exact("oopswatch-init: no /bin/sh in this initramfs")
        qemu.expect_exact("oopswatch-init: rebooting")
        qemu.expect(pexpect.EOF)
    finally:
        qemu.close(force=True)
