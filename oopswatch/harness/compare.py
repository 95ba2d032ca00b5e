"""Baseline comparison: the problems (report titles) of a new run against those of a
baseline run — new ones are regressions, gone ones are fixed.

A run is an output directory (its report index, or else the report.json files under
it), an index file, or the output of `oopswatch scan --json`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.sinks.index import INDEX_NAME, index_path, load_problems

_SQLITE_MAGIC = b"SQLite format 3\0"


@dataclass
class Problem:
    """All the reports of one title in one run."""

    title: str
    kind: str
    crash: bool
    count: int = 0
    boards: list[str] = field(default_factory=list)
    report_dir: str | None = None  # the last report's folder, where known


@dataclass
class Comparison:
    new: list[tuple[Problem | None, Problem]]  # (None, in NEW)
    gone: list[tuple[Problem, Problem | None]]  # (in BASE, None)
    both: list[tuple[Problem, Problem]]

    def to_json(self) -> dict:
        def item(base: Problem | None, new: Problem | None) -> dict:
            either = new or base
            assert either is not None
            return {"title": either.title, "kind": either.kind, "crash": either.crash,
                    "base_count": base.count if base else 0, "new_count": new.count if new else 0,
                    "report_dir": (new or base).report_dir}
        return {"new": [item(*pair) for pair in self.new], "gone": [item(*pair) for pair in self.gone],
                "both": [item(*pair) for pair in self.both]}


def compare_runs(base: dict[str, Problem], new: dict[str, Problem]) -> Comparison:
    return Comparison(new=[(None, new[title]) for title in sorted(new.keys() - base.keys())],
                      gone=[(base[title], None) for title in sorted(base.keys() - new.keys())],
                      both=[(base[title], new[title]) for title in sorted(base.keys() & new.keys())])


def load_run(path: str, crash_only: bool = True) -> dict[str, Problem]:
    """The problems of one run, by title; an `InputError` naming the path when it is none
    of the things a run can be."""
    location = Path(path)
    if location.is_dir():
        index = index_path(location)
        if index.is_file():
            problems = _from_index(index)
        else:
            reports = sorted(location.rglob("report.json"))
            if not reports:
                raise InputError(f"{path}: no {INDEX_NAME} and no report.json under it; give an oopswatch output "
                                 "directory, its index, or a file of `oopswatch scan --json`")
            problems = _from_json_objects((_read_json(report), str(report), str(report.parent)) for report in reports)
    elif location.is_file():
        with location.open("rb") as handle:
            is_index = handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
        problems = _from_index(location) if is_index else _from_json_lines(location)
    else:
        raise InputError(f"{path}: no such file or directory")
    return {title: problem for title, problem in problems.items() if problem.crash or not crash_only}


def _from_index(index: Path) -> dict[str, Problem]:
    return {problem.title: Problem(problem.title, problem.kind, problem.crash, problem.count, problem.boards,
                                   problem.last_report_dir)
            for problem in load_problems(index)}


def _from_json_lines(path: Path) -> dict[str, Problem]:
    def objects():
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError as error:
            raise InputError(f"{path}: cannot read: {error.strerror}") from error
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                raise InputError(f"{path}: line {number}: not JSON; give an oopswatch output directory, its "
                                 "index, or a file of `oopswatch scan --json`") from None
            yield data, f"{path}: line {number}", None
    return _from_json_objects(objects())


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a readable report.json: {error}") from None


def _from_json_objects(items: Iterable[tuple[object, str, str | None]]) -> dict[str, Problem]:
    """Reports as JSON objects, each with where it was read and its folder (if any)."""
    problems: dict[str, Problem] = {}
    for data, where, report_dir in items:
        if not isinstance(data, dict) or not isinstance(data.get("title"), str):
            raise InputError(f"{where}: not a report (no 'title')")
        title = data["title"]
        problem = problems.setdefault(title, Problem(title, str(data.get("kind", "")), bool(data.get("crash", True))))
        problem.count += 1
        problem.report_dir = report_dir or problem.report_dir
    return problems
