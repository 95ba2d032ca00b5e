"""`oopswatch compare BASE NEW`: problems new in NEW (regressions), gone (fixed), in both."""

from __future__ import annotations

import argparse
import json
from typing import TextIO

from oopswatch.cli.options import exit_codes_help, subcommand

COMPARE_EXIT_CODES = {
    0: "nothing new in NEW",
    1: "NEW has a problem (a report title) that BASE does not have",
    2: "bad input: BASE or NEW is not an output directory, report index or `scan --json` file",
}


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subcommand(commands, "compare", "compare the problems of a new run with a baseline run",
                        "List the problems (report titles) new in NEW (regressions), gone since BASE (fixed) and "
                        "in both. BASE and NEW are each an output directory (its reports.sqlite, else the "
                        "report.json files under it), a reports.sqlite file, or the output of `oopswatch scan "
                        "--json`.", exit_codes_help(COMPARE_EXIT_CODES))
    parser.add_argument("base", metavar="BASE", help="the baseline run")
    parser.add_argument("new", metavar="NEW", help="the run to judge")
    parser.add_argument("--json", action="store_true", help="one JSON object: new, gone and both")
    parser.add_argument("--all", action="store_true", help="also records that are not crashes, such as OOM kills")
    return parser


def run(args: argparse.Namespace, out: TextIO) -> int:
    from oopswatch.harness.compare import compare_runs, load_run

    comparison = compare_runs(load_run(args.base, crash_only=not args.all),
                              load_run(args.new, crash_only=not args.all))
    if args.json:
        out.write(json.dumps(comparison.to_json()) + "\n")
    else:
        for heading, pairs in ((f"new in {args.new}", comparison.new), (f"gone since {args.base}", comparison.gone),
                               ("in both", comparison.both)):
            out.write(f"{heading} ({len(pairs)}):\n")
            for base, new in pairs:
                either = new or base
                counts = f"{base.count if base else 0} -> {new.count if new else 0}"
                where = f"  {either.report_dir}" if either.report_dir else ""
                out.write(f"  {either.title}  ({either.kind}; reports {counts}){where}\n")
    return 1 if comparison.new else 0
