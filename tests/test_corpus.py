"""Acceptance: the detector over syzkaller's 498 real console logs."""

from __future__ import annotations

import pytest

from oopswatch.console import split_lines
from oopswatch.detect import Detector, Report
from tests.syzkaller_corpus import CORPUS_DIR, CorpusLog, corpus_logs


def crash_reports(log: CorpusLog) -> list[Report]:
    detector = Detector()
    events = []
    for line in split_lines([log.log]):
        events.extend(detector.feed(line))
    events.extend(detector.finish())
    return [event for event in events if isinstance(event, Report) and event.crash]


@pytest.fixture(scope="module")
def results() -> list[tuple[CorpusLog, list[Report]]]:
    assert CORPUS_DIR.is_dir(), f"the corpus is expected at {CORPUS_DIR}"
    return [(log, crash_reports(log)) for log in corpus_logs()]


def test_corpus_is_complete(results):
    assert len(results) == 498


def test_detection_titles_and_corruption_figures(results):
    crash_logs = [(log, reports) for log, reports in results if log.title]
    clean_logs = [(log, reports) for log, reports in results if not log.title]
    detected = [(log, reports) for log, reports in crash_logs if reports]
    firsts = [(log, min(reports, key=lambda r: r.start_line)) for log, reports in detected]
    titles = sum(first.title == log.title for log, first in firsts)
    corrupted = sum(first.corrupted == log.corrupted for log, first in firsts)
    false_alarms = [log.name for log, reports in clean_logs if reports]
    n = len(crash_logs)
    print(f"\ncorpus: {n} crash logs, {len(clean_logs)} logs without a crash")
    print(f"  detected:        {len(detected)}/{n} = {len(detected) / n:.1%}")
    print(f"  no-crash logs with a report: {len(false_alarms)}/{len(clean_logs)}")
    print(f"  first title:     {titles}/{n} = {titles / n:.1%}")
    print(f"  corrupted flag:  {corrupted}/{n} = {corrupted / n:.1%}")
    assert len(detected) / n >= 0.99
    assert false_alarms == []
    assert titles / n >= 0.85
    assert corrupted / n >= 0.90


# One real log per report kind the detector must know, with its expected kind and title.
KIND_EXAMPLES = [
    ("247", "null-deref", "BUG: unable to handle kernel NULL pointer dereference in inet_sendmsg"),
    ("139", "page-fault", "BUG: unable to handle kernel paging request in hash_sendmsg"),
    ("148", "gpf", "general protection fault in tipc_subscrb_subscrp_delete"),
    ("524", "oops", "Internal error in ns558_init"),  # arm64
    ("676", "null-deref", "BUG: unable to handle kernel NULL pointer dereference in gsmld_receive_buf"),  # arm
    ("241", "oops", "Unhandled fault in n_tty_set_termios"),  # arm
    ("607", "page-fault", "BUG: unable to handle kernel access to user memory in schedule_tail"),  # riscv
    ("431", "page-fault", "BUG: unable to handle kernel paging request in partition_sched_domains_locked"),  # ppc
    ("44", "kernel-bug", "kernel BUG in pte_list_remove"),
    ("4", "warning", "WARNING in kvm_arch_vcpu_ioctl_run"),
    ("617", "panic", "kernel panic: VFS: Unable to mount root fs on unknown-block(NUM,NUM)"),
    ("65", "soft-lockup", "BUG: soft lockup in smp_call_function"),
    ("145", "rcu-stall", "INFO: rcu detected stall in ipv6_rcv"),
    ("70", "hung-task", "INFO: task hung in iterate_bdevs"),
    ("26", "lockdep", "possible deadlock in blkdev_reread_part"),
    ("313", "double-fault", "PANIC: double fault in kvm_async_pf_task_wait"),
    ("320", "stack-protector", "kernel panic: stack is corrupted in udp4_lib_lookup2"),
    ("157", "refcount", "WARNING: refcount bug in sctp_wfree"),
    ("49", "divide-error", "divide error in snd_hrtimer_callback"),
    ("109", "kasan", "KASAN: stack-out-of-bounds Read in xfrm_state_find"),
    ("590", "kfence", "KFENCE: use-after-free read in find_uprobe"),
    ("626", "kmsan", "KMSAN: uninit-value in prepare_task_switch"),
    ("428", "kcsan", "KCSAN: data-race in e1000_clean_rx_irq"),
    ("520", "ubsan", "UBSAN: array-index-out-of-bounds in arch_uprobe_analyze_insn"),
]


@pytest.mark.parametrize(("name", "kind", "title"), KIND_EXAMPLES)
def test_each_kind_on_a_real_log(results, name, kind, title):
    reports = next(reports for log, reports in results if log.name == name)
    first = min(reports, key=lambda r: r.start_line)
    assert (first.kind, first.title) == (kind, title)
