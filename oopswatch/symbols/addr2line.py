"""file:line through one long-lived `addr2line -a -f -i` process per binary.

Addresses go to the process in a batch; after the batch a sentinel address (0) is
sent, whose answer (`0x0000000000000000` then `??` `??:0`) marks the end of the
batch, since `-i` makes the number of answer lines per address vary.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

from oopswatch.errors import InputError

_SENTINEL = 0


@dataclass(frozen=True)
class SourceLocation:
    function: str
    file: str | None
    line: int | None


def addr2line_binary(prefix: str = "") -> str:
    """The addr2line for a binary's machine: the cross tool if there is one."""
    for candidate in dict.fromkeys((f"{prefix}addr2line", "addr2line", "llvm-addr2line")):
        if shutil.which(candidate):
            return candidate
    raise InputError(f"{prefix}addr2line is not installed (Debian: binutils"
                     f"{'-' + prefix.rstrip('-') if prefix else ''})")


def source_root(path: str) -> str | None:
    """The kernel source tree an absolute path lies in (the directory that holds
    Kbuild, Kconfig and arch/), when that tree is on this machine."""
    return _source_root_of(os.path.dirname(path))


@functools.cache
def _source_root_of(directory: str) -> str | None:
    """Each directory is looked at once, however many paths lie under it."""
    if directory in ("/", ""):
        return None
    if all(os.path.exists(os.path.join(directory, name)) for name in ("Kbuild", "Kconfig", "arch")):
        return directory + "/"
    return _source_root_of(os.path.dirname(directory))


class Addr2Line:
    """One addr2line process for one binary, kept for the life of the watcher."""

    def __init__(self, binary: str, tool: str = "addr2line", strip_prefix: str | None = None,
                 source_anchor: int | None = None):
        """`source_anchor`: the address of kernel_init, whose file (init/main.c) tells
        the source directory to strip from paths, as decode_stacktrace.sh finds it.
        It is asked at once, so addr2line loads the debug info while the caller goes on."""
        self.binary = binary
        self.tool = tool
        self.strip_prefix = strip_prefix
        self._process: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._anchor_pending = False
        if source_anchor is not None:
            process = self._ensure()
            assert process.stdin is not None
            process.stdin.write(f"{source_anchor:#x}\n{_SENTINEL:#x}\n")
            process.stdin.flush()
            self._anchor_pending = True

    def _ensure(self) -> subprocess.Popen[str]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [self.tool, "-a", "-f", "-i", "-e", self.binary],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                text=True, bufsize=1)
        return self._process

    def locate(self, addresses: list[int]) -> list[list[SourceLocation]]:
        """For each address, its location, innermost inlined function first."""
        if not addresses:
            return []
        with self._lock:
            process = self._ensure()
            assert process.stdin is not None
            process.stdin.write("".join(f"{address:#x}\n" for address in addresses) + f"{_SENTINEL:#x}\n")
            process.stdin.flush()
            if self._anchor_pending:
                [anchor] = self._read_answers(process, 1)
                self._anchor_pending = False
                file = anchor[1].rpartition(":")[0] if len(anchor) > 1 else ""
                if self.strip_prefix is None and file.endswith("/init/main.c"):
                    self.strip_prefix = file[: -len("init/main.c")]
            answers = self._read_answers(process, len(addresses))
        return [self._parse(lines) for lines in answers]

    def _read_answers(self, process: subprocess.Popen[str], count: int) -> list[list[str]]:
        """The raw answer lines for `count` addresses, then the sentinel's, consumed."""
        assert process.stdout is not None
        answers: list[list[str]] = []
        while True:
            line = process.stdout.readline()
            if not line:
                raise InputError(f"{self.tool} stopped while reading {self.binary}")
            line = line.rstrip("\n")
            if line.startswith("0x"):
                if len(answers) == count and int(line, 16) == _SENTINEL:
                    process.stdout.readline()  # the sentinel's own answer: two lines
                    process.stdout.readline()
                    return answers
                answers.append([])
            elif answers:
                answers[-1].append(line)

    def _parse(self, lines: list[str]) -> list[SourceLocation]:
        pairs = list(zip(lines[0::2], lines[1::2], strict=False))
        locations = []
        for function, place in pairs:
            file, _, line = place.rpartition(":")
            line = line.split(" ", 1)[0]  # "123 (discriminator 4)"
            if file == "??" or not file:
                file_name, number = None, None
            else:
                file_name = self._strip(file)
                number = int(line) if line.isdigit() and line != "0" else None
            locations.append(SourceLocation(function, file_name, number))
        return locations

    def _strip(self, path: str) -> str:
        """Paths relative to the kernel source tree, as decode_stacktrace.sh prints them."""
        if self.strip_prefix is None and path.startswith("/"):
            self.strip_prefix = source_root(path)
        if self.strip_prefix and path.startswith(self.strip_prefix):
            return path[len(self.strip_prefix):]
        return path

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None
