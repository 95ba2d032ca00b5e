"""`oopswatch qemu`: boot a kernel under QEMU and judge the boot (a CI regression harness)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from oopswatch.cli.options import (
    add_boards_dirs,
    add_index,
    add_known_issues,
    add_output,
    add_symbol_options,
    exit_codes_help,
    subcommand,
)
from oopswatch.errors import InputError

QEMU_EXIT_CODES = {
    0: "the boot went as expected (--expect); with --run, every command passed",
    1: "it did not: a kernel report with --expect clean (not a known issue), none (or another title) with "
       "--expect oops; with --run, a command failed (a crash report during it, a non-zero exit status "
       "without --allow-failure, no exit status within --command-timeout)",
    2: "bad input: missing kernel image, test kernel, board, option or file; an unknown --crash type; "
       "a bad --known-issues file; a login the board refuses",
    4: "QEMU is not installed",
    5: "the kernel printed nothing",
    6: "hang: the console went quiet for --hang-timeout, or the boot outlasted --timeout; with --run, "
       "no shell answered within --timeout",
    7: "QEMU died mid-boot",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    from oopswatch.qemu_boot import QEMU_ARCHES

    parser = subcommand(commands, "qemu", "boot a kernel under QEMU and judge the boot (CI regression harness)",
                        "Boot a kernel under QEMU (software emulation), watch its console through a unix socket, "
                        "control it through QMP, and judge the boot against --expect. With --run, the kernel's "
                        "init is asked for a shell (oopswatch.shell=1 on the command line) and each command is "
                        "run on the console and judged on its own.", exit_codes_help(QEMU_EXIT_CODES))
    target = parser.add_argument_group("what to boot (one of)")
    target.add_argument("--kernel-dir", metavar="DIR", help="a test kernel build directory (holds qemu.json)")
    target.add_argument("--board", metavar="NAME", help="a QEMU board config")
    target.add_argument("--kernel", metavar="IMAGE", help="a kernel image, with --arch and optionally "
                        "--initrd and --append")
    parser.add_argument("--build", metavar="NAME", help="with --board: which build (default: the board's default)")
    add_boards_dirs(parser)
    parser.add_argument("--initrd", metavar="FILE")
    parser.add_argument("--append", metavar="CMDLINE", default="", help="kernel command line")
    parser.add_argument("--arch", choices=QEMU_ARCHES, help="with --kernel: the kernel's architecture")
    parser.add_argument("--qemu-binary", metavar="PATH", help="QEMU to run instead of the default for the arch")
    parser.add_argument("--crash", metavar="TYPE", help="LKDTM crash type for the test initramfs "
                        "(sets oopswatch.crash=TYPE on the command line), e.g. EXCEPTION, WARNING, PANIC")
    parser.add_argument("--expect", choices=("clean", "oops", "any"), default="clean",
                        help="clean: fail on any kernel report; oops: fail when none appears; any: report only")
    parser.add_argument("--expect-title", metavar="TITLE", help="with --expect oops: the first report's title")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds the whole boot may take (120)")
    parser.add_argument("--hang-timeout", type=float, default=30.0,
                        help="seconds without console output that make a hang (30)")
    parser.add_argument("--idle-timeout", type=float, default=2.0, help="seconds of quiet that end a report (2)")
    commands = parser.add_argument_group("commands on the console")
    commands.add_argument("--run", metavar="CMD", action="append", default=[],
                          help="a shell command line to run once the kernel is up (repeat for more); each "
                          "passes when it exits 0 and the kernel reported no crash while it ran")
    commands.add_argument("--command-timeout", type=float, default=300.0, metavar="SECONDS",
                          help="seconds each command may take (300); then Ctrl-C, and it fails")
    commands.add_argument("--allow-failure", action="store_true",
                          help="a non-zero exit status does not fail a command (crash reports still do)")
    add_known_issues(parser)
    add_output(parser, "where logs and reports go")
    add_index(parser)
    parser.add_argument("--junit", metavar="FILE", help="write JUnit XML: one test case for this boot "
                        "(with --run: one for the boot and one per command)")
    parser.add_argument("--json", action="store_true", help="print reports as JSON lines")
    add_symbol_options(parser, with_board=False)
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.harness.known_issues import load_known_issues
    from oopswatch.harness.steps import summary_line
    from oopswatch.qemu_boot import QEMU_ARCHES, BootSpec, boot_target, run_boot, write_boot_junit
    from oopswatch.sinks.index import check_index_target
    from oopswatch.sinks.jsonl import format_json
    from oopswatch.symbols.options import explicit_symbols

    targets = [name for name in ("kernel_dir", "board", "kernel") if getattr(args, name)]
    if len(targets) != 1:
        raise InputError("give exactly one of --kernel-dir, --board or --kernel")
    if args.expect_title and args.expect != "oops":
        raise InputError("--expect-title goes with --expect oops")
    if args.kernel and not args.arch:
        raise InputError(f"--kernel needs --arch ({', '.join(QEMU_ARCHES)})")
    if args.run and args.expect == "oops":
        raise InputError("--run judges each command: give --expect clean (a crash fails it) or --expect any")
    if args.allow_failure and not args.run:
        raise InputError("--allow-failure goes with --run")
    known_issues = load_known_issues(args.known_issues)
    symbols = explicit_symbols(args.system_map, args.vmlinux, args.modules)
    target = boot_target(kernel_dir=args.kernel_dir, board=args.board, board_dirs=args.boards, build=args.build,
                         kernel=args.kernel, arch=args.arch, initrd=args.initrd, append=args.append,
                         qemu_binary=args.qemu_binary, symbols=symbols)
    if args.crash:
        target.check_crash(args.crash)
    if args.run and target.has_shell is False:
        raise InputError(f"--run: the init of {target.name} starts no shell (its qemu.json says \"shell\": false: "
                         "no busybox for this architecture)")

    def show_step(step) -> None:
        out.write(summary_line(step) + "\n")
        out.flush()

    spec = BootSpec(name=target.name, arch=target.arch, machine=target.machine, chooser=target.chooser,
                    output=Path(args.output), crash=args.crash, crash_param=target.crash_param, expect=args.expect,
                    expect_title=args.expect_title, timeout=args.timeout, hang_timeout=args.hang_timeout,
                    idle_timeout=args.idle_timeout, commands=args.run, command_timeout=args.command_timeout,
                    allow_failure=args.allow_failure, known_issues=known_issues, shell=target.shell,
                    on_step=None if args.json else show_step,
                    index=check_index_target(args.index) if args.index else None)
    try:
        result = run_boot(spec)
    finally:
        from oopswatch.build_choice import close_loaded_builds

        close_loaded_builds()
    if args.json:
        for report in result.reports:
            out.write(format_json(report) + "\n")
    elif not args.run:
        [boot] = result.steps
        for seen, verdict in zip(boot.reports, boot.verdicts, strict=True):
            label = "known" if verdict.known else "crash" if seen.crash else "note"
            out.write(f"{label}: {seen.title}{f' ({verdict.note()})' if verdict.issue else ''}\n")
    for issue in known_issues.not_seen():
        out.write(f"known issue not seen: {issue.describe()}\n")
    if args.junit:
        write_boot_junit(args.junit, spec, result)
    out.write(f"{result.verdict} ({result.seconds:.1f} s; logs and reports in {result.directory})\n")
    out.flush()
    return result.exit_code
