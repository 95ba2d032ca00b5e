"""The streaming detector: where reports start and end, and what it makes of them."""

from __future__ import annotations

import re
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oopswatch.console import Line, LineSplitter, split_lines
from oopswatch.detect import BootBanner, Detector, Panicked, Report
from tests.syzkaller_corpus import corpus_logs

X86_OOPS = """\
[    1.900000] oopswatch-init: provoking EXCEPTION
[    2.345678] BUG: kernel NULL pointer dereference, address: 0000000000000000
[    2.345900] #PF: supervisor write access in kernel mode
[    2.346000] #PF: error_code(0x0002) - not-present page
[    2.346100] PGD 0 P4D 0
[    2.346200] Oops: 0002 [#1] PREEMPT SMP NOPTI
[    2.346300] CPU: 0 PID: 42 Comm: sh Not tainted 6.1.0 #1
[    2.346400] Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014
[    2.346500] RIP: 0010:lkdtm_EXCEPTION+0x4/0x10
[    2.346600] Code: cc cc cc cc 0f 1f 44 00 00 c7 04 25 00 00 00 00 00 00 00 00 <c3> cc cc
[    2.346700] RSP: 0018:ffffc9000017bd98 EFLAGS: 00000202
[    2.346800] RAX: ffffffff8161a6c0 RBX: 0000000000000001 RCX: 0000000000000000
[    2.347000] Call Trace:
[    2.347100]  <TASK>
[    2.347200]  direct_entry+0xe1/0x110
[    2.347300]  full_proxy_write+0x56/0x80
[    2.347400]  vfs_write+0xc5/0x3e0
[    2.347500]  ksys_write+0x5f/0xe0
[    2.347600]  do_syscall_64+0x3b/0x90
[    2.347700]  entry_SYSCALL_64_after_hwframe+0x63/0xcd
[    2.347800] RIP: 0033:0x4c1b2e
[    2.348000] RSP: 002b:00007ffd7a1d1f58 EFLAGS: 00000246 ORIG_RAX: 0000000000000001
[    2.348100]  </TASK>
[    2.348200] Modules linked in:
[    2.348300] CR2: 0000000000000000
[    2.348400] ---[ end trace 0000000000000000 ]---
[    2.348500] RIP: 0010:lkdtm_EXCEPTION+0x4/0x10
[    2.348700] RSP: 0018:ffffc9000017bd98 EFLAGS: 00000202
[    2.348900] Kernel panic - not syncing: Fatal exception
[    2.349000] Kernel Offset: disabled
[    2.349100] ---[ end Kernel panic - not syncing: Fatal exception ]---
"""

SOFT_LOCKUP_THEN_OUTPUT = """\
[   30.100000] watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [sh:77]
[   30.100100] Modules linked in:
[   30.100200] CPU: 0 PID: 77 Comm: sh Not tainted 6.1.0 #1
[   30.100300] RIP: 0010:lkdtm_SOFTLOCKUP+0x8/0x10
[   30.100400] Call Trace:
[   30.100500]  <TASK>
[   30.100600]  lkdtm_do_action+0x15/0x20
[   30.100700]  direct_entry+0xe1/0x110
[   30.100800]  vfs_write+0xc5/0x3e0
[   30.100900]  </TASK>
""" + "".join(f"[   31.{i:06d}] eth0: link up, ordinary message number {i}\n" for i in range(12))


def feed_text(text: str, detector: Detector | None = None, times: list[float] | None = None) -> list:
    detector = detector or Detector()
    events = []
    for index, line in enumerate(split_lines([text.encode()])):
        if times is not None:
            line.host_time = times[index]
        events.extend(detector.feed(line))
    return events


def reports_of(events) -> list[Report]:
    return [event for event in events if isinstance(event, Report)]


def test_x86_oops_ends_at_its_end_marker_and_absorbs_the_panic():
    events = feed_text(X86_OOPS)  # no finish(): the end marker alone must close the report
    [report] = reports_of(events)
    assert report.title == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert report.kind == "null-deref"
    assert report.arch == "x86_64"
    assert not report.corrupted
    assert (report.start_line, report.end_line) == (2, 26)
    assert report.end_reason == "end marker"
    panics = [event for event in events if isinstance(event, Panicked)]
    assert len(panics) == 1 and panics[0].report is report
    assert [line.number for line in report.followups] == [27, 28, 29, 30, 31]


def test_report_ends_when_ordinary_output_resumes_after_the_stack():
    detector = Detector()
    events = feed_text(SOFT_LOCKUP_THEN_OUTPUT, detector)
    [report] = reports_of(events)  # emitted before the end of input
    assert report.title == "BUG: soft lockup in direct_entry"
    assert report.end_reason == "output resumed"
    assert report.end_line == 10
    assert detector.finish() == []


def test_a_report_cut_off_in_the_middle_is_emitted_and_marked_corrupted():
    cut = "\n".join(X86_OOPS.splitlines()[:14]) + "\n"  # stops right after "Call Trace:"
    detector = Detector()
    assert reports_of(feed_text(cut, detector)) == []
    [report] = reports_of(detector.finish())
    assert report.corrupted
    assert report.end_reason == "end of input"


def test_reports_from_different_printk_callers_are_kept_apart():
    text = (
        "[   10.000000][  T100] WARNING: CPU: 0 PID: 100 at fs/a.c:10 first_fn+0x1/0x10\n"
        "[   10.000001][  T200] WARNING: CPU: 1 PID: 200 at fs/b.c:20 second_fn+0x1/0x10\n"
        "[   10.000002][  T100] RIP: 0010:first_fn+0x1/0x10\n"
        "[   10.000003][  T200] RIP: 0010:second_fn+0x1/0x10\n"
        "[   10.000004][  T100] Call Trace:\n"
        "[   10.000005][  T200] Call Trace:\n"
        "[   10.000006][  T100]  caller_one+0x1/0x2\n"
        "[   10.000007][  T200]  caller_two+0x1/0x2\n"
        "[   10.000008][  T100] ---[ end trace 0000000000000000 ]---\n"
        "[   10.000009][  T200] ---[ end trace 0000000000000000 ]---\n"
    )
    first, second = reports_of(feed_text(text))
    assert (first.title, first.context, [line.number for line in first.lines]) == (
        "WARNING in first_fn", "T100", [1, 3, 5, 7, 9])
    assert (second.title, second.context, [line.number for line in second.lines]) == (
        "WARNING in second_fn", "T200", [2, 4, 6, 8, 10])


def test_out_of_memory_kill_is_its_own_kind_and_not_a_crash():
    text = (
        "[    5.000000] stress invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0\n"
        "[    5.000100] CPU: 0 PID: 90 Comm: stress Not tainted 6.1.0 #1\n"
        "[    5.000200] Call Trace:\n"
        "[    5.000300]  dump_stack_lvl+0x45/0x5e\n"
        "[    5.000400]  dump_header+0x4a/0x1f0\n"
        "[    5.000500] Mem-Info:\n"
        "[    5.000600] Out of memory: Killed process 90 (stress) total-vm:1000kB, anon-rss:900kB\n"
    )
    detector = Detector()
    [report] = reports_of(feed_text(text, detector) + detector.finish())
    assert report.kind == "oom"
    assert not report.crash
    assert report.title == "out of memory: killed process stress"


def test_idle_timeout_closes_a_report_live():
    text = "\n".join(X86_OOPS.splitlines()[1:20]) + "\n"  # no end marker
    detector = Detector(idle_timeout=2.0)
    times = [100.0 + 0.001 * i for i in range(19)]
    assert reports_of(feed_text(text, detector, times)) == []
    assert detector.expire(101.0) == []
    [report] = reports_of(detector.expire(102.1))
    assert report.end_reason == "idle"
    assert report.title == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def test_boot_banner_is_an_event_and_ends_open_reports():
    text = (X86_OOPS.splitlines()[1] + "\n"
            + "[    0.000000] Linux version 6.1.0 (builder@host) (gcc (Debian 12.2.0-14) 12.2.0) #2 SMP\n")
    events = feed_text(text)
    # The kernel was running (its lines carry times past boot) and restarts without a
    # panic: the oops is cut off and the restart is a report of its own.
    assert [type(event) for event in events] == [Report, Report, BootBanner]
    banner = events[2]
    assert banner.release == "6.1.0"
    assert banner.banner.startswith("Linux version 6.1.0 (builder@host)")
    assert events[0].end_reason == "reboot"
    assert events[1].title == "unexpected kernel reboot"


def test_hard_lockup():
    text = (
        "[   50.000000] NMI watchdog: Watchdog detected hard LOCKUP on cpu 1\n"
        "[   50.000100] Modules linked in:\n"
        "[   50.000200] CPU: 1 PID: 80 Comm: sh Not tainted 6.1.0 #1\n"
        "[   50.000300] RIP: 0010:lkdtm_HARDLOCKUP+0x8/0x10\n"
        "[   50.000400] Call Trace:\n"
        "[   50.000500]  <TASK>\n"
        "[   50.000600]  direct_entry+0xe1/0x110\n"
        "[   50.000700]  vfs_write+0xc5/0x3e0\n"
        "[   50.000800]  </TASK>\n"
    )
    detector = Detector()
    [report] = reports_of(feed_text(text, detector) + detector.finish())
    assert (report.kind, report.title) == ("hard-lockup", "BUG: hard lockup in direct_entry")


def _scan(data: bytes, chunks: list[bytes], batched: bool = False) -> list[tuple]:
    """Reports of `chunks`, fed line by line or (`batched`) a chunk's lines at a time."""
    splitter, detector, events = LineSplitter(), Detector(), []
    for lines in [*(splitter.feed(chunk) for chunk in chunks), splitter.flush()]:
        if batched:
            events.extend(detector.feed_lines(lines))
        else:
            for line in lines:
                events.extend(detector.feed(line))
    events.extend(detector.finish())
    return [(r.title, r.kind, r.corrupted, r.start_line, r.end_line) for r in reports_of(events)]


_LOGS = [log.log for log in corpus_logs()[::25]] + [X86_OOPS.encode(), SOFT_LOCKUP_THEN_OUTPUT.encode()]


@settings(max_examples=150, deadline=None)
@given(index=st.integers(0, len(_LOGS) - 1), cuts=st.lists(st.integers(0, 200_000), max_size=30))
def test_any_chunking_of_a_real_log_gives_the_same_reports(index: int, cuts: list[int]):
    data = _LOGS[index]
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert _scan(data, chunks) == _scan(data, [data])
    # The batch path (the header search over a chunk's text) finds exactly the same.
    assert _scan(data, chunks, batched=True) == _scan(data, [data])


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=4000))
def test_garbage_never_raises(data: bytes):
    _scan(data, [data])


@pytest.mark.slow
def test_binary_garbage_and_a_stream_without_newlines_stay_bounded():
    """100 MB without a newline, then binary noise: no exception, memory stays small."""
    splitter, detector = LineSplitter(), Detector()
    tracemalloc.start()
    try:
        block = bytes(range(256)).replace(b"\n", b"") * 256  # ~65 KB of every byte but LF
        for _ in range(100 * 1024 * 1024 // len(block)):
            for line in splitter.feed(block):
                detector.feed(line)
        for line in splitter.feed(b"\n" + X86_OOPS.encode()):
            detector.feed(line)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * 1024 * 1024
    assert splitter.bytes_seen > 100 * 1024 * 1024 - 65536


def test_line_objects_keep_their_fields():
    line = Line(7, "[    1.000000][  T1] hello", 3.5)
    assert (line.number, line.host_time, line.caller, line.message) == (7, 3.5, "T1", "hello")


BANNER = "[    0.000000] Linux version 6.1.0 (builder@host) (gcc (Debian 12.2.0-14) 12.2.0) #{} SMP\n"


def test_a_reboot_without_panic_or_orderly_reboot_is_reported():
    lines = BANNER.format(1) + "[    5.000000] eth0: link up\n" + BANNER.format(2)
    [report] = reports_of(feed_text(lines))
    assert (report.kind, report.title, report.start_line) == ("reboot", "unexpected kernel reboot", 3)
    assert report.crash


def test_panics_and_orderly_reboots_are_expected_reboots():
    after_panic = BANNER.format(1) + "[    5.000000] Kernel panic - not syncing: dumptest\n" + BANNER.format(2)
    assert [r.kind for r in reports_of(feed_text(after_panic))] == ["panic"]
    orderly = BANNER.format(1) + "[    9.000000] reboot: Restarting system\n" + BANNER.format(2)
    assert reports_of(feed_text(orderly)) == []
    # The first boot of a stream is never unexpected: what came before is a boot loader.
    assert reports_of(feed_text("U-Boot 2024.01\nStarting kernel ...\n" + BANNER.format(1))) == []


def _without_kallsyms(text: str) -> str:
    """X86_OOPS as a kernel without CONFIG_KALLSYMS prints it: bare addresses."""
    addresses = iter(range(0xffffffff81153d34, 0xffffffff82000000, 0x1000))
    return re.sub(r"(?<=[ :])[a-zA-Z_][a-zA-Z0-9_]*\+0x[0-9a-f]+/0x[0-9a-f]+", lambda _: f"{next(addresses):#x}", text)


def test_a_report_of_bare_addresses_waits_for_the_panic_that_prints_the_kaslr_offset():
    text = _without_kallsyms(X86_OOPS).replace("Kernel Offset: disabled",
                                               "Kernel Offset: 0x1e000000 from 0xffffffff81000000")
    assert "lkdtm_EXCEPTION" not in text
    lines = text.splitlines(keepends=True)
    detector = Detector()
    # The oops's end marker (line 26) does not emit it: the panic may print the offset.
    assert reports_of(feed_text("".join(lines[:26]), detector)) == []
    assert detector.busy
    events = feed_text("".join(lines[:30]), Detector())
    assert reports_of(events) == []
    # `---[ end Kernel panic` completes the panic: the report goes out, offset included.
    [report] = reports_of(feed_text(text))
    assert report.end_line == 26
    assert any("Kernel Offset: 0x1e000000" in line.message for line in report.followups)
    assert report.title == "BUG: unable to handle kernel NULL pointer dereference"
    assert not report.corrupted


def test_a_held_report_goes_out_when_output_resumes_or_the_console_goes_quiet():
    oops = "".join(_without_kallsyms(X86_OOPS).splitlines(keepends=True)[:26])
    [report] = reports_of(feed_text(oops + "[    3.000000] eth0: link up\n"))
    assert report.end_line == 26
    detector = Detector(idle_timeout=2.0)
    feed_text(oops, detector, times=[10.0] * 26)
    assert reports_of(detector.expire(11.0)) == []
    [report] = reports_of(detector.expire(12.5))
    assert report.end_line == 26
    detector = Detector()
    feed_text(oops, detector)
    assert [r.end_line for r in reports_of(detector.finish())] == [26]


@pytest.mark.parametrize(("message", "title"), [
    ("No working init found.  Try passing init= option to kernel. See Linux Documentation/admin-guide/init.rst "
     "for guidance.", "kernel panic: No working init found"),
    ("VFS: Unable to mount root fs on unknown-block(0,0)", "kernel panic: VFS: Unable to mount root fs on "
     "unknown-block(NUM,NUM)"),
    ("Out of memory and no killable processes...", "kernel panic: Out of memory and no killable processes"),
    ("Requested init /bin/sh failed (error -2).", "kernel panic: Requested init /bin/sh failed (error -NUM)"),
])
def test_a_panic_is_titled_by_its_first_sentence(message, title):
    detector = Detector()
    events = feed_text(f"[    1.000000] Kernel panic - not syncing: {message}\n", detector) + detector.finish()
    [report] = reports_of(events)
    assert (report.kind, report.title) == ("panic", title)


# -- Whose line it is ----------------------------------------------------------------------------

SYSLOG_WITH_DAEMONS = """\
Mar  2 10:12:01 lab-07 vpnd[812]: WARNING: certificate expires soon
Mar  2 10:12:01 lab-07 session[1022]: WARNING: could not open /dev/dri/card0
Mar  2 10:12:02 lab-07 kernel: [   30.000001] BUG: kernel NULL pointer dereference, address: 0000000000000000
Mar  2 10:12:02 lab-07 kernel: [   30.000002] Oops: 0002 [#1] PREEMPT SMP NOPTI
Mar  2 10:12:02 lab-07 cron[733]: INFO: job 5 started
Mar  2 10:12:02 lab-07 kernel: [   30.000003] CPU: 0 PID: 42 Comm: sh Not tainted 6.1.0 #1
Mar  2 10:12:02 lab-07 kernel: [   30.000004] RIP: 0010:lkdtm_EXCEPTION+0x4/0x10
Mar  2 10:12:02 lab-07 kernel: [   30.000005] Call Trace:
Mar  2 10:12:02 lab-07 vpnd[812]: BUG: tunnel 3 went down
Mar  2 10:12:02 lab-07 kernel: [   30.000006]  direct_entry+0xe1/0x110
Mar  2 10:12:02 lab-07 kernel: [   30.000007] ---[ end trace 0000000000000000 ]---
Mar  2 10:12:05 lab-07 vpnd[812]: WARNING: certificate expires soon
"""


def test_a_syslog_file_reports_only_the_kernels_lines():
    detector = Detector()
    [report] = reports_of(feed_text(SYSLOG_WITH_DAEMONS, detector) + detector.finish())
    assert report.title == "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"
    assert not report.corrupted
    assert [line.number for line in report.lines] == [3, 4, 6, 7, 8, 10, 11]  # no daemon line in it


TIMESTAMPED_CONSOLE_WITH_RUNNER = """\
[    0.500000] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!
[    1.000000] random: crng init done
INFO: running test 1 of 3
WARNING: /etc/foo.conf is deprecated
main-loop: WARNING: I/O thread spun for 1000 iterations
BUG: #4711 is still open
[    2.000000] eth0: link up
[    2.100000] WARNING: CPU: 0 PID: 1 at drivers/misc/lkdtm/bugs.c:85 lkdtm_WARNING+0x1c/0x30
INFO: progress 1
[    2.100001] Modules linked in:
[    2.100002] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1
[    2.100003] RIP: 0010:lkdtm_WARNING+0x1c/0x30
[    2.100004] Call Trace:
INFO: progress 2
[    2.100005]  direct_entry+0xe1/0x110
[    2.100006] ---[ end trace 0000000000000000 ]---
INFO: all done
"""


def test_a_console_with_printk_times_takes_no_bare_line_for_a_kernel_header():
    detector = Detector()
    reports = reports_of(feed_text(TIMESTAMPED_CONSOLE_WITH_RUNNER, detector) + detector.finish())
    assert [report.title for report in reports] == ["WARNING in lkdtm_WARNING"]
    assert not reports[0].corrupted


def test_a_generic_header_needs_kernel_structure_on_a_console_without_times():
    bare_noise = "INFO: running test 1\nWARNING: slow disk\nmain-loop: WARNING: I/O thread spun\n" * 3
    detector = Detector()
    assert reports_of(feed_text(bare_noise, detector) + detector.finish()) == []
    # The same console's kernel WARNING in its own format, and a BUG: in no format but
    # followed by the kernel's report structure, are reports.
    kernel = ("BUG: Invalid frobnication state\n"
              "CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1\n"
              "Call Trace:\n"
              " frob_state+0x1c/0x30\n"
              " direct_entry+0xe1/0x110\n")
    detector = Detector()
    [report] = reports_of(feed_text(bare_noise + kernel + "INFO: done\n" * 12, detector) + detector.finish())
    assert report.title == "BUG: Invalid frobnication state"


def test_a_tentative_header_is_dropped_when_the_console_goes_quiet():
    detector = Detector(idle_timeout=2.0)
    assert feed_text("WARNING: something a daemon said\n", detector, times=[10.0]) == []
    assert detector.busy  # tentative, waiting for kernel structure
    assert detector.expire(13.0) == []
    assert not detector.busy


@pytest.mark.parametrize(("log", "title"), [
    # kCFI in permissive mode: the CFI line, then the WARN it causes, one report.
    ("[ 1512.331974] CFI failure at nfsd4_encode_operation+0xa2/0x210 [nfsd] (target: nfs4svc_encode_compoundres"
     "+0xb10/0x6f40 [nfsd]; expected type: 0x5d70b2b0)\n"
     "[ 1512.331991] WARNING: CPU: 6 PID: 16245 at nfsd4_encode_operation+0xa2/0x210 [nfsd]\n"
     "[ 1512.332000] Modules linked in: nfsd\n"
     "[ 1512.332010] RIP: 0010:nfsd4_encode_operation+0xa2/0x210 [nfsd]\n"
     "[ 1512.332020] Call Trace:\n"
     "[ 1512.332030]  nfsd4_proc_compound+0x3d2/0x730 [nfsd]\n"
     "[ 1512.332040] ---[ end trace 0000000000000000 ]---\n", "CFI failure in nfsd4_encode_operation"),
    ("[   10.000000] int3: 0000 [#1] PREEMPT SMP NOPTI\n"
     "[   10.000001] CPU: 0 PID: 1 Comm: sh Not tainted 6.1.0 #1\n"
     "[   10.000002] RIP: 0010:text_poke_bp_batch+0x21/0x1d0\n"
     "[   10.000003] Call Trace:\n"
     "[   10.000004]  arch_jump_label_transform_apply+0x1c/0x30\n"
     "[   10.000005] ---[ end trace 0000000000000000 ]---\n", "int3 in text_poke_bp_batch"),
    # Kernels before 3.x, on a console without printk times.
    ("WARNING: at fs/sysfs/dir.c:491 sysfs_add_one+0xa0/0xb0()\n"
     "Pid: 1, comm: swapper Not tainted 2.6.32 #1\n"
     "Call Trace:\n"
     " [<ffffffff8106e3e7>] warn_slowpath_common+0x87/0xc0\n"
     " [<ffffffff8106e4d1>] warn_slowpath_fmt+0x41/0x50\n"
     " [<ffffffff811d1a90>] sysfs_add_one+0xa0/0xb0\n"
     " [<ffffffff811d1b2c>] create_dir+0x7c/0xd0\n"
     "---[ end trace a7919e7f17c0a725 ]---\n", "WARNING in sysfs_add_one"),
])
def test_reports_other_kernels_print(log, title):
    detector = Detector()
    reports = reports_of(feed_text(log, detector) + detector.finish())
    assert [report.title for report in reports] == [title]


PROM_INIT = ("Preparing to boot Linux version 6.1.0 (builder@host) (gcc (Debian 12.2.0-14) 12.2.0) #1 SMP\n"
             "Detected machine type: 0000000000000101\n"
             "Booting Linux via __start() @ 0x0000000000400000 ...\n"
             "[    0.000000] radix-mmu: Page sizes from device-tree:\n")


def test_the_loaders_untimed_banner_and_the_kernels_own_are_one_boot():
    """powerpc's prom_init prints the banner without a printk time before the kernel's
    own timestamped one: one boot, announced once, no reboot."""
    events = feed_text(PROM_INIT + BANNER.format(1) + "[    1.000000] Run /init as init process\n")
    assert [type(event) for event in events] == [BootBanner]
    assert events[0].line.number == 1


def test_an_untimed_banner_then_a_report_then_the_timed_one_is_a_reboot():
    oops = re.sub(r"\[ +[0-9.]+\]", "[    0.000000]", X86_OOPS)  # nothing with a time past 0
    events = feed_text(PROM_INIT + oops + BANNER.format(1))
    assert [type(event) for event in events] == [BootBanner, Report, Panicked, BootBanner]
    events = feed_text(PROM_INIT + "[    3.000000] eth0: link up\n" + BANNER.format(1))
    assert [type(event) for event in events] == [BootBanner, Report, BootBanner]  # the kernel ran: a reboot
    assert events[1].title == "unexpected kernel reboot"
