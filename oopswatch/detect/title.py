"""Titles: a report's text and its header group become a stable one-line title.

The title is the de-duplication key downstream, so it names the bug (its kind and the
function to blame) and drops everything that changes from one occurrence to the next:
addresses, offsets, PIDs, CPU numbers, line numbers.

Where it comes from: syzkaller's pkg/report (Apache-2.0, see NOTICE): the walk over a
format's steps to the guilty frame (report.go's extractStackFrameImpl), the stall and
hung-task pickers and their anchor tables (linux.go's linuxStallFrameExtractor,
linuxStallAnchorFrames, linuxHangTaskFrameExtractor), alternative titles from the frames
as printed (partiallyStrippedArgs), the corruption checks (isCorrupted) and the title
replacements. Demangled names (demangle.py) are oopswatch's addition, as syzkaller's
demangling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

from oopswatch.detect.demangle import function_name
from oopswatch.detect.frames import parse_frame
from oopswatch.detect.kinds import STACK, HeaderGroup, StackRule, TitleFormat
from oopswatch.detect.patterns import (
    CALL_TRACE,
    COMMON_SKIPPED_FRAMES,
    CORRUPTING_LINES,
    FRAME_NAME_RES,
    HEADERLESS_FRAME_RE,
    RISCV_STACK_START,
    STACK_START_RE,
    STACK_START_RES,
    STRIPPED_FRAME_PREFIXES,
    compile_pattern,
)
from oopswatch.regex_cache import compile_regex

CORRUPTED_FRAME = "corrupted"
# A stack of bare addresses (a kernel without CONFIG_KALLSYMS, not yet decoded) names no
# function, yet it is not corrupted: the title leaves out its ` in <function>` part.
UNNAMED_FRAME = "\0unnamed"
# A kernel with CONFIG_KALLSYMS names its frames; a bare address there is garbage.
_NAMED_FRAME_RE = compile_regex(r"[A-Za-z0-9_.]+\+0x[0-9a-f]+/0x[0-9a-f]+")
MAX_TITLE_LENGTH = 120
_CALL_TRACE_RE = compile_pattern(CALL_TRACE, re.MULTILINE)
# The function a title names (syzkaller's reportFrameRe): `... in func`, `... in <Type as Trait>::func`.
_TITLE_FRAME_RE = compile_regex(r".* in ((?:<[a-zA-Z0-9_: ]+>)?[a-zA-Z0-9_:]+)")


class SkipPattern(Protocol):
    """A compiled pattern of `re` or of RE2 (google-re2): only `search` is used."""

    def search(self, text: str) -> object | None: ...


@dataclass
class Description:
    """What the title engine found in a report."""

    title: str
    kind: str | None
    corrupted_reason: str = ""
    frame: str | None = None  # the function the title blames
    alt_titles: list[str] = field(default_factory=list)
    format: TitleFormat | None = None

    @property
    def corrupted(self) -> bool:
        return bool(self.corrupted_reason)


@cache
def _skip_re(extra: tuple[str, ...]) -> SkipPattern:
    """The skipped frames as one pattern, searched in each frame's function name. RE2
    compiles the two hundred alternatives in a millisecond, where Python's `re` takes
    ten (a cost every short `oopswatch scan` paid); both agree on these plain patterns
    (no lookarounds or backreferences), and `re` remains for any that RE2 refuses."""
    import re2  # google-re2, as for the detector's batch search

    pattern = "|".join(COMMON_SKIPPED_FRAMES + extra)
    try:
        return re2.compile(pattern)
    except re2.error:
        return compile_regex(pattern)


def describe(lines: Sequence[str], group: HeaderGroup) -> Description:
    """Title, kind and corruption of a report whose messages are `lines`."""
    text = "".join(line + "\n" for line in lines)
    best: Description | None = None
    best_pos = len(text) + 1
    matched_a_format = False
    for fmt in group.formats:
        match = compile_pattern(fmt.match).search(text)
        if match is None or match.start() > best_pos:
            continue
        if match.start() == best_pos and best is not None:
            continue
        if match.start() < best_pos:
            best, best_pos = None, match.start()
        matched_a_format = True
        if fmt.report is not None:
            match = compile_pattern(fmt.report).search(text)
            if match is None:
                continue
        best = _apply_format(fmt, match, text)
    if best is None:
        header_line = next((line for line in lines if group.header in line), lines[0] if lines else "")
        reason = "matched a title format but not its report pattern" if matched_a_format else ""
        best = Description(title=header_line, kind=None, corrupted_reason=reason)
    elif not best.corrupted and best.format is not None and best.format.corrupted:
        best.corrupted_reason = "the report format is a corrupted one"
    best.title = normalize_title(best.title)
    best.alt_titles = sorted({normalize_title(alt) for alt in best.alt_titles} - {best.title})
    if best.frame is None and best.kind is not None:  # a title from the header alone names its function
        named = _TITLE_FRAME_RE.match(best.title)
        best.frame = named.group(1) if named is not None and named.group(1) != CORRUPTED_FRAME else None
    if not best.corrupted:
        best.corrupted_reason = corruption(best.title, text, best.format)
    return best


def _apply_format(fmt: TitleFormat, match: re.Match[str], text: str) -> Description:
    args = [function_name(group) if group else "" for group in match.groups()]
    reason = ""
    frames: list[tuple[str, str]] = []  # (name in the title, the frame as printed) per stack
    if fmt.stack is not None:
        rest = text[match.start():]
        frames, found = _guilty_frames(fmt.stack, rest, bare_allowed=_NAMED_FRAME_RE.search(rest) is None)
        if not found:
            reason = "no frames found in the stack trace"
    title = _format(fmt.title, args + [name for name, _ in frames])
    alt_titles = [_format(alt, args + [name for name, _ in frames]) for alt in fmt.alt]
    for values in _raw_frame_values(frames):  # the same titles with the frames as printed
        alt_titles.extend(_format(template, args + values) for template in (fmt.title, *fmt.alt))
    first = frames[0][0] if frames else None
    return Description(
        title=title,
        kind=fmt.kind,
        corrupted_reason=reason,
        frame=first if first not in (None, CORRUPTED_FRAME, UNNAMED_FRAME) else None,
        alt_titles=alt_titles,
        format=fmt,
    )


def _raw_frame_values(frames: list[tuple[str, str]]) -> list[list[str]]:
    """Frame lists for alternative titles, as syzkaller makes them: the raw frames, then
    each syscall wrapper prefix stripped from them where it is there."""
    values = [[raw for _, raw in frames]]
    for prefix in STRIPPED_FRAME_PREFIXES:
        stripped = [raw.removeprefix(prefix) for _, raw in frames]
        if stripped != values[0]:
            values.append(stripped)
    return values


def _format(template: str, values: list[str]) -> str:
    try:
        title = template.format(*values)
    except IndexError:
        title = template.format(*(values + [CORRUPTED_FRAME] * 8))
    return title.replace(" in " + UNNAMED_FRAME, "").replace(UNNAMED_FRAME, "ADDR")


def _guilty_frames(rule: StackRule, text: str, bare_allowed: bool) -> tuple[list[tuple[str, str]], bool]:
    frames, found = _walk_steps(rule.steps, rule, text, bare_allowed)
    for steps in rule.fallbacks:
        if found:
            break
        frames, found = _walk_steps(steps, rule, text, bare_allowed)
    if not found and rule.without_trace and _CALL_TRACE_RE.search(text) is None:
        named, named_found = _walk_steps(rule.without_trace, rule, text, bare_allowed)
        if named_found:
            return named, True
    return frames, found


def _walk_steps(steps: tuple[str, ...], rule: StackRule, text: str,
                bare_allowed: bool) -> tuple[list[tuple[str, str]], bool]:
    """Pass each step's pattern in order, collecting function names; at each stack,
    pick the guilty one. Returns one (name, frame as printed) per stack and whether all
    were found.
    `bare_allowed`: the kernel printed no names at all, so a stack of bare addresses
    is unnamed rather than corrupted."""
    cursor = _Cursor(text.split("\n"))
    skip = _skip_re(rule.skip)
    picker = PICKERS[rule.picker]
    collected: list[str] = []
    results: list[tuple[str, str]] = []
    found = True
    stacks_seen = 0
    bare_frames = False  # the current stack printed addresses without names
    step = 0
    while True:
        if step == len(steps) or (steps[step] == STACK and stacks_seen > 0):
            picked = picker(strip_frame_prefixes(collected))
            if picked is not None:
                results.append((picked[0], collected[picked[1]]))
            elif bare_frames and bare_allowed:
                results.append((UNNAMED_FRAME, UNNAMED_FRAME))
            else:
                results.append((CORRUPTED_FRAME, CORRUPTED_FRAME))
                found = False
            collected = []
            bare_frames = False
        if step == len(steps):
            return results, found and not cursor.corrupted
        if steps[step] == STACK:
            stacks_seen += 1
            following = compile_pattern(steps[step + 1]) if step + 1 < len(steps) and steps[step + 1] != STACK else None
            frame_lines = 0
            # A stall's stack may begin in the interrupt that found it (mips prints the
            # watchdog's hrtimer frames first): the stalled code starts where the trace
            # reaches the crash site the registers showed.
            site = collected[0] if rule.picker == "stall" and collected else None
            stack_from = len(collected)
            for line in cursor:
                if _is_stack_start(line):
                    if frame_lines or collected or bare_frames:
                        break
                    continue  # `Call Trace:` right after riscv's status line: the same stack
                match = following.search(line) if following is not None else None
                if match is not None:  # the next step's line ends this stack
                    _collect(collected, match, skip)
                    step += 1
                    break
                match = next(filter(None, (frame_re.search(line) for frame_re in FRAME_NAME_RES)), None)
                if match is not None:
                    frame_lines += 1
                    if site is not None and len(collected) > stack_from and site in match.groups():
                        del collected[stack_from:]
                        site = None
                    _collect(collected, match, skip)
                elif _is_bare_frame(line):
                    frame_lines += 1
                    bare_frames = True
        else:
            pattern = compile_pattern(steps[step])
            for line in cursor:
                match = pattern.search(line)
                if match is not None:
                    _collect(collected, match, skip)
                    bare_frames = bare_frames or (not any(match.groups()) and _is_bare_frame(line))
                    break
        step += 1


class _Cursor:
    """The report's lines, read once across the steps; a line that means another report
    got mixed in ends the current step and marks the result corrupted."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        self.position = 0
        self.corrupted = False

    def __iter__(self):
        while self.position < len(self.lines):
            line = self.lines[self.position]
            self.position += 1
            if _is_corrupting(line):
                self.corrupted = True
                return
            yield line


def _collect(collected: list[str], match: re.Match[str], skip: SkipPattern) -> None:
    for name in match.groups():
        if name is not None:
            name = function_name(name)
            if skip.search(name) is None:
                collected.append(name)


def _is_corrupting(line: str) -> bool:
    return any(pattern.search(line) for pattern in CORRUPTING_LINES)


def _is_stack_start(line: str) -> bool:
    return STACK_START_RE.search(line) is not None


def _is_bare_frame(line: str) -> bool:
    """A frame line with an address and no name: the kernel has no CONFIG_KALLSYMS."""
    frame = parse_frame(line.strip()) if ("0x" in line or "[<" in line) else None
    return frame is not None and frame.function is None


def strip_frame_prefixes(frames: list[str]) -> list[str]:
    """Syscall entry points lose their per-architecture wrapper prefix."""
    stripped = []
    for frame in frames:
        shortest = frame
        for prefix in STRIPPED_FRAME_PREFIXES:
            if frame.startswith(prefix) and len(frame) - len(prefix) < len(shortest):
                shortest = frame[len(prefix):]
        stripped.append(shortest)
    return stripped


# -- Guilty frame pickers -------------------------------------------------------------

# Where work enters the kernel. A stall or lockup loops somewhere above one of these;
# the frame just above the entry point identifies the looping code path better than
# the random frame the stall detector interrupted. (Compiled when a stall is titled.)
_ENTRY_POINT_FRAMES = "|".join((
    # work dispatchers
    "process_one_work", "do_softirq", "call_timer_fn", "_run_timers", "run_timer_softirq", "hrtimer_run",
    "run_ksoftirqd", "smpboot_thread_fn", "^kthread$", "start_secondary", "cpu_startup_entry",
    "ret_from_fork", "tasklet_action", "tasklet_hi_action", "smp_call_function",
    # system call entry
    "do_syscall_", "do_fast_syscall_", "sysenter_dispatch", "tracesys_phase2", "el0_svc_handler",
    "invoke_syscall", "ret_fast_syscall", "netif_receive_skb",
    # file operations that are too generic to blame
    "vfs_write", "vfs_read", "vfs_iter_read", "vfs_iter_write", "do_iter_read", "do_iter_write",
    "call_read_iter", "call_write_iter", "new_sync_read", "new_sync_write", "vfs_ioctl", "ksys_ioctl",
    "compat_ioctl", "compat_sys_ioctl", "blkdev_driver_ioctl", "blkdev_ioctl", "do_iter_readv_writev",
    "^call_mmap", "mmap_region", "do_mmap", "do_dentry_open", "vfs_open",
    # socket operations
    "^sock_sendmsg", "^sock_recvmsg", "^sock_release", "^__sock_release", "^setsockopt$",
    "kernel_setsockopt", "sock_common_setsockopt", "^listen$", "kernel_listen", "sk_common_release",
    "^sock_mmap", "^accept$", "kernel_accept", "^sock_do_ioctl", "^sock_ioctl", "^compat_sock_ioctl",
    "^nfnetlink_rcv_msg", "^rtnetlink_rcv_msg", "^netlink_dump", "^(sys_)?(socketpair|connect|ioctl)",
    # page faults and returning to user space
    "__do_fault", "do_page_fault", "^page_fault$", "__fput", "task_work_run", "exit_to_usermode",
))


@cache
def _entry_point_frames() -> re.Pattern[str]:
    return compile_regex(_ENTRY_POINT_FRAMES)


def _pick_first(frames: list[str]) -> tuple[str, int] | None:
    return (frames[0], 0) if frames else None


def _pick_stall(frames: list[str]) -> tuple[str, int] | None:
    previous = 0
    for index, frame in enumerate(frames):
        if _entry_point_frames().search(frame):
            if "smp_call_function" in frame:
                return "smp_call_function", index
            return frames[previous], previous
        previous = index
    return None


# Hung tasks are victims; hangs in RCU grace periods or rtnl are grouped together.
_HANG_BUCKETS = {"rtnl_lock": "", "synchronize_rcu": "synchronize_rcu", "synchronize_srcu": "synchronize_rcu",
                 "synchronize_net": "synchronize_rcu", "synchronize_sched": "synchronize_rcu"}
_HANG_WAITING_FRAMES = ("sched", "_lock", "_slowlock", "down", "rwsem", "completion", "kthread", "wait",
                        "synchronize", "context_switch", "__switch_to", "cancel_delayed_work", "rcu_barrier")


def _pick_hung_task(frames: list[str]) -> tuple[str, int] | None:
    for index, frame in enumerate(frames):
        for anchor, bucket in _HANG_BUCKETS.items():
            if anchor in frame:
                return bucket or frame, index
    for index, frame in enumerate(frames):
        if not any(waiting in frame for waiting in _HANG_WAITING_FRAMES):
            return frame, index
    return None


PICKERS: dict[str, Callable[[list[str]], tuple[str, int] | None]] = {
    "first": _pick_first,
    "stall": _pick_stall,
    "hung-task": _pick_hung_task,
}


# -- Corruption -----------------------------------------------------------------------

_TIMESTAMP_IN_TITLE = compile_regex(r"\[ *[0-9]+\.[0-9]+\]")


def corruption(title: str, text: str, fmt: TitleFormat | None) -> str:
    """Why a report looks truncated or garbled, or the empty string."""
    if _TIMESTAMP_IN_TITLE.search(title):
        return "the title has a timestamp in it (interleaved output)"
    if fmt is None or fmt.no_stack:
        return ""
    has_stack = False
    bare_allowed = _NAMED_FRAME_RE.search(text) is None
    for start_re in STACK_START_RES:
        match = start_re.search(text)
        if match is None:
            continue
        following = text[match.start():].split("\n")
        if len(following) < 4:
            return "the call trace is cut off"
        frames_found = False
        for line in following[1:16]:
            if _is_stack_start(line):
                break
            if ("(stack is not available)" in line or any(r.search(line) for r in FRAME_NAME_RES)
                    or (bare_allowed and _is_bare_frame(line))):
                frames_found = has_stack = True
                break
        if start_re is not RISCV_STACK_START and not frames_found:
            return "a stack trace without frames"
    if not has_stack and HEADERLESS_FRAME_RE.search(text) is None:
        return "no stack trace in the report"
    return ""


# -- Normalization --------------------------------------------------------------------

# Applied in order, each until it changes nothing more.
_TITLE_REPLACEMENTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (compile_regex(pattern), replacement) for pattern, replacement in (
        (r"syz-executor\.?[0-9]+((/|:)[0-9]+)?", "syz-executor"),  # fuzzer process names
        (r"syzkaller[0-9]+((/|:)[0-9]+)?", "syzkaller"),
        (r"([^a-zA-Z0-9])(?:0x)?[0-9a-f]{6,}", r"\1ADDR"),  # anything that looks like an address
        (r"([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})", "IP"),
        (r"(\.\w+)(:[0-9]+)+", r"\1:LINE"),  # file.c:123
        (r"([a-zA-Z][a-zA-Z0-9_.]+)\+0x[0-9a-z]+/0x[0-9a-z]+", r"\1"),  # func+0x1/0x2
        (r"CPU#[0-9]+", "CPU"),
        (r"(\W)(\d+)(\W|$)", r"\1NUM\3"),  # remaining decimal numbers
        (r"(\d+){7,}", "NUM"),
    )
)


def normalize_title(title: str) -> str:
    """Replace varying parts with placeholders; keep printable ASCII; one line, short."""
    for pattern, replacement in _TITLE_REPLACEMENTS:
        while True:
            replaced = pattern.sub(replacement, title)
            if replaced == title:
                break
            title = replaced
    out = []
    previous = " "
    for char in title[:MAX_TITLE_LENGTH]:
        if char == "\t":
            char = " "
        elif char < " " or char >= "\x7f":
            continue
        if char == " " and previous == " ":
            continue
        out.append(char)
        previous = char
    return "".join(out).strip()
