#!/usr/bin/env python3
"""Boot test kernels with every LKDTM crash type and save the console logs.

Usage:
  scripts/collect-test-samples.py [--out DIR] [--repeat N] [--types T1,T2]
                                  [--timeout S] [BUILD_DIR ...]

Without BUILD_DIRs it runs `scripts/build-test-kernels.sh all` (instant when
cached) and uses the four directories it prints.

For each build dir and crash type (plus a clean boot) it boots QEMU exactly as
described by BUILD_DIR/qemu.json, saves the raw console output of the first
boot as OUT/<arch>-<variant>-<TYPE>.log (TYPE "clean" for the clean boot),
checks that the expected report appears (and that frames are symbolised in
kallsyms builds and bare addresses in nokallsyms builds), and prints a table
with the median QEMU run time and the median time from QEMU start to the end
of the report.  Also writes OUT/summary.tsv.  Exit status 1 if a check failed.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

TYPES = ["EXCEPTION", "BUG", "WARNING", "PANIC", "CORRUPT_STACK", "WRITE_RO",
         "EXEC_DATA", "REFCOUNT_INC_OVERFLOW", "HUNG_TASK", "SOFTLOCKUP",
         "MODULE_EXCEPTION", "MODULE_WARNING", "MODULE_BUG"]

# Expected report text per crash type: {arch or "*": regex}.
EXPECT = {
    "EXCEPTION": {"x86_64": r"BUG: kernel NULL pointer dereference, address: 0+\b",
                  "arm64": r"Unable to handle kernel NULL pointer dereference at virtual address 0+\b"},
    "BUG": {"*": r"kernel BUG at drivers/misc/lkdtm/bugs\.c:\d+!"},
    "WARNING": {"*": r"WARNING: CPU: \d+ PID: \d+ at drivers/misc/lkdtm/bugs\.c:\d+"},
    "PANIC": {"*": r"Kernel panic - not syncing: dumptest"},
    "CORRUPT_STACK": {"*": r"Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: "},
    "WRITE_RO": {"x86_64": r"BUG: unable to handle page fault for address: ",
                 "arm64": r"Unable to handle kernel write to read-only memory at virtual address "},
    "EXEC_DATA": {"x86_64": r"kernel tried to execute NX-protected page",
                  "arm64": r"Unable to handle kernel execute from non-executable memory at virtual address "},
    "REFCOUNT_INC_OVERFLOW": {"*": r"refcount_t: saturated; leaking memory"},
    "HUNG_TASK": {"*": r"INFO: task \S+:\d+ blocked for more than \d+ seconds\."},
    "SOFTLOCKUP": {"*": r"watchdog: BUG: soft lockup - CPU#0 stuck for \d+s!"},
    "MODULE_EXCEPTION": {"x86_64": r"BUG: kernel NULL pointer dereference",
                         "arm64": r"Unable to handle kernel NULL pointer dereference"},
    "MODULE_WARNING": {"*": r"WARNING: CPU: \d+ PID: \d+ at oopswatch_crash/oopswatch_crash\.c:\d+"},
    "MODULE_BUG": {"*": r"kernel BUG at oopswatch_crash/oopswatch_crash\.c:\d+!"},
}

# First line of a report (what a detector would key on).
HEADER_RE = re.compile(
    r"(BUG: |Unable to handle kernel|kernel BUG at|WARNING: CPU:|Kernel panic - not syncing"
    r"|INFO: task .* blocked|refcount_t: |kernel tried to execute|Internal error:)")
SYMBOLISED_RE = re.compile(r"\b[A-Za-z_][\w.]*\+0x[0-9a-f]+/0x[0-9a-f]+")
BARE_X86_RE = re.compile(r"RIP: 0010:0xffffffff[0-9a-f]{8}\b|^\S*\s+0xffffffff[0-9a-f]{8}\b|\[\s*[\d.]+\]\s+(\? )?0xffffffff[0-9a-f]{8}\b")
BARE_ARM64_RE = re.compile(r"pc : 0xffff[0-9a-f]{12}\b|\[\s*[\d.]+\]\s+0xffff[0-9a-f]{12}\b")
INIT_AFTER_RE = re.compile(r"^oopswatch-init: (writer|survived|rebooting)")


def qemu_argv(build_dir, q, crash):
    append = q["append"] + (f" {q['crash_param']}={crash}" if crash else "")
    return [q["qemu"], *q["machine_args"], *q["common_args"], *q["device_args"],
            "-kernel", os.path.join(build_dir, q["image"]),
            "-initrd", os.path.join(build_dir, q["initrd"]),
            "-append", append]


def boot(build_dir, q, crash, timeout):
    """Run QEMU; return (raw bytes, [(t, line)], exit status, total seconds)."""
    argv = qemu_argv(build_dir, q, crash)
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    raw, lines = bytearray(), []
    deadline = t0 + timeout
    timed_out = False
    while True:
        line = p.stdout.readline()
        if not line:
            break
        raw += line
        lines.append((time.monotonic() - t0, line.decode("utf-8", "replace").rstrip("\r\n")))
        if time.monotonic() > deadline:
            timed_out = True
            break
    if timed_out:
        p.kill()
    try:
        rc = p.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
        timed_out = True
    total = time.monotonic() - t0
    return bytes(raw), lines, (124 if timed_out else rc), total


def analyse(arch, variant, crash, lines, rc):
    """Return (first_report_line, report_end_time, [problems])."""
    problems = []
    text = "\n".join(l for _, l in lines)
    if rc != 0:
        problems.append(f"qemu exit status {rc}")
    if not crash:
        if "oopswatch-init: no crash requested, powering off" not in text:
            problems.append("no clean power-off line")
        if HEADER_RE.search(text):
            problems.append("clean boot printed a report")
        return "", lines[-1][0] if lines else 0.0, problems

    try:
        start = next(i for i, (_, l) in enumerate(lines) if l.startswith(f"oopswatch-init: provoking {crash}"))
    except StopIteration:
        return "", 0.0, ["no 'provoking' line"]
    after = lines[start + 1:]
    end_idx = next((i for i, (_, l) in enumerate(after) if INIT_AFTER_RE.match(l)), len(after))
    report = after[:end_idx]
    end_t = report[-1][0] if report else 0.0
    rtext = "\n".join(l for _, l in report)

    first = next((re.sub(r"^\[\s*[\d.]+\]\s*", "", l) for _, l in report if HEADER_RE.search(l)), "")
    exp = EXPECT[crash].get(arch) or EXPECT[crash].get("*")
    if not re.search(exp, rtext):
        problems.append(f"expected /{exp}/ not found")
    trace = [l for _, l in report if "Call trace" in l or "Call Trace" in l]
    if not trace:
        problems.append("no call trace")
    if variant == "kallsyms":
        if not SYMBOLISED_RE.search(rtext):
            problems.append("no func+0x../0x.. frames")
        if crash.startswith("MODULE_") and "[oopswatch_crash]" not in rtext:
            problems.append("no [oopswatch_crash] frame")
    else:
        if SYMBOLISED_RE.search(rtext):
            problems.append("symbolised frames in a nokallsyms build: "
                            + SYMBOLISED_RE.search(rtext).group(0))
        bare = BARE_X86_RE if arch == "x86_64" else BARE_ARM64_RE
        if not bare.search(rtext):
            problems.append("no bare-address frames")
    return first, end_t, problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="/tmp/oopswatch-samples")
    ap.add_argument("--repeat", type=int, default=1, help="boots per type (timings are medians)")
    ap.add_argument("--types", default=",".join(TYPES + ["clean"]))
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("dirs", nargs="*")
    a = ap.parse_args()

    dirs = a.dirs
    if not dirs:
        out = subprocess.run([os.path.join(HERE, "build-test-kernels.sh"), "all"],
                             check=True, stdout=subprocess.PIPE, text=True).stdout
        dirs = out.strip().splitlines()[-4:]
    os.makedirs(a.out, exist_ok=True)
    types = [t.strip() for t in a.types.split(",") if t.strip()]

    failed = 0
    rows = []
    for d in dirs:
        q = json.load(open(os.path.join(d, "qemu.json")))
        arch, variant = q["arch"], q["variant"]
        for t in types:
            crash = "" if t == "clean" else t
            totals, ends, first, problems = [], [], "", []
            for rep in range(a.repeat):
                raw, lines, rc, total = boot(d, q, crash, a.timeout)
                f, end_t, probs = analyse(arch, variant, crash, lines, rc)
                if rep == 0:
                    with open(os.path.join(a.out, f"{arch}-{variant}-{t}.log"), "wb") as fh:
                        fh.write(raw)
                    first = f
                problems += [p for p in probs if p not in problems]
                totals.append(total)
                ends.append(end_t)
            status = "ok" if not problems else "FAIL: " + "; ".join(problems)
            failed += bool(problems)
            row = (arch, variant, t, f"{statistics.median(totals):.1f}",
                   f"{statistics.median(ends):.1f}", first, status)
            rows.append(row)
            print("\t".join(row), flush=True)
    with open(os.path.join(a.out, "summary.tsv"), "w") as fh:
        fh.write("arch\tvariant\ttype\tqemu_s\treport_end_s\tfirst_report_line\tstatus\n")
        for r in rows:
            fh.write("\t".join(r) + "\n")
    print(f"{len(rows) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
