"""The rack's status view and Prometheus metrics, from snapshots of the rack."""

from __future__ import annotations

import io
import logging
import re
import socket
import urllib.request
from pathlib import Path

import pytest

from oopswatch.log import board_logger
from oopswatch.sinks.board_status import BoardSnapshot, RackSnapshot
from oopswatch.sinks.metrics import RackMetrics
from oopswatch.sinks.status import StatusView, duration

BOARDS = (
    BoardSnapshot("rpi4-01", "up", "6.1.0-rpi-42", 3723.0, 0, console_bytes=1000, console_lines=20),
    BoardSnapshot("rpi4-02", "crashed", "6.1.0-rpi-42", 90061.0, 2, console_bytes=5000, console_lines=80,
                  reconnects=1, reboots=3, reports_by_kind={"null-deref": 1, "warning": 1}),
    BoardSnapshot("bbb-03", "disconnected", "-", None, 0),
)


def snapshot() -> RackSnapshot:
    return RackSnapshot(BOARDS, new_problems=2, output=Path("/var/lib/oopswatch"))


def test_durations():
    assert [duration(None), duration(59), duration(3723), duration(90061)] == ["-", "0:00:59", "1:02:03", "1d01h"]


def test_plain_lines_tell_state_changes_and_messages_once():
    out = io.StringIO()
    view = StatusView(snapshot, out, tty=False)
    view.emit(logging.LogRecord(board_logger("rpi4-02").name, logging.INFO, __file__, 1, "new problem: %s",
                                ("WARNING in foo",), None))
    view.update()
    view.update()  # nothing changed: nothing more
    lines = [re.sub(r"^\d\d:\d\d:\d\d ", "", line) for line in out.getvalue().splitlines()]
    assert lines == ["rpi4-01: up (build 6.1.0-rpi-42, 0 reports this boot)",
                     "rpi4-02: crashed (build 6.1.0-rpi-42, 2 reports this boot)",
                     "bbb-03: disconnected (build -, 0 reports this boot)",
                     "rpi4-02: new problem: WARNING in foo"]


def _table(width: int, monkeypatch: pytest.MonkeyPatch, no_color: bool) -> str:
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    else:
        monkeypatch.delenv("NO_COLOR", raising=False)
    out = io.StringIO()
    view = StatusView(snapshot, out, tty=True, width=width)
    view.emit(logging.LogRecord("oopswatch.rack", logging.WARNING, __file__, 1, "index: disk full", (), None))
    view.update(final=True)
    return out.getvalue()


def test_the_table_on_a_terminal_has_every_board_and_the_messages(monkeypatch):
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _table(100, monkeypatch, no_color=False))
    assert "oopswatch rack: 3 boards, 2 new problems, output /var/lib/oopswatch (stopped)" in text
    for board in BOARDS:
        assert re.search(rf"{re.escape(board.name)}\s+\S\s+{board.state}\s+\S\s+{re.escape(board.build)}", text)
    assert re.search(r"rpi4-02 .* 1d01h\s+\S\s+2\s", text)
    assert "index: disk full" in text


def test_the_table_keeps_within_the_terminal_width(monkeypatch):
    for width in (40, 60, 100):
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", _table(width, monkeypatch, no_color=True))
        assert max(len(line) for line in text.splitlines()) <= width


def test_no_color_means_no_colour_escapes(monkeypatch):
    coloured = _table(100, monkeypatch, no_color=False)
    plain = _table(100, monkeypatch, no_color=True)
    assert re.search(r"\x1b\[[0-9;]*3[1-3]m", coloured)  # red, green, yellow states
    assert not re.search(r"\x1b\[(?:[0-9]+;)*(?:3[0-8]|9[0-7])[;m]", plain)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_metrics_are_read_from_the_snapshot_and_served_on_localhost():
    port = _free_port()
    RackMetrics(snapshot).serve(port)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
               for line in text.splitlines() if line and not line.startswith("#")}
    assert samples['oopswatch_console_bytes_total{board="rpi4-02"}'] == 5000
    assert samples['oopswatch_console_lines_total{board="rpi4-01"}'] == 20
    assert samples['oopswatch_reconnects_total{board="rpi4-02"}'] == 1
    assert samples['oopswatch_reboots_total{board="rpi4-02"}'] == 3
    assert samples['oopswatch_reports_total{board="rpi4-02",kind="null-deref"}'] == 1
    assert samples['oopswatch_board_state{board="bbb-03",state="disconnected"}'] == 1
    assert samples['oopswatch_board_state{board="bbb-03",state="up"}'] == 0
    addresses = {info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)}
    for address in addresses - {"127.0.0.1"}:  # not on the machine's other interfaces
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()
