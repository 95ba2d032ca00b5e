"""The console layer: bytes in any chunking become the same clean lines."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oopswatch.console import MAX_LINE_BYTES, Line, LineSplitter, split_lines


def texts(data: bytes, chunks: list[bytes] | None = None) -> list[tuple[int, str, bool]]:
    return [(line.number, line.text, line.truncated) for line in split_lines(chunks or [data])]


def test_crlf_and_lone_cr():
    assert texts(b"one\r\ntwo\r\n") == [(1, "one", False), (2, "two", False)]
    # A lone CR (a terminal overwrite) separates lines that share the file's line number.
    assert texts(b"progress 10%\rprogress 20%\r[    1.000000] BUG: x\n") == [
        (1, "progress 10%", False), (1, "progress 20%", False), (1, "[    1.000000] BUG: x", False)]


def test_ansi_nul_and_invalid_utf8_are_cleaned():
    data = b"\x1b[1;31mred\x1b[0m text\x00 \xff\xfe end\x1b]0;title\x07\n"
    [(_, text, _)] = texts(data)
    assert text == "red text \ufffd\ufffd end"


def test_utf8_character_split_across_chunks():
    data = "caf\u00e9 \u2603\n".encode()
    for cut in range(len(data)):
        assert texts(data, [data[:cut], data[cut:]]) == [(1, "caf\u00e9 \u2603", False)]


def test_printk_prefix_fields():
    [line] = list(split_lines([b"<4>[   12.345678][ T1234] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2\n"]))
    assert line.level == 4
    assert line.kernel_time == 12.345678
    assert line.caller == "T1234"
    assert line.context == "T1234"
    assert line.message == "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"
    [cpu] = list(split_lines([b"[  100.000001][    C0] rcu: INFO: rcu_preempt self-detected stall on CPU\n"]))
    assert cpu.caller == "C0"
    assert cpu.message.startswith("rcu: INFO")
    [plain] = list(split_lines([b" dump_stack+0x1/0x2\n"]))
    assert plain.kernel_time is None and plain.context == "" and plain.message == " dump_stack+0x1/0x2"
    [stamped] = list(split_lines([b"[    1.500000]  dump_stack+0x1/0x2\n"]))
    assert stamped.context == "console" and stamped.message == " dump_stack+0x1/0x2"
    [login] = list(split_lines([b"syzkaller login: [   73.001000] BUG: bad\n"]))
    assert login.message == "BUG: bad"


@pytest.mark.parametrize(("text", "kernel_time"), [
    ("Nov 24 10:00:00 rpi4-01 kernel: [   12.345678] RIP: 0010:lkdtm_EXCEPTION+0x4/0x10", 12.345678),
    ("Nov 24 10:00:00 rpi4-01 kernel: RIP: 0010:lkdtm_EXCEPTION+0x4/0x10", None),  # syslog
    ("Nov  4 10:00:00.123456 rpi4-01 kernel: RIP: 0010:lkdtm_EXCEPTION+0x4/0x10", None),  # short-precise
    ("2026-11-24T10:00:00+0000 lab-host.example kernel: RIP: 0010:lkdtm_EXCEPTION+0x4/0x10", None),  # short-iso
    ("[   12.345678] rpi4-01 kernel: RIP: 0010:lkdtm_EXCEPTION+0x4/0x10", 12.345678),  # short-monotonic
    ("[Tue Nov 24 10:00:00 2026] RIP: 0010:lkdtm_EXCEPTION+0x4/0x10", None),  # dmesg -T
])
def test_saved_log_file_prefixes_are_not_part_of_the_message(text, kernel_time):
    """kern.log, journalctl -k and dmesg -T output scan like the console itself."""
    line = Line(1, text)
    assert line.message == "RIP: 0010:lkdtm_EXCEPTION+0x4/0x10"
    assert line.kernel_time == kernel_time


def test_a_console_message_that_merely_mentions_the_kernel_keeps_its_text():
    assert Line(1, "[    1.000000] Booting the kernel: now").message == "Booting the kernel: now"


def test_host_time_is_the_time_the_line_completed():
    splitter = LineSplitter()
    assert splitter.feed(b"par", 1.0) == []
    [line] = splitter.feed(b"tial\n", 2.5)
    assert (line.text, line.host_time) == ("partial", 2.5)


def test_long_line_is_cut_into_marked_pieces():
    data = b"x" * (2 * MAX_LINE_BYTES + 10) + b"\nnext\n"
    lines = list(split_lines([data]))
    assert [len(line.text) for line in lines[:3]] == [MAX_LINE_BYTES, MAX_LINE_BYTES, 10]
    assert all(line.truncated for line in lines[:3])
    assert (lines[3].number, lines[3].text, lines[3].truncated) == (2, "next", False)


def test_line_without_newline_holds_bounded_memory():
    splitter = LineSplitter()
    emitted = 0
    for _ in range(200):
        emitted += len(splitter.feed(b"y" * 5000))
        assert len(splitter._partial) <= MAX_LINE_BYTES
    assert emitted == 200 * 5000 // MAX_LINE_BYTES
    assert splitter.flush()  # the rest still comes out at the end


def test_flush_emits_final_partial_line():
    assert texts(b"last words") == [(1, "last words", False)]


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    chunks, previous = [], 0
    for point in points:
        chunks.append(data[previous:point])
        previous = point
    chunks.append(data[previous:])
    return chunks


_CONSOLE_BYTES = st.lists(
    st.sampled_from([b"\n", b"\r", b"\r\n", b"\x1b[0m", b"\x1b[", b"\x00", b"\xc3", b"\xa9", b"\xff",
                     b"[   12.345678] ", b"[ T12]", b"BUG: ", b"x" * 7000, b"abc", b" ", b"\t"]),
    max_size=40,
).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(st.binary(max_size=3000), _CONSOLE_BYTES), cuts=st.lists(st.integers(0, 40000), max_size=12))
def test_any_chunking_gives_the_same_lines(data: bytes, cuts: list[int]):
    assert texts(data, _split(data, cuts)) == texts(data)


@pytest.mark.parametrize(("text", "owner", "program", "message"), [
    ("[   12.345678] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", "kernel", None,
     "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"),
    ("Mar  2 10:12:01 host kernel: WARNING: CPU: 0 PID: 1", "kernel", None, "WARNING: CPU: 0 PID: 1"),
    ("Mar  2 10:12:01 host vpnd[812]: WARNING: certificate expires soon", "program", "vpnd",
     "WARNING: certificate expires soon"),
    ("2026-03-02T10:12:01.123456+01:00 lab-07 session[1022]: WARNING: no seat", "program", "session",
     "WARNING: no seat"),
    ("Mar 02 10:12:01.123456 host systemd-logind[456]: New session 3", "program", "systemd-logind",
     "New session 3"),
    # A program's line through /dev/kmsg, or journalctl -o short-monotonic: the kernel printed the tag too.
    ("[    2.100000] systemd[1]: Started Journal Service.", "program", "systemd",
     "systemd[1]: Started Journal Service."),
    ("[   12.345678] host vpnd[812]: WARNING: x", "program", "vpnd", "host vpnd[812]: WARNING: x"),
    ("[    1.000000] usb 1-1: new high-speed USB device", "kernel", None, "usb 1-1: new high-speed USB device"),
    ("<4>WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2", "kernel", None, "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2"),
    ("main-loop: WARNING: I/O thread spun for 1000 iterations", "unknown", None,
     "main-loop: WARNING: I/O thread spun for 1000 iterations"),
])
def test_whose_line_it_is(text, owner, program, message):
    line = Line(1, text)
    assert (line.owner, line.program, line.message) == (owner, program, message)
