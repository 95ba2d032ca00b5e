"""Frame lines of every architecture, and reports from kernels without CONFIG_KALLSYMS.

The QEMU test kernels cover x86_64 and arm64 end to end; the other architectures'
spellings are taken from the kernel's own printk formats (arch/*/kernel/traps.c,
process.c, stacktrace.c of linux-source-6.1).
"""

from __future__ import annotations

import json

import pytest

from oopswatch.detect.frames import parse_frame
from oopswatch.symbols.code_bytes import CodeBytes, parse_code_line
from tests.kernels import run_oopswatch


@pytest.mark.parametrize(("line", "role", "address"), [
    # x86: crash site and call trace without KALLSYMS.
    ("RIP: 0010:0xffffffff81153d34", "pc", 0xffffffff81153d34),
    (" 0xffffffff81153d34", "trace", 0xffffffff81153d34),
    (" ? 0xffffffff81153d34", "trace", 0xffffffff81153d34),
    # riscv and old x86: `[<%px>] %pS`, and the old `[<c010b860>]` alone.
    (" [<ffffffff80a3f1f2>] 0xffffffff80a3f1f2", "trace", 0xffffffff80a3f1f2),
    (" [<c010b860>]", "trace", 0xc010b860),
    # arm64 and riscv registers.
    ("pc : 0xffff800008a1b2c4", "pc", 0xffff800008a1b2c4),
    ("lr : 0xffff800008a1b2c0", "lr", 0xffff800008a1b2c0),
    ("epc : 0xffffffff80a3f1f2", "pc", 0xffffffff80a3f1f2),
    (" ra : 0xffffffff80a3f1ee", "lr", 0xffffffff80a3f1ee),
    # arm: registers and its unwinder without KALLSYMS.
    ("PC is at 0xc0612f3c", "pc", 0xc0612f3c),
    ("LR is at 0xc0612e10", "lr", 0xc0612e10),
    ("Function entered at [<c0612f20>] from [<c0612e10>]", "trace", 0xc0612e10),
    # powerpc.
    ("NIP [c000000000123456] 0xc000000000123456", "pc", 0xc000000000123456),
    ("[c0000000fffb3a80] [c000000000123456] 0xc000000000123456", "trace", 0xc000000000123456),
    # The caller's address at the end of a WARNING line.
    ("WARNING: CPU: 0 PID: 1 at drivers/misc/lkdtm/bugs.c:85 0xffffffff81153d34", "pc", 0xffffffff81153d34),
])
def test_bare_addresses_of_every_architecture_are_frames(line, role, address):
    frame = parse_frame(line)
    assert frame is not None, line
    assert (frame.role, frame.address, frame.function) == (role, address, None)


@pytest.mark.parametrize("line", [
    # Register dumps repeat the crash site as plain hex; they are not extra frames.
    "epc : ffffffff80a3f1f2 ra : ffffffff80a3f1ee sp : ff20000000013d50",
    "pc : [<c0612f3c>]    lr : [<c0612e10>]    psr: 60000013",
    "RSP: 0018:ffffc9000017bd98 EFLAGS: 00000202",
])
def test_register_dumps_are_not_frames(line):
    assert parse_frame(line) is None


# An arm (32-bit) oops as linux 6.1 prints it with the ARM unwinder, no header before
# the frames; {trace} is the unwinder's lines with or without CONFIG_KALLSYMS.
ARM_OOPS = """\
[    0.000000] Booting Linux on physical CPU 0x0
[   12.340000] lkdtm: Performing direct entry EXCEPTION
[   12.345678] 8<--- cut here ---
[   12.345678] Unable to handle kernel NULL pointer dereference at virtual address 00000000
[   12.345678] [00000000] *pgd=00000000
[   12.345678] Internal error: Oops: 805 [#1] SMP ARM
[   12.345678] Modules linked in:
[   12.345678] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
[   12.345678] Hardware name: Generic DT based system
[   12.345678] PC is at {pc}
[   12.345678] LR is at {lr}
[   12.345678] pc : [<c0612f3c>]    lr : [<c0612e10>]    psr: 60000013
[   12.345678] sp : c1c3fe50  ip : c1c3fe60  fp : c1c3fe5c
[   12.345678] r3 : 00000000  r2 : 00000000  r1 : 00000000  r0 : 00000000
[   12.345678] Flags: nZCv  IRQs on  FIQs on  Mode SVC_32  ISA ARM  Segment none
[   12.345678] Control: 10c5387d  Table: 4186c06a  DAC: 00000051
[   12.345678] Process sh (pid: 1, stack limit = 0x(ptrval))
[   12.345678] Stack: (0xc1c3fe50 to 0xc1c40000)
[   12.345678] fe40:                                     c0612e10 c0612f2c c1c3fe7c c1c3fe60
{trace}[   12.345678] Code: e3a03000 e3a02000 e5832000 e89da800 (e5832000)
[   12.345678] ---[ end trace 0000000000000000 ]---
[   12.350000] Kernel panic - not syncing: Fatal exception
"""

ARM_TRACE_KALLSYMS = """\
[   12.345678]  lkdtm_EXCEPTION from direct_entry+0x70/0x160
[   12.345678]  direct_entry from full_proxy_write+0x4c/0x120
[   12.345678]  full_proxy_write from vfs_write+0x9c/0x380
[   12.345678]  vfs_write from ksys_write+0x80/0x100
"""

ARM_TRACE_BARE = """\
[   12.345678] Function entered at [<c0612f3c>] from [<c0612e10>]
[   12.345678] Function entered at [<c0612e10>] from [<c03a1b2c>]
[   12.345678] Function entered at [<c03a1b2c>] from [<c02b4c1c>]
[   12.345678] Function entered at [<c02b4c1c>] from [<c02b4f80>]
"""

ARM_SYSTEM_MAP = """\
c0008000 T _text
c0008000 T stext
c02b4b80 T vfs_write
c02b4f00 T ksys_write
c02b5000 T __arm_sys_write
c03a1ae0 t full_proxy_write
c03a1c00 t full_proxy_read
c0612da0 t direct_entry
c0612f00 t lkdtm_BUG
c0612f20 t lkdtm_EXCEPTION
c0612f60 t lkdtm_LOOP
c0700000 T _etext
"""


def _scan(tmp_path, text: str, *options: str) -> dict:
    log = tmp_path / "console.log"
    log.write_text(text)
    result = run_oopswatch("scan", "--json", str(log), *options)
    assert result.returncode == 1, result.stderr  # a crash was found
    return json.loads(result.stdout.splitlines()[0])


def test_arm_unwinder_frames_without_a_header_are_a_complete_stack(tmp_path):
    report = _scan(tmp_path, ARM_OOPS.format(pc="lkdtm_EXCEPTION+0x1c/0x40", lr="direct_entry+0x70/0x160",
                                             trace=ARM_TRACE_KALLSYMS))
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert report["arch"] == "arm"
    assert not report["corrupted"], report["corrupted_reason"]
    names = [frame["function"] for frame in report["frames"] if frame["role"] == "trace"]
    assert names == ["direct_entry", "full_proxy_write", "vfs_write", "ksys_write"]


def test_arm_without_kallsyms_decodes_through_its_system_map(tmp_path):
    (tmp_path / "System.map").write_text(ARM_SYSTEM_MAP)
    text = ARM_OOPS.format(pc="0xc0612f3c", lr="0xc0612e10", trace=ARM_TRACE_BARE)
    report = _scan(tmp_path, text, "--system-map", str(tmp_path / "System.map"))
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert not report["corrupted"], report["corrupted_reason"]
    # The frames of the unwinder's lines are the callers (`from`), as `callee from caller+off` are.
    assert [frame["function"] for frame in report["frames"]] == [
        "lkdtm_EXCEPTION", "direct_entry", "direct_entry", "full_proxy_write", "vfs_write", "ksys_write"]
    assert report["frames"][0]["offset"] == 0x1c and report["frames"][0]["size"] == 0x40


def test_bare_addresses_without_symbols_are_not_a_corrupted_report(tmp_path):
    """Undecoded is not garbled: the title names no function rather than `corrupted`."""
    report = _scan(tmp_path, ARM_OOPS.format(pc="0xc0612f3c", lr="0xc0612e10", trace=ARM_TRACE_BARE))
    assert report["title"] == "BUG: unable to handle kernel NULL pointer dereference"
    assert not report["corrupted"], report["corrupted_reason"]
    assert [frame["address"] for frame in report["frames"]][:3] == ["0xc0612f3c", "0xc0612e10", "0xc0612e10"]


# A Raspberry Pi 4 (32-bit arm, linux 5.4) oops as saved by syslog: the verbose unwinder
# format, frames inside a module, and no header before the frames.
RPI_OOPS = """\
[22.429010] Unable to handle kernel paging request at virtual address 00100104
[22.429040] Internal error: Oops: 207 [#1] SMP ARM
[22.429050] Modules linked in: rfcomm bnep hci_uart btbcm bluetooth
[22.429060] CPU: 2 PID: 1062 Comm: kworker/u9:2 Tainted: G         C        5.4.79-v7l+ #1
[22.429070] Hardware name: BCM2711
[22.429080] Workqueue: hci0 hci_rx_work [bluetooth]
[22.429090] PC is at __wake_up_common+0x58/0x140
[22.429100] LR is at __wake_up_common_lock+0x84/0x108
[22.429110] pc : [<c0269b80>]    lr : [<c0269eb8>]    psr: 200e0093
[22.429160] Process kworker/u9:2 (pid: 1062, stack limit = 0x8c1a24b5)
[22.429170] Stack: (0xd5c5dd40 to 0xd5c5e000)
[22.430121] 3fe0: 00000000 00000000 00000000 00000000 00000013 00000000 00000000
[22.430149] [<c0269b80>] (__wake_up_common) from [<c0269eb8>] (__wake_up_common_lock+0x84/0x108)
[22.430171] [<c0269eb8>] (__wake_up_common_lock) from [<c0269f60>] (__wake_up+0x24/0x2c)
[22.430196] [<c0269f60>] (__wake_up) from [<c084cfa0>] (sock_def_wakeup+0x44/0x48)
[22.430317] [<c084cfa0>] (sock_def_wakeup) from [<bfa0e748>] (l2cap_sock_teardown_cb+0x120/0x124 [bluetooth])
[22.430542] [<bfa0e748>] (l2cap_sock_teardown_cb [bluetooth]) from [<bfa01e9c>] (l2cap_chan_del+0x40/0x21c [bluetooth])
[22.431205] [<bf9dfe6c>] (hci_rx_work [bluetooth]) from [<c023db40>] (process_one_work+0x170/0x458)
[22.431400] Code: e5943000 e1a07001 e1530004 0a000011 (e5935004)
[22.431500] ---[ end trace 8e4d9bbd6ca1c0ac ]---
"""
RPI_SYSLOG_OOPS = "".join(f"Jan 15 18:51:07 4GB kernel: {line}\n" for line in RPI_OOPS.splitlines())


def test_arm_verbose_unwinder_frames_with_modules_and_a_syslog_prefix(tmp_path):
    report = _scan(tmp_path, RPI_SYSLOG_OOPS)
    # __wake_up* are the waking machinery, not the bug: the title names their caller.
    assert report["title"] == "BUG: unable to handle kernel paging request in sock_def_wakeup"
    assert not report["corrupted"], report["corrupted_reason"]
    trace = [(frame["function"], frame["module"]) for frame in report["frames"] if frame["role"] == "trace"]
    assert trace == [("__wake_up_common", None), ("__wake_up_common_lock", None), ("__wake_up", None),
                     ("sock_def_wakeup", None), ("l2cap_sock_teardown_cb", "bluetooth"), ("hci_rx_work", "bluetooth")]


def test_code_lines_of_x86_and_arm64_give_the_bytes_around_the_crash_site():
    x86 = parse_code_line(["RIP: 0010:0xffffffff81153d34", "Code: 48 83 c4 18 5b c3 31 c0 <89> 04 25 00"])
    assert x86 == CodeBytes(bytes.fromhex("4883c4185bc331c089042500"), 8)
    # arm64 prints instruction words; memory holds them little-endian.
    arm64 = parse_code_line(["Code: d2800001 b900003f (b9000020) "])
    assert arm64 == CodeBytes(bytes.fromhex("010080d2" "3f0000b9" "200000b9"), 8)
    assert parse_code_line(["Code: Unable to access opcode bytes at 0x4c1b04."]) is None
