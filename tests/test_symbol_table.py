"""What a System.map can honestly name: code only (by the kernel's text markers, else by
the type letters), data as data, addresses printed inside messages; the fast parser of
the common map against the line-by-line one. Small maps written by the tests, laid out
as real arm64 and riscv maps are (arm64's `_etext` is a data symbol, its page tables
text symbols in read-only data)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oopswatch.console import split_lines
from oopswatch.decode import decode
from oopswatch.detect import Detector, Report
from oopswatch.symbols.kernel import DATA_ADDRESS, KernelSymbols
from oopswatch.symbols.system_map import _parse_plain, parse_system_map
from oopswatch.symbols.table import Placement, Resolved

# The layout of the arm64 test kernel's map (addresses shortened, names kept).
ARM64_MAP = """\
0000000000000000 A _kernel_flags_le_hi32
ffffffc008000000 T _text
ffffffc008010000 T _stext
ffffffc008010000 t gic_handle_irq
ffffffc008192640 t lkdtm_EXCEPTION
ffffffc008192680 t lkdtm_BUG
ffffffc0081ec4a0 t last_function
ffffffc0081ec4b0 t _GLOBAL_OFFSET_TABLE_
ffffffc0081ec4b0 T __idmap_text_end
ffffffc0081f0000 D __start_rodata
ffffffc0081f0000 D _etext
ffffffc0081f0018 d __func__.2
ffffffc008264000 T idmap_pg_dir
ffffffc008265000 T swapper_pg_dir
ffffffc008270000 T __init_begin
ffffffc008270000 T _sinittext
ffffffc008270010 t init_function
ffffffc00828cc18 T __exittext_begin
ffffffc00828cc18 T _einittext
ffffffc00828cc18 t exit_script_binfmt
ffffffc00828cc34 t exit_elf_binfmt
ffffffc00828cef4 T __exittext_end
ffffffc0082b0000 D _sdata
ffffffc00838a4e8 b data_area
ffffffc00838a528 b other_data
ffffffc008390000 B _end
"""


@pytest.fixture
def arm64():
    return parse_system_map(ARM64_MAP.encode(), "arm64.map")


def test_code_is_named_within_the_kernels_text(arm64):
    assert str(arm64.lookup(0xffffffc008192650)) == "lkdtm_EXCEPTION+0x10/0x40"
    assert str(arm64.lookup(0xffffffc0081ec4a8)) == "last_function+0x8/0x10"
    assert str(arm64.lookup(0xffffffc008270020)) == "init_function+0x10/0x1cc08"
    assert str(arm64.lookup(0xffffffc00828cc20)) == "exit_script_binfmt+0x8/0x1c"  # exit text, past _einittext
    assert str(arm64.lookup(0xffffffc00828cc40)) == "exit_elf_binfmt+0xc/0x2c0"  # sized to __exittext_end


@pytest.mark.parametrize(("address", "placement"), [
    # Read-only data past the text's end: arm64's _etext is a D symbol, so the text
    # symbol before it used to stretch over all of rodata.
    (0xffffffc0081f1000, Placement("data", Resolved("__func__.2", 0xfe8, 0x73fe8, 0xffffffc0081f0018))),
    (0xffffffc0081f0008, Placement("data")),  # at _etext: a section's start, no object
    (0xffffffc008264010, Placement("data", Resolved("idmap_pg_dir", 0x10, 0x1000, 0xffffffc008264000))),  # a T in data
    (0xffffffc00828cf00, Placement("data")),  # past __exittext_end
    (0xffffffc00838a4e8, Placement("data", Resolved("data_area", 0, 0x40, 0xffffffc00838a4e8))),
    (0xffffffc008390010, Placement("outside")),  # past _end
    (0xffffffc010000000, Placement("outside")),  # modules, vmalloc
])
def test_an_address_outside_the_text_is_never_a_function(arm64, address, placement):
    assert arm64.lookup(address) is None
    assert arm64.place(address) == placement


def test_without_text_markers_the_type_letters_decide():
    table = parse_system_map(b"c0008000 t first\nc0008100 t second\nc0008180 d table\nc0008200 t third\n"
                             b"c0008300 t fourth\n", "partial.map")
    assert str(table.lookup(0xc0008104)) == "second+0x4/0x100"
    assert table.place(0xc0008190) == Placement("data", Resolved("table", 0x10, 0x80, 0xc0008180))
    assert table.lookup(0xc0008400) is None  # after the last symbol: its size is unknown


OOPS = """\
[    1.000000] Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: 0xffffffc008192670
[    1.000001] CPU: 0 PID: 25 Comm: sh Not tainted 6.1.192 #1
[    1.000002] Hardware name: linux,dummy-virt (DT)
[    1.000003] Call trace:
[    1.000004]  0xffffffc00838a4e8
[    1.000005]  0xffffffc0081926a0
[    1.000006] Kernel Offset: disabled
[    1.000007] ---[ end Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: \
0xffffffc008192670 ]---
"""


def _report(text: str) -> Report:
    detector = Detector()
    events = [event for line in split_lines([text.encode()]) for event in detector.feed(line)] + detector.finish()
    return next(event for event in events if isinstance(event, Report))


def test_addresses_in_messages_are_decoded_and_name_the_title(arm64):
    decoded = decode(_report(OOPS), "console", KernelSymbols(arm64, name="arm64"))
    assert decoded.title == "kernel panic: stack is corrupted in lkdtm_EXCEPTION"
    message = next(frame for frame in decoded.frames if frame.role == "message")
    assert (message.function, message.offset, message.size, message.log_line) == ("lkdtm_EXCEPTION", 0x30, 0x40, 1)
    assert decoded.text[0] == ("Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "
                               "0xffffffc008192670 (guessed: lkdtm_EXCEPTION+0x30/0x40)")
    # A frame in data: an address, marked as data, beside the data object it points into.
    data = next(frame for frame in decoded.frames if frame.address == 0xffffffc00838a4e8)
    assert (data.function, data.module, data.decoded) == (None, DATA_ADDRESS, False)
    assert " 0xffffffc00838a4e8 (data: data_area+0x0/0x40)" in decoded.text
    assert "0xffffffc00838a4e8 is in the kernel's data (data_area+0x0/0x40), not its text: not named as a " \
           "function" in decoded.notes
    assert " 0xffffffc0081926a0 (guessed: lkdtm_BUG+0x20/0x59e20)" in decoded.text
    assert not any(frame.role == "message" and frame.address == 0xffffffc008000000 for frame in decoded.frames)


def _map_lines(draw_addresses: list[int], width: int) -> list[str]:
    letters = "TtWwDdBbRrAaVvUN"
    rng = random.Random(len(draw_addresses))
    return [f"{address:0{width}x} {rng.choice(letters)} sym_{index}_{rng.randrange(1000)}"
            for index, address in enumerate(draw_addresses)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=1, max_size=60), st.sampled_from([8, 16]),
       st.booleans())
def test_the_fast_parser_reads_what_the_line_parser_reads(addresses, width, in_order):
    if in_order:
        addresses = sorted(addresses)
    data = ("\n".join(_map_lines(addresses, width)) + "\n").encode()
    fast = _parse_plain(data)
    assert fast is not None
    slow = parse_system_map(data + b"\n", "map")  # a blank line: the line-by-line parser
    assert list(fast.addresses) == list(slow.addresses) == sorted(addresses)
    assert sorted(zip(fast.addresses, fast.names, fast.types, strict=True)) == \
        sorted(zip(slow.addresses, slow.names, slow.types, strict=True))


@pytest.mark.parametrize("data", [
    b"ffffffff81000000 T\nstartup_64 ffffffff81000100 T next\n",  # a newline moved: three tokens, wrong lines
    b"ffffffff81000000 T a\nffffffff810001 T b\n",  # one address short
    b"ffffffff81000000 T a\nffffffff8100010g T b\n",  # not hex
    b"ffffffff81000000 T a \nffffffff81000100 T b\n",  # a trailing space
    b"ffffffff81000000 TT a\n",  # a type of two letters
    b"ffffffff81000000 T a\tb\n",  # a tab (module maps)
    b"ffffffff81000000 T a",  # no final newline
])
def test_the_fast_parser_leaves_anything_unusual_to_the_line_parser(data):
    assert _parse_plain(data) is None
