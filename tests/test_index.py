"""The report index and `oopswatch reports`: grouping by title, and surviving what a lab
host does to a file (a killed writer, a full disk, a locked or corrupt database)."""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import datetime
from pathlib import Path

import pytest

from oopswatch.cli.reports import add_reports_arguments, parse_since, run_reports_command
from oopswatch.errors import InputError
from oopswatch.sinks.index import INDEX_NAME, ReportIndex

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 24, 10, 0).timestamp()


def _record(index: ReportIndex, title: str, board: str = "rpi4", time: float = T0, kind: str = "bug",
            crash: bool = True, build: str | None = "v6.1", boot: str = "boot-001") -> bool:
    return index.record(board=board, build=build, boot=boot, time=time, kind=kind, title=title, crash=crash,
                        corrupted=False, report_dir=f"/out/{board}/{boot}/{time - T0:g}",
                        console_log=f"/out/{board}/{boot}/console.log")


def _integrity(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("PRAGMA integrity_check")]


# -- grouping ------------------------------------------------------------------------------------------

def test_same_title_is_one_problem_across_boards_and_builds(tmp_path):
    with ReportIndex(tmp_path / INDEX_NAME) as index:
        assert _record(index, "BUG: kernel NULL pointer dereference in foo", "rpi4", T0 + 60) is True
        assert _record(index, "BUG: kernel NULL pointer dereference in foo", "bbb", T0, build=None) is False
        assert _record(index, "BUG: kernel NULL pointer dereference in foo", "rpi4", T0 + 30, build="v6.2") is False
        assert _record(index, "WARNING in bar", "bbb", T0 + 120, kind="warning") is True
        problems = index.problems()
    assert [p.title for p in problems] == ["WARNING in bar", "BUG: kernel NULL pointer dereference in foo"]
    null = problems[1]
    assert (null.count, null.boards, null.builds) == (3, ["bbb", "rpi4"], ["v6.1", "v6.2"])
    assert (null.first_seen, null.last_seen) == (T0, T0 + 60)
    assert null.last_report_dir == "/out/rpi4/boot-001/60"  # of the newest report, not of the last recorded


def test_filters_count_only_matching_reports(tmp_path):
    with ReportIndex(tmp_path / INDEX_NAME) as index:
        _record(index, "BUG: A", "rpi4", T0)
        _record(index, "BUG: A", "bbb", T0 + 3600)
        _record(index, "WARNING in b", "rpi4", T0 + 7200, kind="warning")
        _record(index, "oom-kill: sh", "rpi4", T0 + 10, kind="oom", crash=False)
        by_board = index.problems(board="bbb")
        recent = index.problems(since=T0 + 1800)
        crashes = index.problems(crash_only=True)
        warnings = index.problems(kind="warning")
        rows = index.reports(board="rpi4")
    assert [(p.title, p.count, p.boards) for p in by_board] == [("BUG: A", 1, ["bbb"])]
    assert [(p.title, p.count, p.first_seen) for p in recent] == [("WARNING in b", 1, T0 + 7200),
                                                                    ("BUG: A", 1, T0 + 3600)]
    assert "oom-kill: sh" not in [p.title for p in crashes] and len(crashes) == 2
    assert [p.title for p in warnings] == ["WARNING in b"]
    assert [(r.title, r.time, r.crash, r.boot) for r in rows] == [
        ("WARNING in b", T0 + 7200, True, "boot-001"), ("oom-kill: sh", T0 + 10, False, "boot-001"),
        ("BUG: A", T0, True, "boot-001")]


def test_a_reopened_index_remembers_its_problems(tmp_path):
    with ReportIndex(tmp_path / "out" / INDEX_NAME) as index:  # creates the directory
        assert _record(index, "BUG: A") is True
    with ReportIndex(tmp_path / "out" / INDEX_NAME) as index:
        assert _record(index, "BUG: A") is False
        assert _record(index, "BUG: B", time=T0 + 1) is True
        assert [(p.title, p.count) for p in index.problems()] == [("BUG: B", 1), ("BUG: A", 2)]


# -- what the host does to the file ------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys
    from oopswatch.sinks.index import ReportIndex
    index = ReportIndex(sys.argv[1])
    i = 0
    while True:
        index.record(board=f"board-{i % 3}", build="v6.1", boot=f"boot-{i // 10}", time=1e9 + i, kind="bug",
                     title=f"BUG: problem {i % 40}", crash=True, corrupted=False, report_dir="/r/" + "x" * (i % 500),
                     console_log="/c")
        if i == 20:
            print("writing", flush=True)
        i += 1
""")


@pytest.mark.parametrize("delay", [0.0, 0.13, 0.31])
def test_a_writer_killed_mid_write_leaves_a_consistent_index(tmp_path, delay):
    path = tmp_path / INDEX_NAME
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, cwd=REPO)
    try:
        assert writer.stdout.readline() == b"writing\n"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        assert writer.wait(timeout=10) == -signal.SIGKILL
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert _integrity(path) == ["ok"]
    with sqlite3.connect(path) as conn:
        reports = conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0]
        # One transaction per report: no problem without its report, no report without its problem.
        orphans = conn.execute("SELECT COUNT(*) FROM problems WHERE id NOT IN (SELECT problem_id FROM reports)"
                               ).fetchone()[0]
        strays = conn.execute("SELECT COUNT(*) FROM reports WHERE problem_id NOT IN (SELECT id FROM problems)"
                              ).fetchone()[0]
    assert reports > 20 and orphans == 0 and strays == 0
    messages: list[str] = []
    with ReportIndex(path, on_message=messages.append) as index:
        assert _record(index, "BUG: problem 1") is False
        assert _record(index, "BUG: never seen") is True
        assert len(index.reports()) == reports + 2
    assert messages == []


DISK_FULL = textwrap.dedent("""
    import json, os, resource, signal, sys
    from oopswatch.sinks.index import ReportIndex
    path, how = sys.argv[1], sys.argv[2]
    filler = os.path.join(os.path.dirname(path), "filler")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)

    def fill():
        if how == "tmpfs":
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, bytes(4096))
            except OSError:
                pass
            os.close(fd)
        else:  # no tmpfs: no file may grow past one byte
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))

    def free():
        if how == "tmpfs":
            os.unlink(filler)
        else:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))

    messages = []
    index = ReportIndex(path, on_message=messages.append)
    def record(title, when):
        return index.record(board="rpi4", build=None, boot="b1", time=when, kind="bug", title=title,
                            crash=True, corrupted=False, report_dir="/r/" + title, console_log="/c")
    result = {"before": record("BUG: A", 1)}
    fill()
    result["full"] = [record("BUG: B", 2), record("BUG: A", 3), record("BUG: C", 4), record("BUG: B", 5)]
    result["error"], result["held"], result["messages_when_full"] = index.last_error, index.held, list(messages)
    free()
    result["after"] = record("BUG: D", 6)
    result["error_after"], result["held_after"], result["messages"] = index.last_error, index.held, messages
    result["titles"] = [report.title for report in index.reports()]
    index.close()
    print(json.dumps(result))
""")


def test_a_full_disk_holds_reports_with_one_message_and_catches_up(tmp_path):
    directory = tmp_path / "small"
    directory.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(directory)],
                             capture_output=True).returncode == 0
    try:
        child = subprocess.run([sys.executable, "-c", DISK_FULL, str(directory / INDEX_NAME),
                                "tmpfs" if mounted else "rlimit"], capture_output=True, text=True, cwd=REPO, timeout=30)
    finally:
        if mounted:
            subprocess.run(["umount", str(directory)], check=True)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["before"] is True
    # New or not is still answered while the disk is full, from the titles seen so far.
    assert result["full"] == [True, False, True, False]
    error = result["error"]
    assert error.startswith(f"report index {directory / INDEX_NAME}: ") and "\n" not in error
    assert ("database or disk is full" if mounted else "disk I/O error") in error
    assert result["held"] == 4
    assert result["messages_when_full"] == [error]  # once, not once per report
    assert result["after"] is True and result["error_after"] is None and result["held_after"] == 0
    assert result["messages"][1:] == [f"report index {directory / INDEX_NAME}: recording again; "
                                      "wrote the 5 reports that were waiting"]
    assert result["titles"] == ["BUG: D", "BUG: B", "BUG: C", "BUG: A", "BUG: B", "BUG: A"]


def test_a_locked_database_does_not_block_or_raise(tmp_path):
    path = tmp_path / INDEX_NAME
    messages: list[str] = []
    index = ReportIndex(path, on_message=messages.append, busy_timeout=0.05)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        assert _record(index, "BUG: A") is True  # answered at once, without waiting for the lock
        assert _record(index, "BUG: A") is False
        assert index.held == 2 and "database is locked" in index.last_error
        assert len(messages) == 1
        other.execute("ROLLBACK")
        assert _record(index, "BUG: B", time=T0 + 1) is True
        assert index.last_error is None and index.held == 0
        assert [p.count for p in index.problems()] == [1, 2]
        assert len(messages) == 2 and "recording again" in messages[1]
    finally:
        other.close()
        index.close()


def test_a_garbage_file_is_moved_aside_and_a_new_index_started(tmp_path):
    path = tmp_path / INDEX_NAME
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    messages: list[str] = []
    with ReportIndex(path, on_message=messages.append) as index:
        assert _record(index, "BUG: A") is True
        assert index.last_error is None
    [aside] = tmp_path.glob(INDEX_NAME + ".corrupt-*")
    assert aside.read_bytes() == garbage
    assert len(messages) == 1 and "\n" not in messages[0]
    assert "corrupt (file is not a database)" in messages[0] and f"moved aside to {aside.name}" in messages[0]
    assert _integrity(path) == ["ok"]


def test_damaged_pages_are_found_when_the_index_is_opened(tmp_path):
    path = tmp_path / INDEX_NAME
    with ReportIndex(path) as index:
        for number in range(60):
            _record(index, f"BUG: problem number {number} " + "x" * 500, time=T0 + number)
    assert path.stat().st_size > 8 * 4096
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'reports_by_time'").fetchone() == (6,)
    conn.close()
    with open(path, "r+b") as damaged:  # page 6, the index by time: nothing reads it on opening but the check
        damaged.seek(5 * 4096)
        damaged.write(b"\xa5" * 4096)
    messages: list[str] = []
    with ReportIndex(path, on_message=messages.append) as index:
        assert len(messages) == 1  # found by the check on opening, before a write stumbles on it
        assert _record(index, "BUG: problem number 1 " + "x" * 500) is True  # history is in the damaged file
        assert len(index.reports()) == 1
    assert len(messages) == 1 and "corrupt" in messages[0] and "moved aside" in messages[0]
    assert len(list(tmp_path.glob(INDEX_NAME + ".corrupt-*"))) == 1


def test_an_unwritable_place_is_a_message_not_an_exception(tmp_path):
    (tmp_path / "file").write_text("")
    messages: list[str] = []
    index = ReportIndex(tmp_path / "file" / INDEX_NAME, on_message=messages.append)
    assert _record(index, "BUG: A") is True
    assert _record(index, "BUG: A") is False
    assert index.held == 2 and messages == [index.last_error]
    assert f"Not a directory: {tmp_path / 'file'};" in index.last_error
    index.close()
    assert messages[1:] == [f"report index {tmp_path / 'file' / INDEX_NAME}: closing with 2 reports not indexed"]


# -- oopswatch reports ---------------------------------------------------------------------------------

def _reports(*argv: str) -> str:
    parser = argparse.ArgumentParser()
    add_reports_arguments(parser)
    out = io.StringIO()
    assert run_reports_command(parser.parse_args(argv), out) == 0
    return out.getvalue()


@pytest.fixture
def lab_index(tmp_path) -> Path:
    with ReportIndex(tmp_path / INDEX_NAME) as index:
        _record(index, "BUG: kernel NULL pointer dereference in lkdtm_EXCEPTION", "rpi4", T0)
        _record(index, "BUG: kernel NULL pointer dereference in lkdtm_EXCEPTION", "bbb", T0 + 600, build="v6.2")
        _record(index, "WARNING in lkdtm_WARNING", "rpi4", T0 + 300, kind="warning")
        _record(index, "oom-kill: sh", "rpi4", T0 + 900, kind="oom", crash=False)
    return tmp_path


def test_reports_table_lists_crash_problems_newest_first(lab_index):
    lines = _reports("--output", str(lab_index)).splitlines()
    assert lines[0].split() == ["COUNT", "LAST", "SEEN", "FIRST", "SEEN", "KIND", "BOARDS", "BUILDS", "TITLE"]
    assert len(lines) == 3  # the OOM kill is not a crash
    assert lines[1].split()[:1] + lines[1].split()[5:] == [
        "2", "bug", "bbb,rpi4", "v6.1,v6.2", "BUG:", "kernel", "NULL", "pointer", "dereference", "in",
        "lkdtm_EXCEPTION"]
    assert lines[1][lines[0].index("LAST SEEN"):].startswith("2026-11-24 10:10")
    assert lines[2].endswith("WARNING in lkdtm_WARNING")
    assert lines[1].index("BUG:") == lines[2].index("WARNING") == lines[0].index("TITLE")  # aligned


def test_reports_all_json_board_kind_and_since(lab_index):
    index = str(lab_index / INDEX_NAME)
    everything = [json.loads(line) for line in _reports("--index", index, "--all", "--json").splitlines()]
    assert [(p["title"], p["count"]) for p in everything] == [
        ("oom-kill: sh", 1), ("BUG: kernel NULL pointer dereference in lkdtm_EXCEPTION", 2),
        ("WARNING in lkdtm_WARNING", 1)]
    assert datetime.fromisoformat(everything[1]["first_seen"]).timestamp() == T0
    assert everything[1]["boards"] == ["bbb", "rpi4"] and everything[1]["crash"] is True
    on_bbb = [json.loads(line) for line in _reports("--index", index, "--board", "bbb", "--json").splitlines()]
    assert [(p["title"], p["builds"]) for p in on_bbb] == [
        ("BUG: kernel NULL pointer dereference in lkdtm_EXCEPTION", ["v6.2"])]
    assert "oom-kill: sh" in _reports("--index", index, "--kind", "oom")  # naming a kind shows it, crash or not
    late = _reports("--index", index, "--since", "2026-11-24T10:07", "--json").splitlines()
    assert [json.loads(line)["count"] for line in late] == [1]
    assert _reports("--index", index, "--since", "2026-11-25") == f"{index}: no crash reports match the filters\n"


def test_parse_since():
    now = T0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("2h", now) == now - 7200
    assert parse_since("7d", now) == now - 7 * 86400
    assert parse_since("2026-11-24") == datetime(2026, 11, 24).timestamp()
    assert parse_since("2026-11-24T10:00") == T0
    assert parse_since("2026-11-24T10:00+00:00") == datetime.fromisoformat("2026-11-24T10:00+00:00").timestamp()
    with pytest.raises(InputError, match="--since 'yesterday': not a date"):
        parse_since("yesterday")


def test_reports_on_a_missing_or_broken_index_is_one_line_input_error(tmp_path):
    with pytest.raises(InputError) as missing:
        _reports("--output", str(tmp_path / "nowhere"))
    assert str(missing.value).startswith(f"{tmp_path / 'nowhere' / INDEX_NAME}: no report index here")
    assert missing.value.exit_code == 2
    broken = tmp_path / "broken.sqlite"
    broken.write_bytes(b"not a database" * 500)
    with pytest.raises(InputError, match="cannot read the report index: file is not a database"):
        _reports("--index", str(broken))
    assert broken.read_bytes() == b"not a database" * 500  # a reader never moves the file
    assert list(tmp_path.glob("*.corrupt-*")) == []
    with pytest.raises(SystemExit):
        _reports("--index", str(broken), "--output", str(tmp_path))


def test_text_sqlite_cannot_store_is_escaped_not_raised(tmp_path):
    with ReportIndex(tmp_path / INDEX_NAME) as index:
        assert index.record(board="rpi4", build=None, boot=None, time=T0, kind="bug", title="BUG: bad \udcff byte",
                            crash=True, corrupted=False, report_dir=Path("/out/\udcfe")) is True
        [row] = index.reports()
        assert index.last_error is None and index.held == 0
    assert (row.title, row.report_dir) == ("BUG: bad \\udcff byte", "/out/\\udcfe")
