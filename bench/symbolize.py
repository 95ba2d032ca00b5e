"""Benchmark: symbol loading and decoding, and oopswatch against the kernel's own
scripts/decode_stacktrace.sh on the same oops.

1. Load time of a 200,000-symbol System.map (sorted, as `nm -n` writes every System.map;
   an unsorted copy too): parsed, the first lookups after (an address, a name), then from
   the cache.
2. Decode time of a 20-frame oops: System.map alone, and with vmlinux (file:line).
3. The same oops through decode_stacktrace.sh (from the same linux-source) and through
   `oopswatch scan` as whole commands, wall time, and whether file:line agree. oopswatch
   runs from bytecode, as an installed package and Python do (all of it compiled by a first
   run into a scratch PYTHONPYCACHEPREFIX: this machine sets PYTHONDONTWRITEBYTECODE), with
   its cache warm (as for every run after the first on a build); the first run with an
   empty cache is timed once, and the import time of the scan command on its own.

Uses the x86_64 KALLSYMS test kernel (scripts/build-test-kernels.sh x86_64 kallsyms).

    python bench/symbolize.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from oopswatch.console import split_lines  # noqa: E402
from oopswatch.decode import decode  # noqa: E402
from oopswatch.detect import Detector, Report  # noqa: E402
from oopswatch.symbols.kernel import load_kernel_symbols  # noqa: E402
from oopswatch.symbols.system_map import cache_dir, forget_last_loaded, load_system_map  # noqa: E402


def kernel() -> Path:
    out = subprocess.run([str(ROOT / "scripts" / "build-test-kernels.sh"), "x86_64", "kallsyms"],
                         capture_output=True, text=True, check=True).stdout
    return Path(out.strip().splitlines()[-1])


def big_map(source: Path, target: Path, count: int = 200_000) -> None:
    """A 200,000-symbol map: the real map's symbols, repeated at higher addresses."""
    lines = [fields for fields in (line.split() for line in source.read_text().splitlines()) if len(fields) == 3]
    end = next(int(address, 16) for address, _, name in lines if name == "_end")
    start = next(int(address, 16) for address, _, name in lines if name == "_text")
    lines = [fields for fields in lines if start <= int(fields[0], 16) <= end]
    out = []
    base = 0
    span = end - start + 0x1000
    while len(out) < count:
        for address, kind, name in (fields[:3] for fields in lines):
            out.append(f"{int(address, 16) + base:016x} {kind} {name}{'_' + str(base // span) if base else ''}")
            if len(out) == count:
                break
        base += span
    target.write_text("\n".join(out) + "\n")


def twenty_frame_oops(directory: Path) -> str:
    """A real EXCEPTION oops of this kernel, its call trace deepened to 20 frames with
    real functions of the kernel (as a deeper call chain would print them)."""
    table = load_system_map(directory / "System.map")
    text = subprocess.run([sys.executable, "-m", "oopswatch", "qemu", "--kernel-dir", str(directory),
                           "--crash", "EXCEPTION", "--expect", "oops", "--output", tempfile.mkdtemp()],
                          capture_output=True, text=True, check=True).stdout
    log = Path(text.rsplit("logs and reports in ", 1)[1].strip().rstrip(")")) / "console.log"
    lines = log.read_text(errors="replace").splitlines()
    start = next(i for i, line in enumerate(lines) if "BUG: kernel NULL pointer" in line)
    end = next(i for i, line in enumerate(lines) if "---[ end trace" in line)
    oops = lines[start:end + 1]
    trace_at = next(i for i, line in enumerate(oops) if line.endswith("<TASK>")) + 1
    frames = sum(1 for line in oops if re.search(r"\]  \w+\+0x", line))
    random.seed(1)
    names = [name for name, kind in zip(table.names, table.types, strict=True)
             if kind in "Tt" and table.address_of(name) and table.size_of(table.address_of(name))]
    extra = []
    for name in random.sample(names, 20 - frames):
        size = table.size_of(table.address_of(name))
        extra.append(f"[    0.900000]  {name}+{min(0x10, size - 1):#x}/{size:#x}")
    return "\n".join(oops[:trace_at] + extra + oops[trace_at:]) + "\n"


def first_report(text: str) -> Report:
    detector = Detector()
    events = [event for line in split_lines([text.encode()]) for event in detector.feed(line)]
    return next(event for event in events + detector.finish() if isinstance(event, Report))


def timed(function, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    directory = kernel()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        os.environ["OOPSWATCH_CACHE"] = str(scratch / "cache")  # a cold index cache for the map test
        big = scratch / "System.map"
        big_map(directory / "System.map", big)
        unsorted = scratch / "unsorted.map"
        lines = big.read_text().splitlines(keepends=True)
        unsorted.write_text("".join(lines[len(lines) // 2:] + lines[:len(lines) // 2]))
        parsed = timed(lambda: load_system_map(big, use_cache=False), args.runs)
        parsed_unsorted = timed(lambda: load_system_map(unsorted, use_cache=False), args.runs)

        lookup_times: list[float] = []
        for _ in range(args.runs):  # the first lookups of a fresh table find its markers and index its names
            table = load_system_map(big, use_cache=False)
            started = time.perf_counter()
            table.lookup(table.addresses[len(table) // 2])
            table.address_of("do_syscall_64_5")
            lookup_times.append(time.perf_counter() - started)
        load_system_map(big)
        cached = timed(lambda: (forget_last_loaded(), load_system_map(big)), args.runs)
        print(f"200,000-symbol System.map: parsed in {parsed * 1000:.0f} ms (unsorted: "
              f"{parsed_unsorted * 1000:.0f} ms), its first address and name lookups after that "
              f"{statistics.median(lookup_times) * 1000:.0f} ms, from the cache {cached * 1000:.0f} ms "
              f"(median of {args.runs})")
        del os.environ["OOPSWATCH_CACHE"]

        oops = twenty_frame_oops(directory)
        oops_file = scratch / "oops.log"
        oops_file.write_text(oops)
        report = first_report(oops)
        frames = sum(1 for line in report.lines if re.search(r"^ \w+\+0x", line.message))
        map_only = load_kernel_symbols(system_map=str(directory / "System.map"))
        with_vmlinux = load_kernel_symbols(system_map=str(directory / "System.map"),
                                           vmlinux=str(directory / "vmlinux"))
        decode(report, "bench", with_vmlinux)  # addr2line warm
        alone = timed(lambda: decode(report, "bench", map_only), args.runs)
        full = timed(lambda: decode(report, "bench", with_vmlinux), args.runs)
        with_vmlinux.close()
        print(f"decode of a {frames}-frame oops: {alone * 1000:.1f} ms with System.map alone, "
              f"{full * 1000:.1f} ms with vmlinux (file:line; addr2line already running)")

        script = cache_dir() / "src" / "linux-source-6.1" / "scripts" / "decode_stacktrace.sh"
        theirs_out = ""

        def run_theirs() -> None:
            nonlocal theirs_out
            theirs_out = subprocess.run(["bash", str(script), str(directory / "vmlinux"), "auto"], input=oops,
                                        capture_output=True, text=True, check=True).stdout

        ours_out = ""
        # Every module the command imports (the standard library's too: a bytecode prefix hides
        # the installed __pycache__ directories) is compiled once by the first run below, as on a
        # machine where Python and the package are installed.
        bytecode = dict(os.environ, PYTHONPYCACHEPREFIX=str(scratch / "pycache"))
        bytecode.pop("PYTHONDONTWRITEBYTECODE", None)

        def run_ours() -> None:
            nonlocal ours_out
            ours_out = subprocess.run([sys.executable, "-m", "oopswatch", "scan", "--json", "--system-map",
                                       str(directory / "System.map"), "--vmlinux", str(directory / "vmlinux"),
                                       str(oops_file)], capture_output=True, text=True, env=bytecode).stdout

        def python_alone() -> None:
            subprocess.run([sys.executable, "-c", "pass"], env=bytecode, check=True)

        def scan_imports() -> None:
            subprocess.run([sys.executable, "-c", "import oopswatch.cli, oopswatch.cli.scan, oopswatch.scan, "
                            "oopswatch.symbols.kernel"], env=bytecode, check=True)

        cold = dict(bytecode, OOPSWATCH_CACHE=str(scratch / "cold-cache"))
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "oopswatch", "scan", "--json", "--system-map",
                        str(directory / "System.map"), "--vmlinux", str(directory / "vmlinux"), str(oops_file)],
                       capture_output=True, text=True, env=cold)
        first_ever = time.perf_counter() - started
        run_ours()  # caches warm (the map's index, vmlinux's facts, compiled patterns, the bytecode),
        python_alone()  # as for any later run
        # Alternately, so that a busy machine slows both alike.
        theirs_times, ours_times = [], []
        for _ in range(args.runs):
            theirs_times.append(timed(run_theirs, 1))
            ours_times.append(timed(run_ours, 1))
        theirs, ours = statistics.median(theirs_times), statistics.median(ours_times)
        ours_report = json.loads(ours_out.splitlines()[0])
        our_lines = sorted({f"{f['file']}:{f['line']}" for f in ours_report["frames"] if f["file"]})
        source_root = re.compile(r"^/\S*/" + re.escape(script.parents[1].name) + "/")  # the tree it was built in
        their_lines = sorted({source_root.sub("", location) for location in re.findall(
            r"([\w./-]+\.[chS]:\d+)", re.sub(r"\(discriminator \d+\)", "", theirs_out))})
        print(f"whole command on that oops: decode_stacktrace.sh {theirs:.2f} s, oopswatch scan {ours:.2f} s "
              f"({theirs / ours:.1f}x faster); file:line identical: {our_lines == their_lines} "
              f"({len(our_lines)} locations); the first oopswatch run with an empty cache (no map "
              f"index, ELF facts or compiled patterns yet) {first_ever:.2f} s")
        alone, imported = timed(python_alone, args.runs), timed(scan_imports, args.runs)
        print(f"import time of the scan command: {(imported - alone) * 1000:.0f} ms (python starts in "
              f"{alone * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
