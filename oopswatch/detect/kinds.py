"""The table of report kinds: which console lines start a report, how it ends, and how
its title is built.

Adding a report kind (a new sanitizer, a new architecture's oops) is an entry here plus
a test log; the detector's state machine does not change. Titles follow syzkaller's
conventions, so the same bug gets the same title across tools and boards.

Reading an entry:
- `HeaderGroup.header` is a literal string; a line containing it (and none of the
  group's `ignore` patterns) starts a report, unless it is a `CONTINUATION` line and a
  report is already open (a panic after an oops is part of that oops).
- Each `TitleFormat.match` is searched in the report text; the one matching earliest
  wins. `report` is a further pattern that must also match (its groups replace those
  of `match`). The title template takes `{0}`, `{1}`... from the groups, then the
  guilty frames picked by `stack`.
- `KindInfo` says whether a kind is a crash, which line ends it, and whether it ends
  when ordinary output resumes after its stack trace.

Where it comes from: the header groups, title formats, templates, alternative titles,
ignore lists and CONTINUATION are ported from syzkaller's pkg/report/linux.go
(linuxOopses, reportStartIgnores; Apache-2.0, see NOTICE), extended for other
architectures and older kernels (mips, loongarch, s390, i386, arm crash sites via
patterns.CRASH_SITE; `WARNING: at file:line func()`, file-less WARNINGs, int3, kCFI,
rcu_tasks stalls, a starved RCU grace-period kthread). `generic`, `harness` and
`continued_by` are oopswatch's: whose line a header is, and which reports continue.
"""

from __future__ import annotations

from dataclasses import dataclass

from oopswatch.detect.patterns import CALL_TRACE, CRASH_SITE, LINK_REGISTER, NAMED_CRASH_SITE

# Lines that belong to the report already being collected, never start a new one: the
# summary line an oops prints after its fault header, the panic an oops ends in, and
# records that are not crashes.
CONTINUATION = (r"invalid opcode: 0000|Kernel BUG \[#[0-9]+\]|Kernel panic - not syncing"
                r"|unregister_netdevice: waiting for"
                r"|PANIC: double fault|Internal error:|\bOops\b.*\[#[0-9]+\]|invoked oom-killer:")

STACK = "<parse stack>"
"""Stack rule step: parse frames from here on; the guilty frame is taken from them."""


@dataclass(frozen=True)
class StackRule:
    """How to find the guilty frame(s): steps of patterns to pass, then frames to parse."""

    steps: tuple[str, ...]
    fallbacks: tuple[tuple[str, ...], ...] = ()  # each tried in turn when `steps` finds no frame
    without_trace: tuple[str, ...] = ()  # steps for a report cut off before any call trace
    skip: tuple[str, ...] = ()  # frames to pass over, on top of the common list
    picker: str = "first"  # "first", "stall" or "hung-task" (see title.py)


@dataclass(frozen=True)
class TitleFormat:
    kind: str
    match: str
    title: str
    report: str | None = None
    stack: StackRule | None = None
    no_stack: bool = False  # the report has no call trace by nature
    corrupted: bool = False  # matching this format means the report is garbled
    alt: tuple[str, ...] = ()


@dataclass(frozen=True)
class HeaderGroup:
    header: str
    formats: tuple[TitleFormat, ...]
    ignore: tuple[str, ...] = ()
    strict: bool = False  # the header alone is not enough: a format must match the line
    kind: str = "bug"  # the kind of a report whose lines match none of the formats
    # A word any program may print (`WARNING:`, `INFO:`, `BUG:`): a line that is in none
    # of the group's own (not corrupted) formats opens a tentative report, which only
    # kernel report structure after it confirms (see detector.py).
    generic: bool = False
    harness: bool = False  # printed by a test harness in user space: whose line it is does not matter


@dataclass(frozen=True)
class KindInfo:
    name: str
    description: str
    crash: bool = True
    end: str | None = None  # besides END_MARKERS, a line matching this is the report's last
    ends_after_stack: bool = True  # ordinary output after the stack ends the report
    # Report headers that this kind prints as its own consequence: they continue it.
    continued_by: str | None = None


def _site_then_trace(skip: tuple[str, ...] = (), picker: str = "first") -> StackRule:
    """Crash site line first (x86 RIP, arm64 pc), else the first frame of the call trace;
    when the site is a function the rules skip (strcmp, a mutex helper) and the report
    was cut off before any call trace, the caller in the link register."""
    return StackRule(steps=(CRASH_SITE, CALL_TRACE, STACK), skip=skip, picker=picker,
                     without_trace=(NAMED_CRASH_SITE, LINK_REGISTER))


def _trace(skip: tuple[str, ...] = (), picker: str = "first") -> StackRule:
    return StackRule(steps=(CALL_TRACE, STACK), skip=skip, picker=picker)


def _warning(*skip: str) -> StackRule:
    """WARNINGs trap; the frame of interest is the trap site, else the call trace."""
    return StackRule(
        steps=("(?:" + CRASH_SITE + "|--- interrupt: [0-9]+ at {FUNC})", STACK),
        fallbacks=((CALL_TRACE, STACK),),
        skip=skip,
    )


# A stall report that shows no interrupted CPU but a starved grace-period kthread names
# the code that ran where the kthread last ran (what kept it from running).
_STARVED_GP_KTHREAD = "Stack dump where RCU GP kthread last ran"
_OTHER_STALL_STACKS = ((_STARVED_GP_KTHREAD, CRASH_SITE, STACK), (_STARVED_GP_KTHREAD, CALL_TRACE, STACK))

_SEPARATOR_END = r"^={20,}$"
END_MARKERS = r"^---\[ end (?:trace|Kernel panic)"
"""End markers that close a report of any kind (a panic can follow any report)."""

# Sanitizer reports hold several stacks and prose between them; they close with a line of `=`.
KINDS: dict[str, KindInfo] = {info.name: info for info in (
    KindInfo("null-deref", "NULL pointer dereference"),
    KindInfo("page-fault", "unable to handle a kernel paging request"),
    KindInfo("gpf", "general protection fault"),
    KindInfo("oops", "oops: internal error, unhandled fault, alignment trap"),
    KindInfo("int3", "int3: a breakpoint trap in the kernel"),
    # The kernel goes on to WARN (CONFIG_CFI_PERMISSIVE) or oops about the same call.
    KindInfo("cfi", "kCFI: an indirect call to a function of the wrong type",
             continued_by=r"WARNING: CPU: \d+ PID: \d+ at |invalid opcode:|Oops|Internal error:"),
    KindInfo("kernel-bug", "BUG_ON / kernel BUG at"),
    KindInfo("bug", "BUG: a kernel self-check failed"),
    KindInfo("warning", "WARN_ON / WARNING"),
    KindInfo("refcount", "refcount_t overflow or underflow"),
    KindInfo("panic", "Kernel panic"),
    KindInfo("stack-protector", "stack-protector: kernel stack is corrupted"),
    KindInfo("double-fault", "double fault"),
    KindInfo("divide-error", "divide error"),
    KindInfo("invalid-opcode", "invalid opcode"),
    KindInfo("soft-lockup", "soft lockup: a CPU stuck in the kernel"),
    KindInfo("hard-lockup", "hard lockup: a CPU stuck with interrupts off"),
    KindInfo("rcu-stall", "RCU stall"),
    KindInfo("hung-task", "task blocked in D state"),
    KindInfo("lockdep", "lock dependency checker report"),
    KindInfo("kasan", "KASAN memory error", end=_SEPARATOR_END, ends_after_stack=False),
    KindInfo("kfence", "KFENCE memory error", end=_SEPARATOR_END, ends_after_stack=False),
    KindInfo("kmsan", "KMSAN uninitialized value", end=_SEPARATOR_END, ends_after_stack=False),
    KindInfo("kcsan", "KCSAN data race", end=_SEPARATOR_END, ends_after_stack=False),
    KindInfo("ubsan", "UBSAN undefined behaviour", end=_SEPARATOR_END, ends_after_stack=False),
    KindInfo("memory-leak", "kmemleak report"),
    KindInfo("reboot", "the kernel restarted without a panic or an orderly reboot before it"),
    KindInfo("harness", "a test harness declared failure on the console"),
    KindInfo("oom", "out-of-memory kill (not a crash)", crash=False, ends_after_stack=False,
             end=r"^(?:Memory cgroup )?[Oo]ut of memory.*: Kill(?:ed)? process"),
)}

_LOCKDEP_AT = "(?:.*\\n)+?.*at: (?:{PC} +)?{FUNC}"

REPORT_TABLE: tuple[HeaderGroup, ...] = (
    HeaderGroup("BUG:", (
        TitleFormat("kasan", "BUG: KASAN:", "KASAN: {0} {2} in {3}",
                    report=r"BUG: KASAN: ([a-z\-]+) in {FUNC}(?:.*\n)+?.*(Read|Write) (?:of size|at addr)"
                           r" (?:[0-9a-f]+)",
                    stack=StackRule(steps=(r"BUG: KASAN: (?:[a-z\-]+) in {FUNC}", CALL_TRACE, STACK),
                                    skip=("kernel_fault", "tag_check", "mem_abort", "^el1_", "^el1h_")),
                    alt=("bad-access in {3}",)),
        TitleFormat("kasan", "BUG: KASAN:", "KASAN: invalid-free in {1}",
                    report=r"BUG: KASAN: (?:double-free or invalid-free|double-free|invalid-free) in {FUNC}",
                    stack=StackRule(steps=(r"BUG: KASAN: (?:double-free or invalid-free|double-free"
                                           r"|invalid-free) in {FUNC}", CALL_TRACE, STACK),
                                    skip=("slab_", "kfree", "vunmap", "vfree")),
                    alt=("invalid-free in {1}",)),
        TitleFormat("kasan", r"BUG: KASAN: ([a-z\-]+) on address(?:.*\n)+?.*(Read|Write) of size ([0-9]+)",
                    "KASAN: {0} {1}"),
        TitleFormat("kasan", "BUG: KASAN: (.*)", "KASAN: {0}", corrupted=True),
        TitleFormat("kmsan", "BUG: KMSAN: kernel-usb-infoleak", "KMSAN: kernel-usb-infoleak in {1}",
                    report="BUG: KMSAN: kernel-usb-infoleak in {FUNC}",
                    stack=StackRule(steps=(STACK, "(Local variable .* created at:|Uninit was created at:)",
                                           STACK),
                                    skip=("alloc_skb", "usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg",
                                          "usb_interrupt_msg", "usb_control_msg")),
                    no_stack=True, alt=("KMSAN origin in {2}",)),
        TitleFormat("kmsan", "BUG: KMSAN:", "KMSAN: {0} in {2}",
                    report=r"BUG: KMSAN: ([a-z\-]+) in {FUNC}",
                    stack=StackRule(steps=(STACK, "(Local variable .* created at:|Uninit was created at:)",
                                           STACK),
                                    skip=("alloc_skb", "netlink_ack", "netlink_rcv_skb", "_encrypt$",
                                          "^(?:crypto|cipher|drbg|rng)_")),
                    no_stack=True, alt=("bad-access in {2}",)),
        TitleFormat("kcsan", "BUG: KCSAN:", "KCSAN: {0}", report="BUG: KCSAN: (.*)", no_stack=True),
        TitleFormat("kfence", "BUG: KFENCE: (use-after-free|out-of-bounds) (read|write) in {FUNC}",
                    "KFENCE: {0} {1} in {3}",
                    stack=StackRule(steps=(r"BUG: KFENCE: (?:[a-z\- ]+) in {FUNC}", STACK)),
                    alt=("bad-access in {3}",)),
        TitleFormat("kfence", "BUG: KFENCE: invalid free in {FUNC}", "KFENCE: invalid free in {1}",
                    stack=StackRule(steps=(r"BUG: KFENCE: (?:[a-z\- ]+) in {FUNC}", STACK)),
                    no_stack=True, alt=("invalid-free in {1}",)),
        TitleFormat("kfence", "BUG: KFENCE: invalid (read|write) in {FUNC}", "KFENCE: invalid {0} in {2}",
                    stack=StackRule(steps=(r"BUG: KFENCE: (?:[a-z\- ]+) in {FUNC}", STACK)),
                    alt=("bad-access in {2}",)),
        TitleFormat("kfence", "BUG: KFENCE: memory corruption in {FUNC}", "KFENCE: memory corruption in {1}",
                    stack=StackRule(steps=(r"BUG: KFENCE: (?:[a-z\- ]+) in {FUNC}", STACK)),
                    no_stack=True),
        TitleFormat("page-fault", "BUG: (?:unable to handle kernel paging request|unable to handle page "
                                  "fault for address|Unable to handle kernel data access)",
                    "BUG: unable to handle kernel paging request in {0}",
                    stack=_site_then_trace(), alt=("bad-access in {0}",)),
        TitleFormat("null-deref", "BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL "
                                  "pointer dereference|Kernel NULL pointer dereference)",
                    "BUG: unable to handle kernel NULL pointer dereference in {0}",
                    stack=_site_then_trace(), alt=("bad-access in {0}",)),
        # The kernel prints the fault header in two printk calls; the second may be lost.
        TitleFormat("page-fault", "BUG: (?:unable to handle kernel|Unable to handle kernel)",
                    "BUG: unable to handle kernel", corrupted=True),
        TitleFormat("bug", "BUG: (spinlock|rwlock) (lockup suspected|already unlocked|recursion|cpu recursion"
                           "|bad magic|wrong owner|wrong CPU|trylock failure on UP)",
                    "BUG: {0} {1} in {2}", stack=_trace(skip=("spin_", "_lock", "_unlock"))),
        TitleFormat("soft-lockup", "BUG: soft lockup", "BUG: soft lockup in {0}",
                    stack=_site_then_trace(picker="stall"), alt=("stall in {0}",)),
        TitleFormat("lockdep", "BUG: .*still has locks held!", "BUG: still has locks held in {0}",
                    report="BUG: .*still has locks held!(?:.*\\n)+?.*{PC} +{FUNC}"),
        TitleFormat("bug", "BUG: scheduling while atomic", "BUG: scheduling while atomic in {0}",
                    stack=_trace(skip=("schedule",))),
        TitleFormat("lockdep", "BUG: lock held when returning to user space",
                    "BUG: lock held when returning to user space in {0}",
                    report="BUG: lock held when returning to user space(?:.*\\n)+?.*leaving the kernel with"
                           " locks still held" + _LOCKDEP_AT,
                    no_stack=True),
        TitleFormat("lockdep", "BUG: bad unlock balance detected!", "BUG: bad unlock balance in {0}",
                    stack=StackRule(steps=("{PC} +{FUNC}", CALL_TRACE, STACK))),
        TitleFormat("lockdep", "BUG: held lock freed!", "BUG: held lock freed in {0}",
                    report="BUG: held lock freed!(?:.*\\n)+?.*{PC} +{FUNC}"),
        TitleFormat("bug", "BUG: Bad rss-counter state", "BUG: Bad rss-counter state", no_stack=True),
        TitleFormat("bug", "BUG: non-zero nr_ptes on freeing mm", "BUG: non-zero nr_ptes on freeing mm",
                    no_stack=True),
        TitleFormat("bug", "BUG: non-zero nr_pmds on freeing mm", "BUG: non-zero nr_pmds on freeing mm",
                    no_stack=True),
        TitleFormat("bug", "BUG: Dentry .* still in use", "BUG: Dentry still in use in {0}",
                    report=r"BUG: Dentry .* still in use \([0-9]+\) \[(unmount) of ([^\]]+)\]",
                    alt=("BUG: Dentry still in use [{0} of {1}]",)),
        TitleFormat("bug", "BUG: Bad page (state|cache)", "BUG: Bad page {0} in {1}",
                    stack=StackRule(steps=("page last allocated", STACK),
                                    skip=("(free|put|get|update|release)_page", "free_unref", "^_*folio",
                                          "truncate_inode_pages", "page_frag_free", "alloc", "vmap",
                                          "page_owner"))),
        TitleFormat("bug", "BUG: Bad page map", "BUG: Bad page map"),
        TitleFormat("bug", "BUG: workqueue lockup", "BUG: workqueue lockup", no_stack=True),
        TitleFormat("bug", "BUG: sleeping function called from invalid context at (.*)",
                    "BUG: sleeping function called from invalid context in {1}", stack=_trace()),
        TitleFormat("bug", r"BUG: using ([a-z_]+)\(\) in preemptible",
                    "BUG: using {0}() in preemptible code in {1}",
                    stack=_trace(skip=("dump_stack", "preemption", "preempt", "debug_", "processor_id",
                                       "this_cpu"))),
        TitleFormat("bug", "BUG: workqueue leaked lock or atomic", "BUG: workqueue leaked lock or atomic in {0}",
                    report="BUG: workqueue leaked lock or atomic(?:.*\\n)+?.*last function: ([a-zA-Z0-9_]+)\\n",
                    no_stack=True),
        TitleFormat("memory-leak", "BUG: memory leak", "memory leak in {0}",
                    stack=StackRule(steps=("backtrace(?: \\(crc [0-9a-fA-F]*\\))?:", STACK),
                                    skip=("kmemleak", "mmap", "kmem", "slab", "alloc", "create_object", "idr_get",
                                          "list_lru_init", "kasprintf", "kvasprintf", "pcpu_create", "strdup",
                                          "strndup", "memdup"))),
        TitleFormat("bug", "BUG: .*stack guard page was hit at", "BUG: stack guard page was hit in {0}",
                    stack=_site_then_trace(picker="stall"), alt=("stack-overflow in {0}",)),
        TitleFormat("lockdep", "BUG: Invalid wait context", "WARNING: locking bug in {0}",
                    stack=_trace(skip=("lock_sock", "release_sock"))),
        TitleFormat("bug", r"BUG:[ \t]*(?:\n|$)", "BUG: corrupted", corrupted=True),
    ), kind="bug", generic=True,
       ignore=("ODEBUG:", "Boot_DEBUG:", "xlog_status:", "DEBUG:", "BUG: no syscalls can create resource")),

    HeaderGroup("WARNING:", (
        TitleFormat("warning", r"WARNING: .*lib/debugobjects\.c.* (?:debug_print|debug_check|at)",
                    "WARNING: ODEBUG bug in {0}",
                    stack=_warning("debug_", "rcu", "hrtimer_", "timer_", "work_", "percpu_", "vunmap", "vfree",
                                   "__free_", "debug_check", "kobject_")),
        TitleFormat("warning", r"WARNING: .*mm/usercopy\.c.* (?:usercopy_warn|at)", "WARNING: bad usercopy in {0}",
                    stack=_warning("usercopy", "__check")),
        TitleFormat("warning", r"WARNING: .*lib/kobject\.c.* (?:kobject_|at)", "WARNING: kobject bug in {0}",
                    stack=_warning("kobject_")),
        TitleFormat("warning", r"WARNING: .*fs/proc/generic\.c.* (?:proc_register|at)",
                    "WARNING: proc registration bug in {0}", stack=_warning("proc_")),
        TitleFormat("refcount", r"WARNING: .*lib/refcount\.c.* (?:refcount_|at)", "WARNING: refcount bug in {0}",
                    stack=_warning("refcount", "kobject_")),
        TitleFormat("lockdep", r"WARNING: .*kernel/locking/lockdep\.c.*lock_", "WARNING: locking bug in {0}",
                    stack=_warning("lock_sock", "release_sock")),
        TitleFormat("lockdep", "WARNING: .*still has locks held!", "WARNING: still has locks held in {0}",
                    report="WARNING: .*still has locks held!(?:.*\\n)+?.*at: {FUNC}"),
        TitleFormat("lockdep", "WARNING: Nested lock was not taken", "WARNING: nested lock was not taken in {0}",
                    stack=_warning()),
        TitleFormat("lockdep", "WARNING: lock held when returning to user space",
                    "WARNING: lock held when returning to user space in {0}",
                    report="WARNING: lock held when returning to user space(?:.*\\n)+?.*leaving the kernel "
                           "with locks still held" + _LOCKDEP_AT,
                    no_stack=True),
        TitleFormat("warning", r"WARNING: .*mm/.*\.c.* k?.?malloc", "WARNING: kmalloc bug in {0}",
                    stack=_warning("kmalloc", "krealloc", "slab", "kmem")),
        TitleFormat("warning", r"WARNING: .*mm/vmalloc.c.*__vmalloc_node", "WARNING: zero-size vmalloc in {0}",
                    stack=_warning()),
        TitleFormat("warning", "WARNING: .* usb_submit_urb", "WARNING in {0}/usb_submit_urb",
                    stack=_warning("usb_submit_urb", "usb_start_wait_urb", "usb_bulk_msg", "usb_interrupt_msg",
                                   "usb_control_msg")),
        TitleFormat("warning", r"WARNING: {SRC} at 0x\d+, CPU#\d+", "WARNING in {1}", stack=_warning()),
        TitleFormat("warning", "WARNING: .* at {SRC} {FUNC}", "WARNING in {2}", stack=_warning()),
        TitleFormat("warning", "WARNING: {SRC} at {FUNC}", "WARNING in {2}", stack=_warning()),
        # Kernels before 3.x: `WARNING: at kernel/foo.c:12 func+0x1/0x2()` or `... func()`.
        TitleFormat("warning", r"WARNING: at {SRC} ([a-zA-Z0-9_]+)(?:\.[a-z0-9.]+)?(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?\(\)",
                    "WARNING in {2}", stack=_warning()),
        # A WARN without a file name (CONFIG_DEBUG_BUGVERBOSE off, kCFI in permissive mode).
        TitleFormat("warning", r"WARNING: CPU: \d+ PID: \d+ at {FUNC}", "WARNING in {1}", stack=_warning()),
        TitleFormat("warning", r"WARNING: \[.*\] {SRC} at {FUNC}.*", "WARNING in {2}", stack=_warning()),
        TitleFormat("lockdep", "WARNING: possible circular locking dependency detected", "possible deadlock in {0}",
                    report="WARNING: possible circular locking dependency detected(?:.*\\n)+?.*is trying to "
                           "acquire lock",
                    stack=StackRule(steps=("at: (?:{PC} +)?{FUNC}", "at: (?:{PC} +)?{FUNC}", STACK),
                                    skip=("process_one_work", "flush_workqueue", "drain_workqueue",
                                          "destroy_workqueue"))),
        TitleFormat("lockdep", "WARNING: possible irq lock inversion dependency detected", "possible deadlock in {0}",
                    report="WARNING: possible irq lock inversion dependency detected(?:.*\\n)+?.*just changed "
                           "the state of lock" + _LOCKDEP_AT),
        TitleFormat("lockdep", "WARNING: .*-safe -> .*-unsafe lock order detected", "possible deadlock in {0}",
                    stack=StackRule(steps=("which became (?:.*) at:", STACK))),
        TitleFormat("lockdep", "WARNING: possible recursive locking detected", "possible deadlock in {0}",
                    report="WARNING: possible recursive locking detected(?:.*\\n)+?.*is trying to acquire lock"
                           + _LOCKDEP_AT),
        TitleFormat("lockdep", "WARNING: inconsistent lock state", "inconsistent lock state in {1}",
                    report="WARNING: inconsistent lock state(?:.*\\n)+?.*takes" + _LOCKDEP_AT,
                    stack=_trace()),
        TitleFormat("lockdep", "WARNING: suspicious RCU usage", "WARNING: suspicious RCU usage in {1}",
                    report="WARNING: suspicious RCU usage(?:.*\\n)+?.*?{SRC}",
                    stack=_trace(skip=("rcu", "kmem", "slab"))),
        TitleFormat("warning", "WARNING: kernel stack regs at [0-9a-f]+ in [^ ]* has bad '([^']+)' value",
                    "WARNING: kernel stack regs has bad '{0}' value", no_stack=True),
        TitleFormat("warning", "WARNING: kernel stack frame pointer at [0-9a-f]+ in [^ ]* has bad value",
                    "WARNING: kernel stack frame pointer has bad value", no_stack=True),
        TitleFormat("lockdep", "WARNING: bad unlock balance detected!", "WARNING: bad unlock balance in {0}",
                    stack=StackRule(steps=("{PC} +{FUNC}", CALL_TRACE, STACK))),
        TitleFormat("lockdep", "WARNING: held lock freed!", "WARNING: held lock freed in {0}",
                    report="WARNING: held lock freed!(?:.*\\n)+?.*at:(?: {PC})? +{FUNC}"),
        TitleFormat("warning", "WARNING: kernel stack regs .* has bad 'bp' value",
                    "WARNING: kernel stack regs has bad value", no_stack=True),
        TitleFormat("warning", "WARNING: kernel stack frame pointer .* has bad value",
                    "WARNING: kernel stack regs has bad value", no_stack=True),
        TitleFormat("warning", r"WARNING:[ \t]*(?:\n|$)", "WARNING: corrupted", corrupted=True),
    ), kind="warning", generic=True, ignore=(
        "WARNING: /etc/ssh/moduli does not exist",
        "WARNING: workqueue cpumask: online intersect > possible intersect",
        "WARNING: [Tt]he mand mount option",
        r"WARNING: Unsupported flag value\(s\) of 0x%x in DT_FLAGS_1",
        "WARNING: Unprivileged eBPF is enabled with eIBRS",
        "WARNING: fbcon: Driver '(.*)' missed to adjust virtual screen size",
        "WARNING: See https.* for mitigation options.",
        "WARNING: kernel not compiled with CPU_SRSO",
        r"EXT4-[Ff][Ss](?: \(.*\))?:",
        "(?i)warning: .* uses (deprecated v2 capabilities|wireless extensions)",
        r"XFS \(\w+\): WARNING",
    )),

    HeaderGroup("INFO:", (
        TitleFormat("lockdep", "INFO: possible circular locking dependency detected", "possible deadlock in {0}",
                    report="INFO: possible circular locking dependency detected \\](?:.*\\n)+?.*is trying to "
                           "acquire lock(?:.*\\n)+?.*at: {PC} +{FUNC}"),
        TitleFormat("lockdep", "INFO: possible irq lock inversion dependency detected", "possible deadlock in {0}",
                    report="INFO: possible irq lock inversion dependency detected \\](?:.*\\n)+?.*just changed the"
                           " state of lock(?:.*\\n)+?.*at: {PC} +{FUNC}"),
        TitleFormat("lockdep", "INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected", "possible deadlock in {0}",
                    report="INFO: SOFTIRQ-safe -> SOFTIRQ-unsafe lock order detected \\](?:.*\\n)+?.*is trying to"
                           " acquire(?:.*\\n)+?.*at: {PC} +{FUNC}"),
        TitleFormat("lockdep", "INFO: possible recursive locking detected", "possible deadlock in {0}",
                    report="INFO: possible recursive locking detected \\](?:.*\\n)+?.*is trying to acquire lock"
                           "(?:.*\\n)+?.*at: {PC} +{FUNC}"),
        TitleFormat("lockdep", "INFO: inconsistent lock state", "inconsistent lock state in {0}",
                    report="INFO: inconsistent lock state \\](?:.*\\n)+?.*takes(?:.*\\n)+?.*at: {PC} +{FUNC}"),
        TitleFormat("rcu-stall", "INFO: rcu_(?:preempt|sched|bh) (?:self-)?detected(?: expedited)? stall",
                    "INFO: rcu detected stall in {0}",
                    stack=StackRule(steps=("apic_timer_interrupt", CRASH_SITE, STACK),
                                    fallbacks=(("(?:apic_timer_interrupt|Exception stack|el1h_64_irq)", STACK),
                                               *_OTHER_STALL_STACKS),
                                    skip=("apic_timer_interrupt", "rcu"), picker="stall"),
                    alt=("stall in {0}",)),
        TitleFormat("lockdep", "INFO: trying to register non-static key",
                    "INFO: trying to register non-static key in {0}", stack=_trace(skip=("stack", "lock", "IRQ"))),
        TitleFormat("lockdep", "INFO: suspicious RCU usage", "INFO: suspicious RCU usage in {1}",
                    report="INFO: suspicious RCU usage(?:.*\\n)+?.*?{SRC}",
                    stack=_trace(skip=("rcu", "kmem", "slab"))),
        # A task that holds up an RCU-tasks grace period: the stall rule on its stack.
        TitleFormat("rcu-stall", "INFO: rcu_tasks(?:_trace|_rude)? detected stalls? on tasks",
                    "INFO: rcu_tasks detected stall in {0}",
                    stack=_trace(skip=("rcu",), picker="stall"), alt=("stall in {0}",)),
        # The task's name is user-settable and may hold a newline.
        TitleFormat("hung-task", "INFO: task .*(?:\n.*)? blocked (?:in [^ ]+ wait )?for more than [0-9]+ seconds",
                    "INFO: task hung in {0}",
                    stack=_trace(picker="hung-task"), alt=("hang in {0}",)),
        TitleFormat("hung-task", "INFO: task .* can't die for more than .* seconds", "INFO: task can't die in {0}",
                    stack=_trace(skip=("schedule",)), alt=("hang in {0}",)),
        # Old-style KASAN reports whose header was lost.
        TitleFormat("kasan", "INFO: (Freed|Allocated) in (.*)", "INFO: {0} in {1}", corrupted=True),
        TitleFormat("bug", r"INFO:[ \t]*(?:\n|$)", "INFO: corrupted", corrupted=True),
    ), generic=True, ignore=(
        "INFO: lockdep is turned off", "INFO: Stall ended before state dump start", "INFO: NMI handler",
        "INFO: recovery required on readonly filesystem", "(handler|interrupt).*took too long",
        "INFO: sys_.* is not present in /proc/kallsyms", "INFO: no syscalls can create resource",
        "rmt_storage:INFO:", "_INFO:",
    )),

    # arm, arm64, riscv and powerpc fault headers.
    HeaderGroup("Unable to handle kernel", (
        TitleFormat("null-deref", "Unable to handle kernel (NULL pointer dereference)",
                    "BUG: unable to handle kernel {0} in {1}", stack=_site_then_trace(),
                    alt=("bad-access in {1}",)),
        # riscv calls a NULL pointer "access to user memory": an address in the first page is NULL.
        TitleFormat("null-deref",
                    r"Unable to handle kernel access to user memory .*at virtual address (?:0x)?0*[0-9a-f]{1,3}\b",
                    "BUG: unable to handle kernel NULL pointer dereference in {0}", stack=_site_then_trace(),
                    alt=("bad-access in {0}",)),
        TitleFormat("page-fault", "Unable to handle kernel (paging request|access to user memory)",
                    "BUG: unable to handle kernel {0} in {1}", stack=_site_then_trace(),
                    alt=("bad-access in {1}",)),
        # s390: `Unable to handle kernel pointer dereference in virtual kernel address space`.
        TitleFormat("page-fault", "Unable to handle kernel (pointer dereference) in virtual",
                    "BUG: unable to handle kernel {0} in {1}", stack=_site_then_trace(),
                    alt=("bad-access in {1}",)),
        # arm64 names the fault: write to read-only memory, execute from non-executable memory...
        TitleFormat("page-fault", "Unable to handle kernel ([a-zA-Z -]+?) at virtual address",
                    "BUG: unable to handle kernel {0} in {1}", stack=_site_then_trace(),
                    alt=("bad-access in {1}",)),
    )),
    HeaderGroup("general protection fault", (
        TitleFormat("gpf", "general protection fault.*:", "general protection fault in {0}",
                    stack=_site_then_trace(), alt=("bad-access in {0}",)),
    ), ignore=(r"general protection fault .* error:\d+ in ",)),
    HeaderGroup("stack segment: ", (
        TitleFormat("gpf", "stack segment: ", "stack segment fault in {0}", stack=_site_then_trace()),
    )),
    HeaderGroup("Kernel panic", (
        TitleFormat("stack-protector", "Kernel panic - not syncing: stack-protector:",
                    "kernel panic: stack is corrupted in {0}",
                    report="Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: {FUNC}",
                    no_stack=True),
        TitleFormat("stack-protector", "Kernel panic - not syncing: stack-protector:",
                    "kernel panic: stack is corrupted in {0}",
                    report="Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: [a-f0-9]+",
                    stack=_trace(skip=("stack_chk",))),
        TitleFormat("panic", "Kernel panic - not syncing: corrupted stack end",
                    "kernel panic: corrupted stack end in {0}",
                    report="Kernel panic - not syncing: corrupted stack end detected inside scheduler",
                    stack=_trace(skip=("schedule", "retint_kernel"), picker="stall"),
                    alt=("stack-overflow in {0}",)),
        TitleFormat("panic", "Kernel panic - not syncing: kernel stack overflow", "kernel stack overflow in {0}",
                    stack=_trace(skip=("bad_stack",), picker="stall"), alt=("stack-overflow in {0}",)),
        TitleFormat("panic", "Kernel panic - not syncing: Attempted to kill init!",
                    "kernel panic: Attempted to kill init!"),
        TitleFormat("panic", "Kernel panic - not syncing: Couldn't open N_TTY ldisc for [^ ]+ --- error -[0-9]+",
                    "kernel panic: Couldn't open N_TTY ldisc"),
        # These follow another report; seen first, that report's header was lost.
        TitleFormat("panic", "Kernel panic - not syncing: Fatal exception", "kernel panic: Fatal exception",
                    corrupted=True),
        TitleFormat("panic", "Kernel panic - not syncing: panic_on_warn set", "kernel panic: panic_on_warn set",
                    corrupted=True),
        TitleFormat("panic", "Kernel panic - not syncing: hung_task: blocked tasks",
                    "kernel panic: hung_task: blocked tasks", corrupted=True),
        # The panic's first sentence: `No working init found.  Try passing init= ...` is
        # `kernel panic: No working init found`.
        TitleFormat("panic", r"Kernel panic - not syncing: ([^\n]+?)(?:\.*(?=\n)|\.  ?[A-Z])", "kernel panic: {0}"),
    )),
    HeaderGroup("PANIC: double fault", (
        TitleFormat("double-fault", "PANIC: double fault", "PANIC: double fault in {0}",
                    stack=StackRule(steps=(CRASH_SITE,))),
    )),
    HeaderGroup("rust_kernel: panicked", (
        TitleFormat("panic", "rust_kernel: panicked", "{0} in {1}",
                    report="rust_kernel: panicked at [^\n]*?\n(.+?)\n",
                    stack=_trace(skip=(r"__rustc::rust_begin_unwind",))),
    )),
    HeaderGroup("kernel BUG", (
        TitleFormat("kernel-bug", "kernel BUG at mm/usercopy.c", "BUG: bad usercopy in {0}",
                    stack=_trace(skip=("usercopy", "__check"))),
        TitleFormat("kernel-bug", "kernel BUG at lib/list_debug.c", "BUG: corrupted list in {0}",
                    stack=_trace(), alt=("bad-access in {0}",)),
        TitleFormat("kernel-bug", "kernel BUG at (.*)", "kernel BUG in {1}",
                    stack=_site_then_trace(skip=("^skb_",))),
    )),
    HeaderGroup("Kernel BUG", (
        TitleFormat("kernel-bug", "Kernel BUG (.*)", "kernel BUG {0}"),
    )),
    HeaderGroup("BUG kmalloc-", (
        TitleFormat("bug", "BUG kmalloc-.*: Object already free", "BUG: Object already free"),
    )),
    HeaderGroup("int3: ", (
        TitleFormat("int3", "int3: ", "int3 in {0}", stack=StackRule(steps=(CRASH_SITE,))),
    )),
    # kCFI (CONFIG_CFI_CLANG): `CFI failure at caller+0x2c/0x44 (target: callee+0x0/0x1c; ...)`.
    HeaderGroup("CFI failure at ", (
        TitleFormat("cfi", "CFI failure at {FUNC}", "CFI failure in {0}", no_stack=True),
    )),
    HeaderGroup("divide error:", (
        TitleFormat("divide-error", "divide error: ", "divide error in {0}", stack=StackRule(steps=(CRASH_SITE,))),
    )),
    # A misspelling in some kernels (x86 IDTENTRY conversion).
    HeaderGroup("divide_error:", (
        TitleFormat("divide-error", "divide_error: ", "divide error in {0}", stack=StackRule(steps=(CRASH_SITE,))),
    )),
    HeaderGroup("invalid opcode:", (
        TitleFormat("invalid-opcode", "invalid opcode: ", "invalid opcode in {0}",
                    stack=StackRule(steps=(CRASH_SITE,))),
    )),
    HeaderGroup("UBSAN:", (
        TitleFormat("ubsan", "UBSAN:", "UBSAN: undefined-behaviour in {0}", report="UBSAN: Undefined behaviour in",
                    stack=_trace(skip=("ubsan", "overflow"))),
        TitleFormat("ubsan", "UBSAN: array-index-out-of-bounds in", "UBSAN: array-index-out-of-bounds in {0}",
                    stack=_trace(skip=("ubsan", "overflow")), alt=("bad-access in {0}",)),
        TitleFormat("ubsan", "UBSAN:", "UBSAN: {0} in {1}", report="UBSAN: (.*?) in",
                    stack=_trace(skip=("ubsan", "overflow"))),
    )),
    HeaderGroup("unregister_netdevice: waiting for", (
        TitleFormat("bug", "unregister_netdevice: waiting for (?:.*) to become free",
                    "unregister_netdevice: waiting for DEV to become free", no_stack=True),
    )),
    HeaderGroup("VFS: Close: file count is 0", (
        TitleFormat("bug", "VFS: Close: file count is 0", "VFS: Close: file count is zero (use-after-free)",
                    no_stack=True),
    )),
    HeaderGroup("VFS: Busy inodes after unmount", (
        TitleFormat("bug", "VFS: Busy inodes after unmount", "VFS: Busy inodes after unmount (use-after-free)",
                    no_stack=True),
    )),
    HeaderGroup("Internal error:", (
        TitleFormat("oops", "Internal error:", "Internal error in {0}", stack=_site_then_trace(),
                    alt=("bad-access in {0}",)),
    )),
    # An oops header without the fault line before it (x86, riscv, powerpc).
    HeaderGroup("Oops", (
        TitleFormat("oops", r"Oops\b.*\[#[0-9]+\]", "Oops in {0}", stack=_site_then_trace()),
    ), strict=True),
    HeaderGroup("Watchdog detected hard LOCKUP", (
        TitleFormat("hard-lockup", "Watchdog detected hard LOCKUP on cpu", "BUG: hard lockup in {0}",
                    stack=_site_then_trace(picker="stall"), alt=("stall in {0}",)),
    ), strict=True),
    HeaderGroup("Unhandled fault:", (
        TitleFormat("oops", "Unhandled fault:", "Unhandled fault in {0}", stack=_site_then_trace(),
                    alt=("bad-access in {0}",)),
    )),
    HeaderGroup("Alignment trap:", (
        TitleFormat("oops", "Alignment trap:", "Alignment trap in {0}", stack=_site_then_trace()),
    )),
    HeaderGroup("trusty: panic", (
        TitleFormat("panic", "trusty: panic.* ASSERT FAILED", "trusty: ASSERT FAILED: {0}",
                    report=r"trusty: panic \(.*?\):(?: DEBUG)? ASSERT FAILED at \(.*?\): (.+)", no_stack=True),
        TitleFormat("panic", "trusty: panic.* ASSERT FAILED.*: *(.*)", "trusty: ASSERT FAILED: {0}", corrupted=True),
        TitleFormat("panic", "trusty: panic", "trusty: panic: {0}", report=r"trusty: panic \(.*?\): (.+)",
                    no_stack=True),
    )),
    # A test harness that prints this on the console has declared the run failed.
    HeaderGroup("SYZFAIL:", (
        TitleFormat("harness", "SYZFAIL:(.*)", "SYZFAIL:{0}", no_stack=True),
    ), harness=True),
    HeaderGroup("SYZFATAL:", (
        TitleFormat("harness", "SYZFATAL:(.*)", "SYZFATAL:{0}", no_stack=True),
    ), harness=True),
    # Not a crash, so it never interrupts a report that is being collected.
    HeaderGroup("invoked oom-killer:", (
        TitleFormat("oom", "(\\S+) invoked oom-killer:", "out of memory: killed process {0}",
                    report="Out of memory(?: \\(oom_kill_allocating_task\\))?: "
                           "Kill(?:ed)? process [0-9]+ \\(([^)]*)\\)",
                    no_stack=True),
        TitleFormat("oom", "(\\S+) invoked oom-killer:", "out of memory: {0} invoked oom-killer", no_stack=True),
    )),
)


# Not matched on console lines: the detector reports a reboot it sees happen without a
# panic or an orderly `reboot: Restarting system` before it (see detector.py).
UNEXPECTED_REBOOT = HeaderGroup("Linux version", (
    TitleFormat("reboot", "Linux version|Booting the kernel", "unexpected kernel reboot", no_stack=True),
))
