"""System.map reading and lookups, on small maps written by the tests."""

from __future__ import annotations

import pytest

from oopswatch.symbols.system_map import MapError, load_system_map
from oopswatch.symbols.table import Placement, Resolved

MAP = """\
0000000000000000 A __per_cpu_start
ffffffff81000000 T _text
ffffffff81000000 T startup_64
ffffffff81000100 t helper_static
ffffffff81000100 W helper_alias
ffffffff81000180 T do_work
ffffffff81000180 t __do_work_alias
ffffffff810001c0 D some_data
ffffffff81000200 T other_fn
ffffffff81000300 t helper_static
ffffffff81000380 T _etext
ffffffff82000000 B some_bss
ffffffff82000040 b local_bss
ffffffff82000080 R ro_data
ffffffff820000c0 r local_ro
ffffffff82000100 V weak_object
ffffffff82000140 v local_weak_object
ffffffff82000180 N debug_thing
ffffffff820001c0 U undefined_thing
ffffffff82000200 ? unknown_kind
ffffffff82000240 - stab_thing
"""


@pytest.fixture
def map_file(tmp_path, monkeypatch):
    monkeypatch.setenv("OOPSWATCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "System.map"
    path.write_text(MAP)
    return path


def test_lookup_gives_symbol_offset_and_size(map_file):
    table = load_system_map(map_file)
    assert str(table.lookup(0xffffffff81000184)) == "do_work+0x4/0x80"
    # Text symbols are preferred over aliases: not weak, fewer leading underscores.
    assert str(table.lookup(0xffffffff81000100)) == "helper_static+0x0/0x80"
    # The size runs to the next text symbol, as kallsyms computes it ...
    assert table.lookup(0xffffffff810001bf).size == 0x80
    # ... but where the map's type letters say data begins, the address is data, not code.
    assert table.lookup(0xffffffff810001c8) is None
    assert table.place(0xffffffff810001c8) == Placement("data", Resolved("some_data", 8, 0x40, 0xffffffff810001c0))


def test_addresses_outside_kernel_text_are_not_decoded(map_file):
    table = load_system_map(map_file)
    assert table.lookup(0xffffffffa0001234) is None  # a module address
    assert table.lookup(0xffffffff81000390) is None  # past _etext
    assert table.lookup(0x1000) is None


def test_reverse_lookup_prefers_text_and_picks_by_size(map_file):
    table = load_system_map(map_file)
    assert table.address_of("do_work") == 0xffffffff81000180
    assert table.addresses_of("helper_static") == [0xffffffff81000100, 0xffffffff81000300]
    assert table.resolve_name("helper_static", 0x10, size=0x80) == 0xffffffff81000110
    assert table.address_of("missing") is None


def test_every_type_letter_and_32_bit_maps(tmp_path, monkeypatch):
    monkeypatch.setenv("OOPSWATCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "arm.map"
    path.write_text("c0008000 T stext\nc0008100 t __do_fixup\nc0008200 T _etext\nc0100000 D data [mod]\n")
    table = load_system_map(path)
    assert str(table.lookup(0xc0008104)) == "__do_fixup+0x4/0x100"
    assert table.modules is not None


def test_cached_index_gives_the_same_answers(map_file):
    first = load_system_map(map_file)
    second = load_system_map(map_file)  # from the cache
    assert list(second.addresses) == list(first.addresses)
    assert second.names == first.names
    assert str(second.lookup(0xffffffff81000184)) == "do_work+0x4/0x80"


@pytest.mark.parametrize(("content", "message"), [
    ("", "holds no symbols"),
    ("ffffffff81000000 T ok\nthis is not a map line\nffffffff81000100 T ok2\n", "line 2: not a System.map line"),
    ("ffffffff81000000 T ok\nffffffff810001", "line 2: not a System.map line"),  # truncated
    ("\x7fELF\x02\x01\x01binary", "line 1: not a System.map line"),
])
def test_malformed_maps_are_errors_naming_file_and_line(tmp_path, monkeypatch, content, message):
    monkeypatch.setenv("OOPSWATCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "System.map"
    path.write_text(content)
    with pytest.raises(MapError) as raised:
        load_system_map(path)
    assert str(raised.value).startswith(str(path))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_debian_placeholder_map_says_where_the_real_one_is(tmp_path, monkeypatch):
    monkeypatch.setenv("OOPSWATCH_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "System.map-6.1.0-18-amd64"
    path.write_text("ffffffffffffffff B The real System.map is in the linux-image-6.1.0-18-amd64-dbg package\n")
    with pytest.raises(MapError) as raised:
        load_system_map(path)
    assert "linux-image-6.1.0-18-amd64-dbg package" in str(raised.value)
    assert "/usr/lib/debug/boot/System.map-6.1.0-18-amd64" in str(raised.value)


def test_missing_map(tmp_path):
    with pytest.raises(MapError, match=r"cannot read System\.map"):
        load_system_map(tmp_path / "nope")
