"""The problems of a report index as a text table (newest first) and as JSON objects."""

from __future__ import annotations

from datetime import datetime

from oopswatch.sinks.index import Problem


def problem_json(problem: Problem) -> dict:
    """A problem for --json: times as ISO 8601 with the UTC offset."""
    anywhere = problem.first_seen_anywhere
    return {**problem.to_json(), "first_seen": _iso(problem.first_seen), "last_seen": _iso(problem.last_seen),
            "first_seen_anywhere": None if anywhere is None else _iso(anywhere)}


def format_problems(problems: list[Problem]) -> str:
    """An aligned text table; the title goes last, as it is long and free-form."""
    header = ("COUNT", "LAST SEEN", "FIRST SEEN", "KIND", "BOARDS", "BUILDS", "TITLE")
    rows = [(str(p.count), _local(p.last_seen), _local(p.first_seen), p.kind, ",".join(p.boards),
             ",".join(p.builds) or "-", p.title) for p in problems]
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.rjust(width) if column == 0 else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]).rstrip() + "\n")
    return "".join(lines)



def _local(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().isoformat(timespec="seconds")
