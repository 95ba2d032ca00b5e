"""Test kernels whose init gives a shell on the console when the command line says
`oopswatch.shell=1`, for the tests that run commands over the console.

A test kernel whose qemu.json says `"shell": true` (its own init has the shell mode) is
used as it is. Otherwise its initramfs is taken as built (busybox-static of the kernel's
architecture, the test module) and only its /init is replaced by SHELL_INIT; the kernel
directory is then a copy of links to the build's files with its own qemu.json.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path

from tests.kernels import kernel_dir

PROMPT = "oopswatch-shell# "

SHELL_INIT = b"""#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev /tmp
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
if grep -q 'oopswatch.shell=1' /proc/cmdline; then
    echo "oopswatch-init: shell started on the console (prompt '""" + PROMPT.encode() + b"""')"
    export PS1='""" + PROMPT.encode() + b"""'
    setsid cttyhack sh -i
    echo "oopswatch-init: shell exited with status $?"
fi
sleep 1
reboot -f
"""

_HEADER = 110  # a newc header: magic and 13 eight-digit hex fields
_FILE_SIZE = slice(54, 62)
_NAME_SIZE = slice(94, 102)


def _pad(length: int) -> int:
    return (4 - length % 4) % 4


def replace_file(archive: bytes, name: str, data: bytes) -> bytes:
    """A newc cpio archive (what the kernel unpacks) with the content of `name` replaced."""
    out = bytearray()
    position = 0
    while True:
        header = archive[position:position + _HEADER]
        assert header[:6] == b"070701", f"not a newc cpio archive at byte {position}"
        name_size = int(header[_NAME_SIZE], 16)
        file_size = int(header[_FILE_SIZE], 16)
        name_end = position + _HEADER + name_size
        entry_name = archive[position + _HEADER:name_end - 1].decode()
        data_start = name_end + _pad(_HEADER + name_size)
        data_end = data_start + file_size
        if entry_name == name:
            header = header[:_FILE_SIZE.start] + b"%08X" % len(data) + header[_FILE_SIZE.stop:]
            content = data
        else:
            content = archive[data_start:data_end]
        out += header + archive[position + _HEADER:data_start] + content + b"\0" * _pad(len(content))
        position = data_end + _pad(file_size)
        if entry_name == "TRAILER!!!":
            return bytes(out)


@functools.cache
def shell_kernel_dir(arch: str, workdir: str = "/tmp/oopswatch-tests/shell-kernels") -> Path:
    """A test kernel (kallsyms) whose init gives a shell with `oopswatch.shell=1`."""
    source = kernel_dir(arch, "kallsyms")
    manifest = json.loads((source / "qemu.json").read_text())
    if manifest.get("shell") is True:
        return source
    target = Path(workdir) / f"{arch}-kallsyms-shell"
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.name in ("qemu.json", manifest["initrd"]):
            continue
        link = target / entry.name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(entry)
    archive = gzip.decompress((source / manifest["initrd"]).read_bytes())
    initrd = target / "initramfs-shell.cpio.gz"
    temporary = initrd.with_suffix(".tmp")
    temporary.write_bytes(gzip.compress(replace_file(archive, "init", SHELL_INIT), compresslevel=1))
    os.replace(temporary, initrd)
    (target / "qemu.json").write_text(json.dumps({**manifest, "initrd": initrd.name}, indent=2))
    return target
