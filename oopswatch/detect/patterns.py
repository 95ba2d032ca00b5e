"""Regular-expression building blocks shared by the report table and the detector.

Where it comes from: {FUNC}, {PC}, {SRC}, the crash-site pattern (linuxRipFrame), the
call-trace and stack-start patterns, frame patterns, the skipped frames (skipPatterns),
corrupted lines, info messages with a stack and the stripped syscall prefixes are
ported from syzkaller's pkg/report/linux.go (Apache-2.0, see NOTICE); the crash sites of
i386, mips, loongarch and s390, arm's unwinder lines and the report-structure pattern are
oopswatch's, from the kernel's arch/*/kernel/traps.c and dumpstack code.
"""

from __future__ import annotations

import re
from functools import cache

from oopswatch.regex_cache import compile_regex

# Placeholders usable in the report table's patterns.
# A function name followed by `.suffix` or `+offset`; 64-bit big-endian powerpc (ELF ABI
# v1) prints the code symbol of a function descriptor, `.func+0x20/0x70`: the name is `func`.
FUNC = r"\.?([a-zA-Z0-9_]+)(?:\.|\+)"
PC = r"\[\<?(?:0x)?[0-9a-f]+\>?\]"  # `[<ffffffff81000000>]`
SRC = r"([a-zA-Z0-9\-_/.]+\.[a-z]+:[0-9]+)"  # `drivers/misc/lkdtm/bugs.c:85`
ADDR = r"0x[0-9a-f]+"


@cache
def compile_pattern(pattern: str, flags: int = 0) -> re.Pattern[str]:
    """Compile a table pattern after expanding {FUNC}, {PC}, {SRC} and {ADDR}."""
    expanded = (pattern.replace("{FUNC}", FUNC).replace("{PC}", PC)
                .replace("{SRC}", SRC).replace("{ADDR}", ADDR))
    return compile_regex(expanded, flags)


def literal_alternation(words: list[str]) -> re.Pattern[str]:
    """A regex matching any of `words`, written as a prefix tree: Python's regex engine
    tries fewer branches per position than with a flat `a|b|c` (the detector runs this
    on every console line)."""
    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a word ends here; longer ones go on
            body = "(?:" + body + ")?" if len(branches) == 1 else body + "?"
        return body

    return compile_regex(build(trie))


class LiteralSearch:
    """Finds the first of many literal words in a long text (a chunk's console lines).

    Python's `re` scans for an alternation of forty words at some 50 MB/s; RE2 compiles
    it into an automaton that runs at hundreds of MB/s, which makes the console's
    ordinary lines almost free for the detector.
    """

    def __init__(self, words: list[str]):
        import re2  # google-re2: only the detector's batch search needs it

        self._pattern = re2.compile("|".join(re.escape(word) for word in words))

    def find(self, text: str, start: int = 0) -> int:
        """The position of the first word at or after `start`, or -1."""
        match = self._pattern.search(text, start)
        return match.start() if match is not None else -1


# The crash site, where each architecture prints it (arch/*/kernel/traps.c, process.c):
# x86 `RIP: 0010:func+...` (i386 `EIP: func+...`, older `EIP is at func+...`), powerpc
# `NIP [c0000000001234] func+...`, arm64 and riscv `pc : `/`epc : func+...`, arm
# `PC is at func+...`, mips `epc   : 8001234c func+...`, loongarch `ERA: 9000... func+...`
# (older `era   : ...`), s390 `Krnl PSW : 0704c00180000000 000000000012345a (func+...)`.
CRASH_SITE = (
    r"(?:(?:IP|NIP|pc |PC is at):? (?:(?:[0-9]+:)?(?:{PC} +){0,2}{FUNC}|(?:[0-9]+:)?0x[0-9a-f]+"
    r"|(?:[0-9]+:)?{PC} +\[< *\(null\)>\] +\(null\)|[0-9]+: +\(null\))"
    r"|(?:EIP is at |(?:epc|ERA|era) *: [0-9a-f]{8,16} |Krnl PSW : [0-9a-f]{16} [0-9a-f]{16} \(){FUNC}"
    # ... or a bare address there: a jump to garbage, or no CONFIG_KALLSYMS.
    r"|(?:(?:epc|ERA|era) *: [0-9a-f]{8,16} |Krnl PSW : [0-9a-f]{16} [0-9a-f]{16} \()0x[0-9a-f]+\b)"
)
# A crash site that names its function (not a bare address: a jump to garbage).
NAMED_CRASH_SITE = (
    r"(?:(?:IP|NIP|pc |PC is at):? (?:[0-9]+:)?(?:{PC} +){0,2}{FUNC}"
    r"|(?:EIP is at |(?:epc|ERA|era) *: [0-9a-f]{8,16} |Krnl PSW : [0-9a-f]{16} [0-9a-f]{16} \(){FUNC}"
    # ... or a bare address there: a jump to garbage, or no CONFIG_KALLSYMS.
    r"|(?:(?:epc|ERA|era) *: [0-9a-f]{8,16} |Krnl PSW : [0-9a-f]{16} [0-9a-f]{16} \()0x[0-9a-f]+\b)"
)
# The caller, as the link register shows it: arm `LR is at func+...`, arm64 `lr : func+...`,
# riscv ` ra : func+...`, mips `ra    : 80271408 func+...`, loongarch `ra: 9000... func+...`.
LINK_REGISTER = r"(?:LR is at |\blr : |\bra *: (?:[0-9a-f]{8,16} )?|\bRA: [0-9a-f]{8,16} ){FUNC}"

# arm's unwinder prints its frames with no `Call trace:` or `Backtrace:` line before them:
# `[<c0100f44>] (callee [module]) from [<c0101254>] (caller+0x18/0x1c [module])`,
# `callee from caller+0x18/0x1c`, and without CONFIG_KALLSYMS `Function entered at [<..>] from [<..>]`.
_ARM_CALLEE = r"\(([a-zA-Z0-9_.]+)(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?(?: \[[a-zA-Z0-9_-]+\])?\)"
ARM_VERBOSE_FRAME = r"^ *{PC} " + _ARM_CALLEE + r" from {PC} \({FUNC}"
ARM_FRAME = r"^ *([a-zA-Z0-9_.]+) from {FUNC}"
# The same line without CONFIG_KALLSYMS, once a System.map named its return address.
ARM_BARE_FRAME_NAMED = r"^ *Function entered at {PC} from {PC} {FUNC}"
# A stack starts at its header, or at the first of arm's headerless frame lines (a
# lookahead: the line's names are still collected as frames).
# riscv's show_regs prints the interrupted stack right after its last register line, with no
# `Call Trace:` before it: `status: ... badaddr: ... cause: ...` starts that stack.
CALL_TRACE = (r"(?:Call (?:T|t)race:)|(?:Backtrace:)"
              r"|(?:status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16})"
              r"|(?=" + ARM_VERBOSE_FRAME + r")|(?=" + ARM_FRAME + r")"
              r"|(?=^ *Function entered at {PC} from(?: {PC} {FUNC})?)")

# Lines that start a stack trace.
STACK_START_RES = tuple(compile_regex(p) for p in (
    r"Call (?:T|t)race",
    r"Allocated:",
    r"Allocated by task [0-9]+:",
    r"Freed:",
    r"Freed by task [0-9]+:",
    r"[^k] backtrace(?: \(crc [0-9a-fA-F]*\))?:",  # not `stack backtrace:`
    r"Backtrace:",
    r"Uninit was stored to memory at",
    r"status: [0-9a-f]{16} badaddr: [0-9a-f]{16} cause: [0-9a-f]{16}",  # riscv show_regs
))
RISCV_STACK_START = STACK_START_RES[-1]
STACK_START_RE = compile_regex("|".join(f"(?:{pattern.pattern})" for pattern in STACK_START_RES))

# A line naming a stack frame, for the guilty-frame search: group 1 is the function.
FRAME_NAME_RES = (
    # s390 prints a frame it cannot vouch for (the return address register) in parentheses.
    # x86_64 kernels before 2.6.27 print a module's frame as `:module:func+0x../0x..`.
    compile_pattern(r"^ *\(?(?:{PC} ){0,2}(?::[a-zA-Z0-9_]+:)?{FUNC}"),
    # arm: `[<c0100f44>] (callee) from [<c0101254>] (caller+0x18/0x1c)` gives both names.
    compile_pattern(ARM_VERBOSE_FRAME),
    # arm's unwinder: `callee from caller+0x18/0x1c`.
    compile_pattern(ARM_FRAME),
    compile_pattern(ARM_BARE_FRAME_NAMED),
)

# Functions that never explain a crash, by family; each entry is searched anywhere in
# a frame's function name. A title names the first frame of a stack that matches none.
SKIPPED_FRAME_FAMILIES: dict[str, tuple[str, ...]] = {
    "sanitizer runtimes": (
        "__sanitizer", "__asan", "kasan", "hwasan", "__msan", "kmsan", "kcsan_setup_watchpoint",
        "check_memory_region", "read_word_at_a_time", "(read|write)_once_.*nocheck",
        "check_heap_object", "check_object", "__fortify_report",
    ),
    "reporting machinery": (
        "print_address_description", "print_report", "print_usage_bug", "print_unlock",
        "print_tainted", "imbalance_bug", "panic", "report_bug", "fixup_bug", "invalid_op",
        "do_error", "_trap$|do_trap", "__warn", "warn_slowpath", "warn_on_slowpath", "warn_alloc", "warn_bogus",
        "dump_stack", "show_stack", "walk_stack", "dump_backtrace", "unwind_backtrace", "arch_stack_walk",
        "stack_trace_save", "stack_trace_consume_entry", "hex_dump_to_buffer", "print_hex_dump",
        "printk", "va_format", "snprintf", "scnprintf", "kasprintf", "kvasprintf", "string",
        "pointer", "dev_info", "dev_notice", "dev_warn", "dev_err", "dev_alert", "dev_crit",
        "dev_emerg", "assertfail", "^BUG$", "^get_taint$", "program_check_exception", "program_check_common",
    ),
    "memory allocation": (
        "alloc_page", "alloc_frozen_pages", "k?v?(?:m|z|c)alloc", "krealloc", "kmem_cache", "allocate_slab", "slab_",
        "folio_(?:alloc|unlock)", "filemap_alloc_folio", "__filemap_get_folio",
        "find_or_create_page", "do_read_cache_folio", "read_cache_page", "pagecache_get_page",
        "grab_cache_page_write_begin", "^kv?free$", "kfree_skb", "memdup", "strdup", "strndup",
        "__phys_addr",
    ),
    "locking and atomics": (
        "lockdep", "lock_acquire", "lock_release", "lock_class", "mark_lock",
        "(reacquire|mark)_held_locks", "raw_spin_rq", "spin_lock", "spin_trylock", "spin_unlock",
        "read_lock", "read_trylock", "read_unlock", "write_lock", "write_trylock", "write_unlock",
        "^down$", "down_read", "down_write", "down_trylock", "up_read", "up_write", "^mutex_",
        "^__mutex_", "^rt_mutex_", "owner_on_cpu", "osq_lock", "osq_unlock", "bh_enable",
        "bh_disable", "(trace|lockdep)_(hard|soft)irq", "^(un)?lock_page", "seqprop_assert",
        "atomic(64)?_(dec|inc|read|set|or|xor|and|add|sub|fetch|xchg|cmpxchg|try)",
        "(set|clear|change|test)_bit", "^refcount_", "^kref_", "ref_tracker",
    ),
    "library helpers": (
        "memcpy", "memcmp", "memset", "^mmiocpy$", "^mmioset$", "memchr", "memmove", "strcmp", "strncmp", "strcpy",
        "strlcpy", "strncpy", "strscpy", "strlen", "strstr", "strnstr", "strnlen", "strchr",
        "copy_to_user", "copy_from_user", "copy_to_iter", "copy_from_iter", "copy_page_to_iter",
        "copy_page_from_iter", "copy_folio_to_iter", "^copyin$", "^copyout$", "put_user",
        "get_user", "might_fault", "__might_fault", "might_sleep", "__might_resched", "list_add",
        "list_del", "list_replace", "list_move", "list_splice", "^rb_", "^__rb_", "^klist_",
        "_indirect_thunk_", r"^crc\d+", "crc_itu_t", "readb$", "readw$", "readl$", "readq$",
        "writeb$", "writew$", "writel$", "writeq$", "logic_in", "logic_out", "rhashtable_lookup",
        "xas_(?:start|load|find)", "ida_free", "extract_(user|iter)_to_sg",
        "mark_buffer_dirty",  # WARNs about its caller's buffer
    ),
    "deferred work, timers and waiting": (
        "__wake_up", "^complete$", "wait_for_completion", "finish_wait", "kthread_stop",
        "queue_work", "insert_work", "__queue_delayed_work", "queue_delayed_work_on",
        "flush_work", "__cancel_work_timer", "cancel_work_sync", "try_to_grab_pending",
        "flush_workqueue", "drain_workqueue", "destroy_workqueue", "del_timer", "lock_timer_base",
        "__timer_delete_sync", "sk_stop_timer_sync", "__mod_timer", "cleanup_srcu_struct",
        "debug_object", "timer_is_static_object", "work_is_static_object", "perf_trace",
    ),
    "object lifetime and device model": (
        "kobject_", "add_uevent_var", "get_device_parent", "device_add", "device_del",
        "device_unregister", "device_destroy", "device_release", "devres_release_all",
        "device_for_each_child", "device_remove_file", "^put_device$", "sysfs_remove",
        "hwrng_unregister", "i2c_del_adapter", "__unregister_client", "rollback_registered",
        "unregister_netdev", "tty_unregister_device", "dummy_urb_enqueue", "usb_kill_urb",
        "usb_kill_anchored_urbs", "usb_control_msg", "usb_hcd_submit_urb", "usb_submit_urb",
        "^iput$", "^iput_final$", "^ihold$", "drop_nlink", "fast_dput", "dput",
        "find_lock_entries", "truncate_inode_pages_range",
    ),
    "arm64 fault entry": (
        "do_(kernel|translation)_fault", "do_mem_abort", "el1_abort", "el1h_64_sync(?:_handler)?",
    ),
}
COMMON_SKIPPED_FRAMES = tuple(p for family in SKIPPED_FRAME_FAMILIES.values() for p in family)

# Syscall wrappers differ per architecture; the title uses the name without them.
STRIPPED_FRAME_PREFIXES = (
    "SYSC_", "SyS_", "sys_", "__x64_", "__ia32_", "__arm64_", "____sys_", "___sys_", "__sys_",
    "__se_", "__se_sys_", "__do_sys_", "compat_SYSC_", "compat_SyS_", "ksys_",
)

# A line inside a stack trace that means another report got mixed in.
# arm's headerless frame lines (see CALL_TRACE), anywhere in a report.
HEADERLESS_FRAME_RE = compile_pattern(
    r"^ *(?:[a-zA-Z0-9_.]+ from {FUNC}|{PC} " + _ARM_CALLEE + r" from {PC}|Function entered at {PC} from {PC})",
    re.MULTILINE,
)

CORRUPTING_LINES = (
    compile_pattern(r"^( \[\<?(?:0x)?[0-9a-f]+\>?\])? should_fail(slab)?(\.[a-z0-9.]+)?\+0x"),
)

# Messages that print a stack without being a bug; seen inside a report they end it
# (without printk caller tags the two stacks cannot be told apart).
INFO_MESSAGES_WITH_STACK = (
    "vmalloc: allocation failure:",
    "FAULT_INJECTION: forcing a failure",
    "FAULT_FLAG_ALLOW_RETRY missing",
)

# Lines that belong to a report's structure rather than to ordinary output: register
# dumps, stack delimiters, lock lists, memory dumps. After a report's stack trace, the
# first lines that match none of these mean ordinary output has resumed.
REPORT_STRUCTURE_RE = compile_regex(
    r"^\s*(?:"
    r"Call [Tt]race|Backtrace:|.*[Bb]acktrace:$|stack backtrace|Exception stack|"
    r"<(?:/?IRQ|/?TASK|/?NMI|/?SOFTIRQ|EOI)>|"
    r"(?:RIP|RSP|RAX|RBX|RCX|RDX|RSI|RDI|RBP|R\d\d?|FS|GS|CS|DS|ES|SS|CR\d|DR\d|EIP|ESP|EAX|EBX|ECX|EDX"
    r"|ESI|EDI|EBP|EFLAGS|ORIG_RAX|PKRU|IP|NIP|LR|CTR|MSR|CR|XER|CFAR|DAR|DSISR|IRQMASK|SOFTE|TRAP"
    r"|GPR\d\d|REGS|pc|lr|sp|ra|gp|tp|epc|status|badaddr|cause|pstate|psr|ip|fp|t\d|s\d\d?|a\d|x\d\d?"
    r"|r\d\d?|orig_a0)\s*:|"
    r"Code: |Modules linked in|CPU: \d+|Hardware name|Workqueue:|task:|Comm:|"
    r"---\[ |Kernel Offset|Kernel panic|Rebooting in|SMP: stopping|Shutting down cpus|"
    r"Dumping ftrace|\(ftrace buffer empty\)|Kernel Offset|PHYSICAL_START|"
    r"NMI backtrace|Sending NMI|Uhhuh|INFO: NMI handler|"
    r"Showing all locks|Showing busy workqueues|\d+ locks? held by|#\d+: |"
    r"=+$|-+$|"
    r"irq event stamp|hardirqs last|softirqs last|"
    r"Mem abort info|Data abort info|ESR = |EC = |SET = |FSC = |EA = |S1PTW = |ISV = |ISS|CM = |WnR = |"
    r"swapper pgtable|user pgtable|\[[0-9a-f]+\] pgd=|"
    r"Internal error|Unable to handle|Oops|#PF: |PGD |P4D |PUD |PMD |PTE |"
    r"PC is at|LR is at|Flags: |Control: |Table: |DAC: |Process \S+ \(pid|Stack: \(|Exception stack|"
    r"\[<[0-9a-f]+>\]|[0-9a-f]{4,16}: |"
    r"Instruction dump|--- interrupt:|\[[0-9a-f]+\] \[[0-9a-f]+\]|"
    r"\$ ?\d+ +:|Hi +:|Lo +:|Status:|Cause +:|BadVA +:|PrId +:|Stack +:|"  # mips
    r"ERA:|era +:|RA:|ra +:|CRMD:|PRMD:|EUEN:|ECFG:|ESTAT:|BADV:|PRID:|"  # loongarch
    r"Krnl |Last Breaking-Event-Address|Failing address|Fault in |AS:[0-9a-f]+|\(\[<|"  # s390
    r"EIP is at|Pid: \d+, comm:|Faulting instruction address|"
    r"Not tainted|Tainted:|\"echo 0 > /proc/sys/kernel/hung_task_timeout_secs\"|"
    r"Freed by task|Allocated by task|Last potentially related work creation|Second to last|"
    r"The buggy address|Memory state around|page:|flags:|raw:|page dumped|page_owner|"
    r"which belongs to the cache|which belongs to|\d+-byte region|"
    r"rcu:|\(t=\d+ jiffies|\(detected by|Task dump for CPU|rcu_\w+ kthread starved|RCU grace-period kthread|"
    r"Disabling lock debugging|Sending NMI|lock\(|\*\*\* DEADLOCK|other info that|"
    r"Possible unsafe locking|CPU0|-> #\d"
    r")"
)
