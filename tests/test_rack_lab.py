"""Racks of a lab on one PostgreSQL database (a private server, tests/postgres.py), fed
real console bytes through real pseudo-terminals: the same oops on two rack hosts is one
problem counted twice with both hosts' boards; a database stopped in the middle of a
flood of reports, and a rack restarted while it is away, lose and double nothing."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from oopswatch.sinks.index import load_problems, open_reader
from oopswatch.sinks.index.queries import read_boards
from tests.postgres import postgres_server
from tests.ptys import Pty, wait_for, without_notes
from tests.test_rack import RackProcess

REPO = Path(__file__).resolve().parent.parent
LOG = REPO / "examples" / "qemu-x86_64-nokallsyms-exception.log"  # one boot, one oops, bare addresses
SYSTEM_MAP = REPO / "examples" / "qemu-x86_64-nokallsyms.System.map"
TITLE = "BUG: unable to handle kernel NULL pointer dereference in lkdtm_EXCEPTION"


def lab_rack(path: Path, url: str, host: str, output: Path, boards: list[tuple[str, str]]) -> Path:
    lines = [f"output: {output}", f"index: {url}", f"host: {host}", "boards:"]
    for name, port in boards:
        lines += [f"  - name: {name}", f"    port: {port}", f"    system_map: {SYSTEM_MAP}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def boards_of(url: str) -> dict[tuple[str, str], tuple]:
    with open_reader(url) as db:
        return {(board.host, board.board): (board.state, board.boot, board.reports_this_boot)
                for board in read_boards(db)}


def count_of(url: str, title: str = TITLE) -> int:
    return next((problem.count for problem in load_problems(url) if problem.title == title), 0)


@pytest.mark.slow
def test_two_racks_on_one_database_make_one_problem(tmp_path):
    log = LOG.read_bytes()
    with postgres_server() as server, Pty() as first, Pty() as second:
        url = server.create_database()
        racks = [RackProcess(lab_rack(tmp_path / f"{host}.yaml", url, host, tmp_path / host, [(board, pty.path)]),
                             tmp_path / f"{host}-run")
                 for host, board, pty in (("rack-a", "x86-a", first), ("rack-b", "x86-b", second))]
        try:
            for rack in racks:
                rack.wait_watching(1)
            first.write(log)
            second.write(log)
            wait_for(lambda: count_of(url) == 2, 30, interval=0.2, what="both reports in the database")
            for rack in racks:
                assert rack.stop() == 0
        finally:
            for rack in racks:
                rack.kill()
        [problem] = load_problems(url)
        boards = boards_of(url)
    assert (problem.title, problem.count, problem.boards, problem.hosts) == (
        TITLE, 2, ["x86-a", "x86-b"], ["rack-a", "rack-b"])
    # Both racks published their boards; a stopped rack says so.
    assert sorted(boards) == [("rack-a", "x86-a"), ("rack-b", "x86-b")]
    assert [(state, reports) for state, _, reports in boards.values()] == [("stopped", 1), ("stopped", 1)]
    # The problem is new to exactly one of them, lab-wide: hooks fire once.
    assert sum(rack.log().count(f"new problem: {TITLE}") for rack in racks) == 1
    for host in ("rack-a", "rack-b"):
        [console] = (tmp_path / host).glob("*/*/console.log")
        assert console.read_bytes() == log


@pytest.mark.slow
def test_a_database_stopped_mid_flood_and_a_rack_restarted_lose_and_double_nothing(tmp_path):
    """Thirty boots that oops, as fast as a pty takes them; the database is stopped after
    the first reports, the rack is stopped while it is away and started again (its spool
    holds what was not sent), then the database comes back: every report arrives once."""
    boots = 30
    log = LOG.read_bytes()
    output = tmp_path / "out"
    with postgres_server() as server, Pty() as pty:
        url = server.create_database()
        rack_path = lab_rack(tmp_path / "rack.yaml", url, "rack-a", output, [("x86", pty.path)])
        rack = RackProcess(rack_path, tmp_path / "run1")
        try:
            rack.wait_watching(1)
            for number in range(boots):
                pty.write(log)
                if number == 5:
                    wait_for(lambda: count_of(url) >= 3, 30, interval=0.1, what="the first reports")
                    server.stop()  # mid-flood: sessions are ended at once
            wait_for(lambda: len(list(output.glob("x86/*/report-*/report.json"))) == boots, 60, interval=0.2,
                     what="every report on disk")
            wait_for(lambda: " index: " in rack.log(), 30, what="the index's word that the database is away")
            assert rack.stop(signal.SIGTERM) == 0  # a rack restart while the database is away
        finally:
            rack.kill()
        first_run = rack.log()
        server.start()
        again = RackProcess(rack_path, tmp_path / "run2")
        try:
            again.wait_watching(1)
            wait_for(lambda: count_of(url) >= boots, 60, interval=0.2, what="the spooled reports")
            assert again.stop() == 0
        finally:
            again.kill()
        with open_reader(url) as db:
            rows, keys, report_dirs = db.one("SELECT COUNT(*), COUNT(DISTINCT uid), COUNT(DISTINCT report_dir) "
                                             "FROM reports")
            totals = db.one("SELECT count, reports FROM problems")
        [problem] = load_problems(url)
    assert (rows, keys, report_dirs) == (boots, boots, boots)
    assert totals == (boots, boots) and problem.count == boots
    index_lines = [line for line in first_run.splitlines() if " index: " in line]
    assert len(index_lines) == 2, index_lines  # the failure once; the reports left in the spool once
    assert "spooling reports to" in index_lines[0] and "in the spool" in index_lines[1]
    first_console = sorted(output.glob("x86/*-boot1/console.log"))[0]  # the first run's
    assert without_notes(first_console.read_bytes()).startswith(log)
