"""The header facts a head start reads with `struct` (symbols/elf_header.py) agree with
pyelftools' full reading of every test kernel: the cross binutils to run, and a first
code address that addr2line finds a function at (the kernel's image starts there)."""

from __future__ import annotations

import subprocess

import pytest

from oopswatch.symbols.addr2line_process import addr2line_binary
from oopswatch.symbols.elf import read_elf_info
from oopswatch.symbols.elf_header import read_elf_header
from tests.kernels import ARCHES, kernel_dir


@pytest.mark.qemu
@pytest.mark.parametrize("arch", ARCHES)
def test_header_facts_agree_with_the_full_reader(arch):
    directory = kernel_dir(arch, "kallsyms")
    header = read_elf_header(str(directory / "vmlinux"))
    info = read_elf_info(directory / "vmlinux")
    assert header is not None and header.tool_prefix == info.tool_prefix
    assert header.code_start is not None
    answer = subprocess.run([addr2line_binary(header.tool_prefix), "-f", "-e", str(directory / "vmlinux"),
                             hex(header.code_start)], capture_output=True, text=True, check=True).stdout.split()
    assert answer[0] in ("startup_64", "_text", "stext", "_start", "start_first_256B")


def test_what_is_not_an_elf_file_has_no_header(tmp_path):
    truncated = tmp_path / "truncated"
    truncated.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(20))
    text = tmp_path / "System.map"
    text.write_text("ffffffff81000000 T _text\n")
    for path in (truncated, text, tmp_path / "missing", tmp_path):
        assert read_elf_header(str(path)) is None
    host = read_elf_header("/bin/true")  # a host binary: machine and a code address
    assert host is not None and host.machine in ("EM_X86_64", "EM_AARCH64") and host.code_start is not None
