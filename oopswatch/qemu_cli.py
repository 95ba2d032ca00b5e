"""`oopswatch qemu`: from command-line options to a boot, its verdict and its outputs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from oopswatch.boards import find_board
from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.errors import InputError
from oopswatch.qemu_boot import BootSpec, machine_from_board, machine_from_kernel_dir, run_boot, write_boot_junit
from oopswatch.scan import explicit_symbols
from oopswatch.sinks.jsonl import format_json
from oopswatch.sources.qemu import QemuMachine

# For `--kernel`: any kernel, so room for a distribution initramfs (QEMU allocates lazily).
# arch: (QEMU, machine arguments, pvpanic device, console), the machines of the test kernels.
DEFAULT_QEMU = {
    "x86_64": ("qemu-system-x86_64", ["-M", "pc", "-cpu", "max", "-m", "512"], "pvpanic", "ttyS0"),
    "arm64": ("qemu-system-aarch64", ["-M", "virt", "-cpu", "max", "-m", "512"], "pvpanic-pci", "ttyAMA0"),
    "arm": ("qemu-system-arm", ["-M", "virt,highmem=off", "-cpu", "cortex-a15", "-m", "512"], "pvpanic-pci",
            "ttyAMA0"),
    "riscv": ("qemu-system-riscv64", ["-M", "virt", "-bios", "default", "-m", "512"], "pvpanic-pci", "ttyS0"),
    "powerpc": ("qemu-system-ppc64", ["-M", "pseries", "-m", "512"], "pvpanic-pci", "hvc0"),
    "mips": ("qemu-system-mips", ["-M", "malta", "-cpu", "24Kf", "-m", "256"], "pvpanic-pci", "ttyS0"),
}


def run_qemu_command(args: argparse.Namespace, out: TextIO) -> int:
    targets = [name for name in ("kernel_dir", "board", "kernel") if getattr(args, name)]
    if len(targets) != 1:
        raise InputError("give exactly one of --kernel-dir, --board or --kernel")
    if args.expect_title and args.expect != "oops":
        raise InputError("--expect-title goes with --expect oops")
    symbols = explicit_symbols(args.system_map, args.vmlinux, args.modules)
    crash_param = "oopswatch.crash"
    if args.kernel_dir:
        machine, arch, crash_param = machine_from_kernel_dir(args.kernel_dir)
        directory = Path(args.kernel_dir)
        name = directory.resolve().name
        chooser = BuildChooser(None, symbols or explicit_symbols(
            *(str(p) if p.exists() else None for p in (directory / "System.map", directory / "vmlinux",
                                                      directory / "modules"))))
    elif args.board:
        board = find_board(args.board, args.boards)
        machine, _ = machine_from_board(board, args.build)
        arch, name = board.arch, board.name
        chooser = BuildChooser(board, symbols)
    else:
        if not args.arch:
            raise InputError(f"--kernel needs --arch ({', '.join(DEFAULT_QEMU)})")
        binary, machine_args, pvpanic, console = DEFAULT_QEMU[args.arch]
        machine = QemuMachine(binary=binary, machine_args=machine_args, kernel=Path(args.kernel),
                              initrd=Path(args.initrd) if args.initrd else None,
                              append=args.append or f"console={console}",
                              # The guest stays up after a panic to print its last lines
                              # (`Kernel Offset:`); the watcher stops it once it is quiet.
                              devices=["-device", pvpanic, "-action", "panic=none"])
        arch, name = args.arch, Path(args.kernel).name
        chooser = BuildChooser(None, symbols)
    if args.qemu_binary:
        machine.binary = args.qemu_binary
    if args.append and not args.kernel:
        machine.append = f"{machine.append} {args.append}".strip()
    spec = BootSpec(name=name, arch=arch, machine=machine, chooser=chooser, output=Path(args.output),
                    crash=args.crash, crash_param=crash_param, expect=args.expect, expect_title=args.expect_title,
                    timeout=args.timeout, hang_timeout=args.hang_timeout, idle_timeout=args.idle_timeout)
    try:
        result = run_boot(spec)
    finally:
        close_loaded_builds()
    for report in result.reports:
        if args.json:
            out.write(format_json(report) + "\n")
        else:
            out.write(f"{'crash' if report.crash else 'note'}: {report.title}\n")
    if args.junit:
        write_boot_junit(args.junit, spec, result)
    out.write(f"{result.verdict} ({result.seconds:.1f} s; logs and reports in {result.directory})\n")
    out.flush()
    return result.exit_code
