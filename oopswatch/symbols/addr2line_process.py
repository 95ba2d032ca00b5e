"""Starting addr2line: which tool reads a binary, its command line and question
format, and processes started ahead of need.

Kept apart from addr2line.py and light to import (no dataclasses, no ELF parser): a
short `oopswatch scan` starts addr2line from here before the rest of oopswatch is
imported (see head_start.py), and the Addr2Line that needs it later takes it over.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import threading
from collections.abc import Sequence

from oopswatch.errors import InputError
from oopswatch.symbols.elf_header import read_elf_header

# Sent after each batch of addresses: its answer (`0x0000000000000000`, `??`, `??:0`)
# marks the batch's end, since `-i` makes the number of answer lines per address vary.
SENTINEL = 0


def addr2line_binary(prefix: str = "") -> str:
    """The addr2line for a binary's machine: the cross tool if there is one."""
    for candidate in dict.fromkeys((f"{prefix}addr2line", "addr2line", "llvm-addr2line")):
        if _on_path(candidate):
            return candidate
    raise InputError(f"{prefix}addr2line is not installed (Debian: binutils"
                     f"{'-' + prefix.rstrip('-') if prefix else ''})")


def _on_path(name: str) -> bool:
    """shutil.which's answer, without importing shutil (and its archivers) into a short command."""
    return any(os.path.isfile(candidate := os.path.join(directory, name)) and os.access(candidate, os.X_OK)
               for directory in os.get_exec_path())


def spawn_addr2line(tool: str, binary: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([tool, "-a", "-f", "-i", "-e", binary],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """Kill an addr2line process, reap it and close its pipes."""
    process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def send_addresses(process: subprocess.Popen[bytes], addresses: Sequence[int]) -> None:
    """One batch of questions, then the sentinel."""
    assert process.stdin is not None
    pending = memoryview(("".join(f"{address:#x}\n" for address in addresses) + f"{SENTINEL:#x}\n").encode())
    try:
        while pending:
            pending = pending[process.stdin.write(pending) or 0:]
    except OSError:
        pass  # it died: reading its answer says so


# Processes started by `start_ahead`, each waiting for the Addr2Line that takes it over:
# absolute binary path ▶ (tool, process, the batches asked, in order, answers unread).
_STARTED_AHEAD: dict[str, tuple[str, subprocess.Popen[bytes], list[list[int]]]] = {}
_STARTED_AHEAD_LOCK = threading.Lock()


def start_ahead(vmlinux: str) -> bool:
    """Start addr2line on `vmlinux` now and ask it about the first address of its code,
    so that it reads the debug info (the bulk of its work: tens of megabytes for a
    vmlinux) while this process goes on importing and parsing; `ask_ahead` adds
    questions. The next Addr2Line for the same file and tool takes the process over,
    answers included; one nobody takes is stopped by `stop_started_ahead` or at exit.
    Only a head start: whatever fails is left to the full load, which says why. True
    when a process was started."""
    header = read_elf_header(vmlinux)
    if header is None or header.code_start is None:
        return False
    try:
        tool = addr2line_binary(header.tool_prefix)
    except InputError:
        return False
    binary = os.path.abspath(vmlinux)
    with _STARTED_AHEAD_LOCK:
        if binary in _STARTED_AHEAD:
            return True
        try:
            process = spawn_addr2line(tool, binary)
        except OSError:
            return False
        _STARTED_AHEAD[binary] = (tool, process, [[header.code_start]])
        send_addresses(process, [header.code_start])
    return True


def ask_ahead(vmlinux: str, addresses: Sequence[int]) -> None:
    """More questions for the process started ahead on `vmlinux`, if it is still waiting."""
    with _STARTED_AHEAD_LOCK:
        started = _STARTED_AHEAD.get(os.path.abspath(vmlinux))
        if started is not None and addresses:
            started[2].append(list(addresses))
            send_addresses(started[1], addresses)


def take_started_ahead(tool: str, binary: str) -> tuple[subprocess.Popen[bytes], list[list[int]]] | None:
    """The process started ahead on `binary` with `tool`, and the batches asked of it."""
    with _STARTED_AHEAD_LOCK:
        started = _STARTED_AHEAD.get(os.path.abspath(binary))
        if started is None or started[0] != tool:
            return None
        del _STARTED_AHEAD[os.path.abspath(binary)]
    if started[1].poll() is not None:  # it died: the caller starts another
        stop_process(started[1])
        return None
    return started[1], started[2]


def stop_started_ahead() -> None:
    """Stop the processes started ahead that no Addr2Line took over."""
    with _STARTED_AHEAD_LOCK:
        left = [process for _, process, _ in _STARTED_AHEAD.values()]
        _STARTED_AHEAD.clear()
    for process in left:
        stop_process(process)


atexit.register(stop_started_ahead)
