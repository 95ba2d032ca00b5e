"""Soak benchmark: one `oopswatch rack` watching 64 pseudo-terminal boards, each streaming
console text at 115200-baud pace, with an oops every minute on a quarter of them.

Reports the rack process's CPU use (percent of one core, from its utime+stime), its peak
memory, whether every byte written reached each board's console log, and every oops
accounted for (report directories and their repeats). Then `oopswatch scan` reads the
same bytes from a file, and the CPU each spends per megabyte of console text is compared
(scan's start-up, measured on an empty file, is subtracted; each the least of three runs). Goals: rack under 25% of
one core, and within 3x of scan per megabyte.

    python bench/rack_soak.py [--boards 64] [--minutes 10] [--profile SECONDS]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.kernels import boot  # noqa: E402
from tests.ptys import BAUD_115200, Pty, oops_block, ordinary_lines, wait_for, without_notes  # noqa: E402

CHUNK = 256


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def scan_cpu_seconds(path: Path) -> float:
    """CPU seconds (user + system) of `oopswatch scan --board qemu-x86_64 PATH`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "oopswatch", "scan", "--board", "qemu-x86_64", str(path)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def reports_counted(output: Path) -> int:
    """Report directories and their repeats (the same oops again in one boot)."""
    return sum(1 + json.loads(path.read_text()).get("repeats", 0)
               for path in output.glob("*/*/report-*/report.json"))


def stream(pty: Pty, seconds: float, filler: bytes, oops: bytes | None, written: list[bytes],
           stop: threading.Event, oopses: list[int]) -> None:
    """Console text at 115200 baud for `seconds`; an oops every minute when given one."""
    start = time.monotonic()
    sent = 0
    next_oops = start + 30.0
    pending = b""
    while not stop.is_set() and time.monotonic() - start < seconds:
        if not pending:
            if oops is not None and time.monotonic() >= next_oops:
                pending = oops
                next_oops += 60.0
                oopses.append(1)
            else:
                pending = filler
        piece, pending = pending[:CHUNK], pending[CHUNK:]
        pty.write(piece)
        written.append(piece)
        sent += len(piece)
        delay = start + sent / BAUD_115200 - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--boards", type=int, default=64)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--profile", type=float, metavar="SECONDS",
                        help="also record where the rack spends its time (py-spy, pip install py-spy; SECONDS in the "
                        "middle of the run)")
    args = parser.parse_args()
    log = boot("x86_64", "kallsyms", "EXCEPTION").console_log.read_bytes()
    filler, oops = ordinary_lines(log, 40), oops_block(log)
    with tempfile.TemporaryDirectory(prefix="oopswatch-soak-") as scratch:
        scratch = Path(scratch)
        ptys = [Pty() for _ in range(args.boards)]
        rack_file = scratch / "rack.yaml"
        rack_file.write_text(f"output: {scratch / 'out'}\nboards:\n" + "".join(
            f"  - name: board{i:02d}\n    board: qemu-x86_64\n    port: {pty.path}\n" for i, pty in enumerate(ptys)))
        with (scratch / "rack.log").open("wb") as rack_log:
            rack = subprocess.Popen([sys.executable, "-m", "oopswatch", "rack", str(rack_file)],
                                    stdout=rack_log, stderr=subprocess.STDOUT)
        wait_for(lambda: (scratch / "rack.log").read_text().count(": watching ") >= args.boards, 120,
                 what="every board watching")
        cpu_start, wall_start = cpu_seconds(rack.pid), time.monotonic()
        stop = threading.Event()
        written: list[list[bytes]] = [[] for _ in ptys]
        oopses: list[int] = []
        threads = [threading.Thread(target=stream, args=(pty, args.minutes * 60, filler,
                                                         oops if i % 4 == 0 else None, written[i], stop, oopses))
                   for i, pty in enumerate(ptys)]
        for thread in threads:
            thread.start()
        if args.profile:
            time.sleep(max(0.0, (args.minutes * 60 - args.profile) / 2))
            profile = Path.cwd() / "rack_soak.profile.txt"
            py_spy = shutil.which("py-spy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
            subprocess.run([py_spy or "py-spy", "record", "-p", str(rack.pid), "-d", str(int(args.profile)),
                            "-f", "raw", "-o", str(profile), "--nonblocking"], stdout=subprocess.DEVNULL, check=False)
            print(f"profile (py-spy raw, idle threads included): {profile}")
        for thread in threads:
            thread.join()
        time.sleep(3)  # the last bytes and reports settle
        cpu, wall = cpu_seconds(rack.pid) - cpu_start, time.monotonic() - wall_start
        peak = peak_rss_mb(rack.pid)
        rack.send_signal(signal.SIGTERM)  # how a lab daemon is stopped
        rack.wait(timeout=120)
        lost = 0
        total = 0
        everything = scratch / "all-consoles.log"
        with everything.open("wb") as text:
            for i, chunks in enumerate(written):
                data = b"".join(chunks)
                total += len(data)
                text.write(data)
                [console] = list((scratch / "out" / f"board{i:02d}").glob("*/console.log"))
                if without_notes(console.read_bytes()) != data:
                    lost += 1
        reports = reports_counted(scratch / "out")
        empty = scratch / "empty.log"
        empty.write_bytes(b"")
        # The least of three runs each: the machine may be shared.
        scan_cpu = max(0.0, min(scan_cpu_seconds(everything) for _ in range(3))
                       - min(scan_cpu_seconds(empty) for _ in range(3)))
        megabytes = total / 1e6
        print(f"{args.boards} boards for {args.minutes:g} min, {megabytes:.1f} MB at 115200 baud each: "
              f"rack CPU {100 * cpu / wall:.1f}% of one core, peak memory {peak:.0f} MB, "
              f"{reports} reports (directories and repeats) of {len(oopses)} oopses, "
              f"console logs byte-exact: {args.boards - lost}/{args.boards}")
        print(f"CPU per console MB: rack {1000 * cpu / megabytes:.0f} ms, oopswatch scan of the same text "
              f"{1000 * scan_cpu / megabytes:.0f} ms: {cpu / scan_cpu if scan_cpu else float('inf'):.1f}x")


if __name__ == "__main__":
    main()
