"""oopswatch's own test logs, each checked for its exact expected result, like the corpus
(see tests/expectations.py; expectations in tests/expectations/test-logs.json):

- tests/logs/real/: real console logs of many architectures and kernel ages from public
  bug reports, mailing lists and CI systems (short excerpts; each names its source), and
  clean boots with user space writing on the console;
- tests/logs/userspace/: real QEMU boots whose user space writes on the kernel's console;
- tests/logs/<arch>-<variant>/<CRASH>.log: captures of the test kernels, with their
  expected titles in tests/logs/EXPECTED.tsv (columns `build`, `crash`, `expected title`).

A log with headers uses syzkaller's test file format (`TITLE:`, `ALT:`, `TYPE:`, `FRAME:`,
`CORRUPTED:`; `# source:` comments), an empty line, then the raw log.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.expectations import EXPECTATIONS_DIR, LogCase, Reference, check, figures
from tests.syzkaller_corpus import read_corpus_log

LOGS_DIR = Path(__file__).resolve().parent / "logs"
EXPECTATIONS = EXPECTATIONS_DIR / "test-logs.json"


def _expected_titles() -> dict[str, str]:
    """Logs without headers -> expected title, from the EXPECTED.tsv files (see
    tests/logs/README.md): the top one names captures by `build` and `crash`
    (`<build>/<CRASH>.log`), one in a subdirectory names its logs by `log`."""
    titles: dict[str, str] = {}
    for table in sorted(LOGS_DIR.rglob("EXPECTED.tsv")):
        header, *rows = [row.split("\t") for row in table.read_text().splitlines() if row.strip()]
        title = header.index("expected title")
        where = table.parent.relative_to(LOGS_DIR)
        for row in rows:
            name = row[header.index("log")] if "log" in header else \
                f"{row[header.index('build')]}/{row[header.index('crash')]}.log"
            titles[str(where / name)] = row[title]
    return titles


def log_cases() -> list[LogCase]:
    captures = _expected_titles()
    cases = []
    for path in sorted(LOGS_DIR.rglob("*.log")):
        name = str(path.relative_to(LOGS_DIR))
        if name in captures:
            cases.append(LogCase(name, path.read_bytes(), Reference(title=captures[name])))
            continue
        log = read_corpus_log(path, name)
        sources = [line.split(":", 1)[1].strip() for line in path.read_text(errors="replace").splitlines()
                   if line.startswith("# source:")]
        reference = Reference(
            title=log.title,
            alt_titles=sorted(set(log.alt_titles) - {log.title}) if log.title and log.alt_titles else None,
            corrupted=log.corrupted if log.title and log.first("CORRUPTED") else None,
            type=log.first("TYPE"),
            frame=log.first("FRAME"),
        )
        cases.append(LogCase(name, log.log, reference, source=" ".join(sources)))
    return cases


@pytest.fixture(scope="module")
def cases() -> list[LogCase]:
    return log_cases()


def test_every_log_gives_exactly_its_expected_result(cases, request):
    problems = check(cases, EXPECTATIONS, request.config.getoption("--update-expectations"))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:60])


def test_every_real_log_names_its_source(cases):
    assert all(case.source for case in cases if case.name.startswith("real/"))


def test_figures(cases):
    """Detected, false alarms and first titles equal to the expected (printed with -s)."""
    real = [case for case in cases if case.name.startswith("real/")]
    print(f"\nreal logs: {figures(real)}\nall test logs: {figures(cases)}")
    assert figures(cases)["false alarms"] == 0
