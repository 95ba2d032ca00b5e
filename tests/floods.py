"""Floods of oopses for the tests and benchmarks of a watcher that must not stop: the
real oops of the x86_64 test kernel (LKDTM EXCEPTION, CONFIG_KALLSYMS), again and
again, or with the crashing function renamed after other functions of the same
kernel, so that each is another problem with its own title; and, with no test kernel
at hand, the shipped example's oops (bare addresses) moved into other functions.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from tests.ptys import oops_block, ordinary_lines

FUNCTION = "lkdtm_EXCEPTION"
# The shipped example: a real oops with bare addresses, and the System.map that names them.
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "qemu-x86_64-nokallsyms-exception.log"
SYSTEM_MAP = EXAMPLE.with_name("qemu-x86_64-nokallsyms.System.map")
SYMBOLS = ("--system-map", str(SYSTEM_MAP), "--arch", "x86_64")
TITLE = "BUG: unable to handle kernel NULL pointer dereference in {function}"


def kernel_functions(system_map: Path, count: int) -> list[str]:
    """`count` distinct function names of a kernel, from its System.map, in a fixed order."""
    names = []
    seen = set()
    for line in system_map.read_text().splitlines():
        parts = line.split()
        if (len(parts) == 3 and parts[1] in "Tt" and re.fullmatch(r"[a-z][a-z0-9_]{5,40}", parts[2])
                and parts[2] not in seen and parts[2] != FUNCTION):
            seen.add(parts[2])
            names.append(parts[2])
    names.sort()
    step = max(1, len(names) // count)
    chosen = names[::step][:count]
    assert len(chosen) == count, f"{system_map} has only {len(chosen)} usable function names"
    return chosen


class Flood:
    """Oopses to write into a console, each one a block of ordinary lines and an oops."""

    def __init__(self, console_log: bytes):
        self.head = console_log[:console_log.index(b"\n") + 1]  # the boot banner
        assert b"Linux version" in self.head
        self.block = ordinary_lines(console_log, 5) + oops_block(console_log)

    def oops(self, function: str = FUNCTION) -> bytes:
        return self.block.replace(FUNCTION.encode(), function.encode())

    @staticmethod
    def title(function: str = FUNCTION) -> str:
        return TITLE.format(function=function)


def oopses(count: int, start: int = 0) -> bytes:
    """`count` oopses of other functions: the shipped example's oops (bare addresses,
    decoded with its System.map) with the crash address moved into another function."""
    text = EXAMPLE.read_bytes()
    first = text.index(b"BUG: kernel NULL pointer")
    end = text.index(b"\n", text.index(b"---[ end trace", first)) + 1
    block = text[text.rfind(b"\n", 0, first) + 1:end]
    return b"".join(block.replace(b"0xffffffff81144c60", b"0x%x" % address)
                    for address in crash_addresses(start + count)[start:])


def crash_addresses(count: int) -> list[int]:
    """An address 0x10 into each of `count` functions of the example kernel, spread out."""
    functions = sorted({int(address, 16) for address, kind, name in
                        (line.split()[:3] for line in SYSTEM_MAP.read_text().splitlines() if len(line.split()) == 3)
                        if kind in "Tt" and name.isidentifier()})
    step = len(functions) // (count + 1)
    return [functions[step * (n + 1)] + 0x10 for n in range(count)]


def counted_reports(board_dir: Path) -> Counter[str]:
    """Every report a watcher accounted for under a board's folder, by title: each report
    directory with its repeats, and the reports counted over the budget."""
    counts: Counter[str] = Counter()
    for path in board_dir.glob("*/report-*/report.json"):
        report = json.loads(path.read_text())
        counts[report["title"]] += 1 + report.get("repeats", 0)
    for path in board_dir.glob("*/reports-over-budget.json"):
        for title, entry in json.loads(path.read_text())["titles"].items():
            counts[title] += entry[0]
    return counts


_PEAK_RSS = ("import resource, subprocess, sys\n"
             "with open(sys.argv[1], 'wb') as out:\n"
             "    code = subprocess.run(sys.argv[2:], stdout=out, stderr=subprocess.DEVNULL).returncode\n"
             "print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")


def scan_json(log: Path, output: Path, *args: str) -> tuple[int, list[dict], int]:
    """`oopswatch scan --json` of a log: exit code, the reports, and the command's peak
    resident memory in kB (measured by a parent of its own, from getrusage)."""
    import subprocess
    import sys

    argv = [sys.executable, "-c", _PEAK_RSS, str(output), sys.executable, "-m", "oopswatch", "scan", "--json",
            *args, str(log)]
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True)
    code, peak = map(int, completed.stdout.split())
    with output.open() as lines:
        reports = [json.loads(line) for line in lines]
    return code, reports, peak


def disk_use(path: Path) -> int:
    """Bytes the files under `path` take on disk (allocated blocks)."""
    return sum(entry.stat().st_blocks * 512 for entry in path.rglob("*") if entry.is_file())


def lost_at_a_kill(written: bytes, logged: bytes) -> int:
    """Bytes of `written` missing from `logged` (a console log, its notes removed), which
    must be `written` with at most a few holes: a reader killed with `kill -9` takes
    what the tty held for it (up to a few KiB) with it, as a tty discards unread input
    when its last reader closes. AssertionError when `logged` is anything else."""
    missing = 0
    position = 0
    rest = logged
    while rest:
        same = _common_prefix(rest, written[position:position + len(rest)])
        rest, position = rest[same:], position + same
        if not rest:
            break
        found = written.find(rest[:256], position)
        assert found > position, f"console.log has bytes never written, at byte {len(logged) - len(rest)}"
        missing += found - position
        position = found
    return missing + len(written) - position


def _common_prefix(a: bytes, b: bytes) -> int:
    length = min(len(a), len(b))
    same = 0
    while same < length and a[same:same + 4096] == b[same:same + 4096]:
        same += 4096
    while same < length and a[same] == b[same]:
        same += 1
    return min(same, length)
