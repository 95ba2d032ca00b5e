"""What a kernel developer (or syzkaller's rules) calls each LKDTM crash of the test
kernels: the report's kind, its exact title and the function it crashed in, per
architecture where the architectures differ. The end-to-end tests assert these; the
capture script writes them into tests/logs/EXPECTED.tsv beside today's titles.

A crash type that cannot work on an architecture (the kernel survives it and says so)
has `message`: the kernel's own line the test asserts instead of a report.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Expected:
    kind: str
    title: str
    site: str | None  # the function the report blames: a frame of the report; None: it prints no stack
    message: str | None = None  # the kernel's own words when the crash type cannot work here
    survives: bool = True  # with `message`: the kernel carries on (no report follows)


def _paging(access: str, function: str, site: str | None = None) -> Expected:
    return Expected("page-fault", f"BUG: unable to handle kernel {access} in {function}", site or function)


# The same on every architecture unless overridden below.
GENERIC = {
    "EXCEPTION": Expected("null-deref", "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION",
                          "lkdtm_EXCEPTION"),
    "ACCESS_NULL": Expected("null-deref",
                            "BUG: unable to handle kernel NULL pointer dereference in lkdtm_ACCESS_NULL",
                            "lkdtm_ACCESS_NULL"),
    "BUG": Expected("kernel-bug", "kernel BUG in lkdtm_BUG", "lkdtm_BUG"),
    "WARNING": Expected("warning", "WARNING in lkdtm_WARNING", "lkdtm_WARNING"),
    "WARNING_MESSAGE": Expected("warning", "WARNING in lkdtm_WARNING_MESSAGE", "lkdtm_WARNING_MESSAGE"),
    # panic() is noreturn: the return address into lkdtm_PANIC lies past its end, and
    # arches that print %pS (not x86's %pB) name the next function. panic itself is sure.
    "PANIC": Expected("panic", "kernel panic: dumptest", "panic"),
    "CORRUPT_STACK": Expected("stack-protector", "kernel panic: stack is corrupted in lkdtm_CORRUPT_STACK",
                              "lkdtm_CORRUPT_STACK"),
    "WRITE_RO": _paging("paging request", "lkdtm_WRITE_RO"),
    "WRITE_KERN": _paging("paging request", "lkdtm_WRITE_KERN"),
    "EXEC_DATA": _paging("paging request", "data_area"),
    "REFCOUNT_INC_OVERFLOW": Expected("refcount", "WARNING: refcount bug in lkdtm_REFCOUNT_INC_OVERFLOW",
                                      "lkdtm_REFCOUNT_INC_OVERFLOW"),
    "SOFTLOCKUP": Expected("soft-lockup", "BUG: soft lockup in lkdtm_SOFTLOCKUP", "lkdtm_SOFTLOCKUP"),
    "HUNG_TASK": Expected("hung-task", "INFO: task hung in lkdtm_HUNG_TASK", "lkdtm_HUNG_TASK"),
    "CORRUPT_LIST_ADD": Expected("kernel-bug", "BUG: corrupted list in lkdtm_CORRUPT_LIST_ADD",
                                 "lkdtm_CORRUPT_LIST_ADD"),
}

# (arch, crash type): where an architecture's report differs.
BY_ARCH: dict[tuple[str, str], Expected] = {
    ("arm64", "WRITE_RO"): _paging("write to read-only memory", "lkdtm_WRITE_RO"),
    ("arm64", "WRITE_KERN"): _paging("write to read-only memory", "lkdtm_WRITE_KERN"),
    ("arm64", "EXEC_DATA"): _paging("execute from non-executable memory", "data_area"),
    # x86 and arm reach schedule() by a tail call, so lkdtm_HUNG_TASK is not on their stack.
    ("x86_64", "HUNG_TASK"): Expected("hung-task", "INFO: task hung in direct_entry", "direct_entry"),
    ("arm", "HUNG_TASK"): Expected("hung-task", "INFO: task hung in direct_entry", "direct_entry"),
    # arm: lkdtm_WARNING tail-calls warn_slowpath_fmt, so the WARNING line itself says
    # `at drivers/misc/lkdtm/bugs.c:85 direct_entry+0xf0/0x11c`.
    ("arm", "WARNING"): Expected("warning", "WARNING in direct_entry", "direct_entry"),
    ("arm", "EXEC_DATA"): _paging("execution of memory", "data_area"),
    # powerpc names the access as arm64 does: `BUG: Unable to handle kernel data access on
    # write at 0x...`, `BUG: Unable to handle kernel instruction fetch`.
    ("ppc64le", "WRITE_RO"): _paging("data access on write", "lkdtm_WRITE_RO"),
    ("ppc64le", "WRITE_KERN"): _paging("data access on write", "lkdtm_WRITE_KERN"),
    ("ppc64le", "EXEC_DATA"): _paging("instruction fetch", "data_area"),
    # mips: the same tail calls as arm; no CONFIG_STRICT_KERNEL_RWX (kseg0 is unmapped:
    # no page protections for kernel text, rodata or data).
    ("mips", "HUNG_TASK"): Expected("hung-task", "INFO: task hung in direct_entry", "direct_entry"),
    ("mips", "WARNING"): Expected("warning", "WARNING in direct_entry", "direct_entry"),
    # mips's panic() dumps no stack (that needs CONFIG_DEBUG_BUGVERBOSE, which mips lacks).
    ("mips", "PANIC"): Expected("panic", "kernel panic: dumptest", None),
    ("mips", "CORRUPT_STACK"): Expected("stack-protector", "kernel panic: stack is corrupted in lkdtm_CORRUPT_STACK",
                                        None),
    ("mips", "WRITE_RO"): Expected("", "", "", message="lkdtm: FAIL: survived bad write"),
    ("mips", "EXEC_DATA"): Expected("", "", "", message="lkdtm: FAIL: func returned"),
    # ... and WRITE_KERN copies ~200 KB over live kernel text: the kernel goes silent (or
    # worse); only the line before the copy is sure.
    ("mips", "WRITE_KERN"): Expected("", "", "", message="lkdtm: attempting bad", survives=False),
}


def expected(arch: str, variant: str, crash: str) -> Expected:
    """The expectation for a test kernel (`arch` as build-test-kernels.sh names it)."""
    return BY_ARCH.get((arch, crash)) or GENERIC[crash]
