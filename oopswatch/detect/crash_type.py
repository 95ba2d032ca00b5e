"""The crash type of a title, in syzkaller's classes (HANG, WARNING, KASAN-READ, ...).

Ported from syzkaller's pkg/report/crash/title_to_type.go (Apache-2.0, see NOTICE): the
first row with a prefix of the title gives the type; the rows are in syzkaller's order,
the specific before the general.
"""

from __future__ import annotations

TITLE_TO_TYPE: tuple[tuple[tuple[str, ...], str], ...] = (
    # oopswatch's titles that syzkaller does not make (other architectures, kCFI, int3).
    (("INFO: rcu_tasks detected stall in",), "HANG"),
    (("BUG: unable to handle kernel pointer dereference", "BUG: unable to handle kernel write to read-only memory",
      "BUG: unable to handle kernel execute from non-executable memory"), "MEMORY_SAFETY_BUG"),
    (("int3 in", "CFI failure in"), "DoS"),
    # syzkaller's table.
    (("KFENCE: use-after-free write",), "KFENCE-USE-AFTER-FREE-WRITE"),
    (("KFENCE: use-after-free read", "KFENCE: use-after-free"), "KFENCE-USE-AFTER-FREE-READ"),
    (("KFENCE: invalid write", "KFENCE: out-of-bounds write"), "KFENCE-WRITE"),
    (("KFENCE: invalid read", "KFENCE: out-of-bounds read", "KFENCE: out-of-bounds"), "KFENCE-READ"),
    (("KFENCE: memory corruption",), "KFENCE-MEMORY-CORRUPTION"),
    (("KFENCE: invalid free",), "KFENCE-INVALID-FREE"),
    (("KMSAN: uninit-value",), "KMSAN-UNINIT-VALUE"),
    (("KMSAN: kernel-infoleak-after-free", "KMSAN: kernel-usb-infoleak-after-free", "KMSAN: use-after-free"),
     "KMSAN-USE-AFTER-FREE-READ"),
    (("KMSAN: kernel-infoleak", "KMSAN: kernel-usb-infoleak"), "KMSAN-INFO-LEAK"),
    (("KASAN: null-ptr-deref Write",), "KASAN-NULL-POINTER-DEREFERENCE-WRITE"),
    (("KASAN: null-ptr-deref Read",), "KASAN-NULL-POINTER-DEREFERENCE-READ"),
    (("BUG: unable to handle kernel NULL pointer dereference in",), "NULL-POINTER-DEREFERENCE"),
    (("KASAN: global-out-of-bounds Write", "KASAN: out-of-bounds Write", "KASAN: slab-out-of-bounds Write",
      "KASAN: stack-out-of-bounds Write", "KASAN: user-memory-access Write", "KASAN: vmalloc-out-of-bounds Write",
      "KASAN: wild-memory-access Write"), "KASAN-WRITE"),
    (("KASAN: global-out-of-bounds Read", "KASAN: invalid-access Read", "KASAN: out-of-bounds Read",
      "KASAN: slab-out-of-bounds Read", "KASAN: slab-out-of-bounds", "KASAN: stack-out-of-bounds Read",
      "KASAN: stack-out-of-bounds", "KASAN: unknown-crash Read", "KASAN: user-memory-access Read",
      "KASAN: vmalloc-out-of-bounds Read", "KASAN: wild-memory-access Read", "KASAN: wild-memory-access"),
     "KASAN-READ"),
    (("KASAN: double-free or invalid-free", "KASAN: invalid-free"), "KASAN-INVALID-FREE"),
    (("KASAN: slab-use-after-free Write", "KASAN: use-after-free Write"), "KASAN-USE-AFTER-FREE-WRITE"),
    (("KASAN: slab-use-after-free Read", "KASAN: use-after-free Read", "KASAN: use-after-free"),
     "KASAN-USE-AFTER-FREE-READ"),
    (("BUG: corrupted list", "BUG: unable to handle kernel paging request"), "MEMORY_SAFETY_BUG"),
    (("WARNING: refcount bug",), "REFCOUNT_WARNING"),
    (("UBSAN: array-index-out-of-bounds",), "MEMORY_SAFETY_UBSAN"),
    (("KCSAN: data-race",), "KCSAN-DATARACE"),
    (("KCSAN: assert: race in",), "KCSAN-ASSERT"),
    (("BUG: bad unlock balance in", "BUG: held lock freed in", "BUG: rwlock", "BUG: spinlock",
      "BUG: still has locks held in", "BUG: using", "WARNING: bad unlock balance in", "WARNING: held lock freed in",
      "WARNING: lock held", "WARNING: locking bug in", "WARNING: nested lock was not taken in",
      "WARNING: still has locks held in", "WARNING: suspicious RCU usage in", "inconsistent lock state in",
      "possible deadlock in"), "LOCKDEP"),
    (("BUG: scheduling while atomic in", "BUG: sleeping function called from invalid context in"), "ATOMIC_SLEEP"),
    (("memory leak in",), "LEAK"),
    (("BUG: bad usercopy in", "kernel BUG"), "BUG"),
    (("WARNING in",), "WARNING"),
    (("BUG: stack guard page was hit in", "WARNING: corrupted", "WARNING: kernel stack frame pointer has bad value",
      "WARNING: kernel stack regs has bad"), ""),
    (("BUG: soft lockup in", "INFO: rcu detected stall in", "INFO: task can't die in", "INFO: task hung in"), "HANG"),
    (("Alignment trap in", "BUG: Object already free", "Internal error in", "PANIC: double fault", "Unhandled fault in",
      "VFS: Busy inodes after unmount (use-after-free)", "VFS: Close: file count is zero (use-after-free)",
      "divide error in", "general protection fault in", "go runtime error", "invalid opcode in", "kernel panic:",
      "kernel stack overflow", "panic:", "rust_kernel panicked", "stack segment fault in", "trusty:",
      "unregister_netdevice: waiting for DEV to become free"), "DoS"),
    (("unexpected kernel reboot",), "REBOOT"),
    (("SYZFAIL", "SYZFATAL:"), "SYZ_FAILURE"),
    (("WARNING:",), "WARNING"),
    (("BUG:",), ""),
    (("INFO:",), ""),
    (("KASAN:",), "KASAN-UNKNOWN"),
    (("KFENCE:",), "KFENCE-UNKNOWN"),
    (("KMSAN:",), "KMSAN-UNKNOWN"),
    (("UBSAN:",), "UBSAN"),
    (("KCSAN:",), "KCSAN-UNKNOWN"),
)
UNKNOWN = ""


def crash_type(title: str) -> str:
    """syzkaller's crash type of `title`; the empty string when none applies."""
    for prefixes, kind in TITLE_TO_TYPE:
        if title.startswith(prefixes):
            return kind
    return UNKNOWN
