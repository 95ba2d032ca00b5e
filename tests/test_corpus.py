"""Acceptance: the detector over syzkaller's 498 real console logs, each checked for its
exact expected result (see tests/expectations.py and tests/expectations/syzkaller-corpus.json)."""

from __future__ import annotations

import pytest

from tests.expectations import EXPECTATIONS_DIR, LogCase, Reference, check, crash_reports, figures
from tests.syzkaller_corpus import CORPUS_DIR, CorpusLog, corpus_logs

EXPECTATIONS = EXPECTATIONS_DIR / "syzkaller-corpus.json"


def corpus_case(log: CorpusLog) -> LogCase:
    reference = Reference(
        title=log.title,
        alt_titles=sorted(set(log.alt_titles) - {log.title}) if log.title else None,
        corrupted=log.corrupted if log.title else None,
        type=log.first("TYPE"),
        frame=log.first("FRAME"),
        start=log.first("START"),
        end=log.first("END"),
        report=log.report,
    )
    return LogCase(log.name, log.log, reference)


@pytest.fixture(scope="module")
def cases() -> list[LogCase]:
    assert CORPUS_DIR.is_dir(), f"the corpus is expected at {CORPUS_DIR}"
    return [corpus_case(log) for log in corpus_logs()]


def test_corpus_is_complete(cases):
    assert len(cases) == 498


def test_every_log_gives_exactly_its_expected_result(cases, request):
    problems = check(cases, EXPECTATIONS, request.config.getoption("--update-expectations"))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


def test_figures(cases):
    """The numbers the expectations add up to (printed with -s), for the record."""
    numbers = figures(cases)
    print(f"\nsyzkaller corpus: {numbers}")
    assert numbers["false alarms"] == 0


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
    ("748", "panic", "attempt to subtract with overflow in <rust_binder::process::Process>::update_ref"),  # Rust v0
]


@pytest.mark.parametrize(("name", "kind", "title"), KIND_EXAMPLES)
def test_each_kind_on_a_real_log(cases, name, kind, title):
    case = next(case for case in cases if case.name == name)
    first = min(crash_reports(case.data), key=lambda r: r.start_line)
    assert (first.kind, first.title) == (kind, title)
