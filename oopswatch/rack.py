"""Many boards in one process: every port read by the one console loop (one thread),
a report worker per board, one report index, hooks for new problems, a status view
and metrics.

Boards never wait for each other or for the index: the loop only writes each board's
bytes to its console log and runs the detector; each board's reports are decoded and
written by its own worker, which hands them to a queue that one index thread drains
(SQLite trouble delays the index, never a console). The index is the output directory's
reports.sqlite, or a lab's database (`index:`), to which the rack also publishes its
boards' state for the dashboard.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import queue
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from oopswatch import DEFAULT_OUTPUT
from oopswatch.boards import Board, SerialSettings, console_settings, find_board
from oopswatch.build_choice import BuildChooser, close_loaded_builds
from oopswatch.console_loop import ConsoleLoop
from oopswatch.decode import DecodedReport
from oopswatch.errors import InputError
from oopswatch.log import ROOT, board_logger, messages_to
from oopswatch.names import check_name
from oopswatch.output_lock import OutputLock
from oopswatch.report_worker import DEFAULT_BUDGET
from oopswatch.sinks.board_status import BoardSnapshot, RackSnapshot
from oopswatch.sinks.hooks import HookRunner, hook_payload
from oopswatch.sinks.index import ReportIndex, check_index_target, is_database_url, open_index
from oopswatch.sources.port import open_source
from oopswatch.stop_signals import stop_on_signals
from oopswatch.watch import BootSession, Watcher, WatchOptions
from oopswatch.yaml_config import check_keys, load_yaml_mapping

log = logging.getLogger(f"{ROOT}.rack")

_RACK_KEYS = {"output": str, "boards": list, "hooks": dict, "metrics_port": int, "boards_dirs": list, "index": str,
              "host": str, "report_budget": int}
_ENTRY_KEYS = {"name": str, "board": str, "port": str, "baud": int, "system_map": str, "vmlinux": str,
               "modules": str, "report_budget": int}
_HOOK_KEYS = {"commands": list, "webhooks": list, "timeout": (int, float)}


@dataclass
class RackEntry:
    name: str
    port: str
    board: Board | None
    settings: SerialSettings
    symbols: dict | None = None
    report_budget: int = DEFAULT_BUDGET  # new report directories a minute (0: no limit)


@dataclass
class RackConfig:
    file: Path
    entries: list[RackEntry]
    output: Path
    hook_commands: list[list[str]] = field(default_factory=list)
    webhooks: list[str] = field(default_factory=list)
    hook_timeout: float = 30.0
    metrics_port: int | None = None
    index: str | None = None  # a postgresql:// URL or an index file; None: output/reports.sqlite
    host: str | None = None  # this rack's name in a shared index; None: the machine's name


def load_rack(path: str | os.PathLike[str], extra_board_dirs: list[str] | None = None) -> RackConfig:
    """A rack file: the boards to watch (board config name, port, overrides), where the
    output goes, and the hooks. Problems name the file and the entry."""
    path = Path(path)
    data = load_yaml_mapping(path, InputError, "rack settings with a 'boards' list")
    _check(path, data, _RACK_KEYS, "")
    budget = _budget(path, data, "report_budget", DEFAULT_BUDGET)
    board_dirs = [str((path.parent / directory).resolve()) for directory in data.get("boards_dirs", [])]
    board_dirs += extra_board_dirs or []
    entries: list[RackEntry] = []
    for index, item in enumerate(data.get("boards") or []):
        where = f"boards[{index}]"
        if not isinstance(item, dict):
            raise InputError(f"{path}: {where}: expected a mapping with 'port' and 'board' or 'name'")
        _check(path, item, _ENTRY_KEYS, f"{where}.")
        board = find_board(item["board"], board_dirs) if "board" in item else None
        name = item.get("name") or (board.name if board else None)
        if not name:
            raise InputError(f"{path}: {where}: give a 'name' (or a 'board')")
        check_name(name, f"{path}: {where}.name" if "name" in item else f"{path}: {where} (the board's name)")
        port = item.get("port") or (board.console.port if board else None)
        if not port:
            raise InputError(f"{path}: {where} ({name}): no 'port', and the board config has none")
        settings = console_settings(board, port, item.get("baud"))
        symbols = {key: item[source] for key, source in (("system_map", "system_map"), ("vmlinux", "vmlinux"),
                                                          ("modules_dir", "modules")) if source in item} or None
        entries.append(RackEntry(name, port, board, settings, symbols,
                                 _budget(path, item, "report_budget", budget, f"{where}.")))
    if not entries:
        raise InputError(f"{path}: no boards listed")
    names = [entry.name for entry in entries]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"{path}: board names must be unique; repeated: {', '.join(duplicates)}")
    hooks = data.get("hooks") or {}
    _check(path, hooks, _HOOK_KEYS, "hooks.")
    if "timeout" in hooks and hooks["timeout"] <= 0:
        raise InputError(f"{path}: hooks.timeout: {hooks['timeout']!r}: give the seconds a hook may run, more than 0")
    output = path.parent / data["output"] if data.get("output") else Path(DEFAULT_OUTPUT)  # relative to the file
    index = data.get("index")
    if index:
        check_index_target(index, f"{path}: index:")
        index = index if is_database_url(index) else str(path.parent / index)
    return RackConfig(path, entries, output, [list(map(str, command)) for command in hooks.get("commands", [])],
                      [str(url) for url in hooks.get("webhooks", [])], float(hooks.get("timeout", 30.0)),
                      data.get("metrics_port"), index or None, data.get("host") or None)


def _check(path: Path, data: Any, schema: dict[str, Any], prefix: str) -> None:
    check_keys(path, data, schema, prefix, InputError)


def _budget(path: Path, data: dict, key: str, default: int, prefix: str = "") -> int:
    value = data.get(key, default)
    if value < 0:
        raise InputError(f"{path}: {prefix}{key}: {value}: give the new report directories a board may make a "
                         "minute (0: no limit)")
    return value


# -- running ---------------------------------------------------------------------------

BOOTING_SECONDS = 30.0
# With many boards, the loop lets a trickle of console bytes gather for a moment after
# each wake-up that read some: far fewer wake-ups, reads and writes for the same bytes
# (bench/rack_soak.py), and reports a quarter of a second later.
RACK_GATHER = 0.25
PUBLISH_SECONDS = 5.0  # how often the boards' state goes to the index


@dataclass
class BoardState:
    """One board of the rack: its watcher and what the snapshot needs."""

    name: str
    watcher: Watcher
    reports_by_kind: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count_report(self, report: DecodedReport) -> None:
        with self.lock:
            self.reports_by_kind[report.kind] += 1

    def snapshot(self) -> BoardSnapshot:
        watcher = self.watcher
        session = watcher.session
        choice = watcher.chooser.choice
        with self.lock:
            by_kind = dict(self.reports_by_kind)
        disk = watcher.disk_trouble or watcher.worker.disk_trouble
        return BoardSnapshot(
            name=self.name, state=self._state(), build=choice.candidates[0].name if choice.candidates else "-",
            uptime=time.time() - session.started if session is not None and session.banner is not None else None,
            reports_this_boot=session.reports if session is not None else 0,
            console_bytes=watcher.bytes, console_lines=watcher.lines, reconnects=watcher.reconnects,
            reboots=max(0, watcher.boots - 1), reports_by_kind=by_kind, disk_trouble=disk,
            console_bytes_lost=watcher.retired_bytes_lost + sum(s.log.lost_bytes for s in list(watcher.sessions)),
            reports_over_budget=watcher.worker.total_over_budget,
            boot=session.directory.name if session is not None else None)

    def _state(self) -> str:
        watcher = self.watcher
        if watcher.ended:
            return "failed" if not watcher.stop_event.is_set() else "disconnected"
        if not watcher.connected:
            return "disconnected" if watcher.session is not None else "connecting"
        session = watcher.session
        if session is None:
            return "connecting"
        if session.crashes:
            return "crashed"
        if session.banner is not None and time.time() - session.started < BOOTING_SECONDS:
            return "booting"
        return "up"


class Rack:
    def __init__(self, config: RackConfig, out: TextIO = sys.stdout):
        self.config = config
        self.out = out
        self.boards: list[BoardState] = []
        self._records: queue.Queue[Callable[[], None] | None] = queue.Queue()  # the index thread's work
        self.index: ReportIndex | None = None
        self.hooks: HookRunner | None = None
        self.new_problems = 0
        self.loop = ConsoleLoop(gather=RACK_GATHER)
        self._loop_thread = threading.Thread(target=self._run_loop, name="oopswatch-consoles", daemon=True)
        self._index_thread = threading.Thread(target=self._index_worker, name="oopswatch-index", daemon=True)

    def snapshot(self) -> RackSnapshot:
        """The rack as the status view and the metrics show it; safe from any thread."""
        return RackSnapshot(tuple(board.snapshot() for board in list(self.boards)), self.new_problems,
                            self.config.output)

    def start(self) -> None:
        config = self.config
        self.index = open_index(config.output, config.index, on_message=lambda m: log.warning("index: %s", m),
                                host=config.host)
        if config.hook_commands or config.webhooks:
            self.hooks = HookRunner(config.hook_commands, config.webhooks, timeout=config.hook_timeout,
                                    on_error=lambda m: log.warning("hook: %s", m))
        self._index_thread.start()
        for entry in config.entries:
            board = self._board(entry)
            self.boards.append(board)
            self.loop.add(board.watcher)
        self._loop_thread.start()

    def _board(self, entry: RackEntry) -> BoardState:
        chooser = BuildChooser(entry.board if entry.symbols is None else None, entry.symbols, strict=False)
        options = WatchOptions(board=entry.name, output=self.config.output, echo=False, color=False,
                               arch=entry.board.arch if entry.board else None, retry_open=True,
                               budget=entry.report_budget)
        state = BoardState(entry.name, None)  # type: ignore[arg-type]

        def on_report(report: DecodedReport, session: BootSession, directory: Path) -> None:
            state.count_report(report)
            self._records.put(functools.partial(self._record, entry.name, report, session, directory))

        def on_repeat(session: BootSession, directory: Path, title: str, count: int, last_seen: float) -> None:
            if self.index is not None:
                self._records.put(functools.partial(self.index.record_repeat, board=entry.name,
                                                    boot=session.directory.name, title=title, time=last_seen,
                                                    count=count))

        state.watcher = Watcher(open_source(entry.port, entry.settings), chooser, options, out=None,
                                on_report=on_report, on_repeat=on_repeat)
        return state

    def _run_loop(self) -> None:
        try:
            self.loop.run()
        except Exception:  # never expected: each watcher's errors stay its own
            log.exception("the console loop stopped")

    def _index_worker(self) -> None:
        while True:
            item = self._records.get()
            if item is None:
                return
            try:
                item()
            except Exception:  # the index must never take the rack down
                log.exception("index: recording a report failed")

    def publish_boards(self, final: bool = False) -> None:
        """Hand the boards' state to the index (for the dashboard), through the index thread."""
        boards = self.snapshot().boards
        if final:
            boards = tuple(dataclasses.replace(board, state="stopped") for board in boards)
        index = self.index
        if index is not None:
            self._records.put(functools.partial(index.publish_boards, boards))

    def _record(self, name: str, report: DecodedReport, session: BootSession, directory: Path) -> None:
        assert self.index is not None
        build = (report.build or {}).get("name")
        where = {"report_dir": str(directory.absolute()),
                 "console_log": str((session.directory / "console.log").absolute())}
        new = self.index.record(board=name, build=build, boot=session.directory.name,
                                time=report.report.start_time or time.time(), kind=report.kind,
                                title=report.title, crash=report.crash, corrupted=report.corrupted, **where)
        if new:
            self.new_problems += 1
            board_logger(name).info("new problem: %s", report.title)
            if self.hooks is not None:
                self.hooks.submit(hook_payload(report, board=name, build=build, boot=session.directory.name,
                                               **where))

    def stop(self) -> None:
        self.loop.stop()
        self._loop_thread.join(timeout=120)
        self.publish_boards(final=True)
        self._records.put(None)  # the index worker's last item
        if self._index_thread.is_alive():
            self._index_thread.join(timeout=10)
        if self.hooks is not None:
            self.hooks.close(wait=True, timeout=10)
        if self.index is not None:
            self.index.close()
        close_loaded_builds()


def run_rack(config: RackConfig, out: TextIO, metrics_port: int | None = None, metrics_address: str | None = None,
             duration: float | None = None, refresh: float = 1.0) -> int:
    """Watch the rack until interrupted (or for `duration` seconds). The status view is
    the terminal's log handler meanwhile."""
    from oopswatch.sinks.metrics import DEFAULT_ADDRESS, RackMetrics
    from oopswatch.sinks.status import StatusView

    with OutputLock(config.output):
        rack = Rack(config, out)
        port = metrics_port if metrics_port is not None else config.metrics_port
        if port is not None:  # before the first board: no report can come before the metrics are there
            RackMetrics(rack.snapshot).serve(port, metrics_address or DEFAULT_ADDRESS)
        view = StatusView(rack.snapshot, out)
        with messages_to(view):
            rack.start()
            started = time.monotonic()
            stop = threading.Event()
            try:
                with stop_on_signals(stop.set, stop.is_set):
                    published = 0.0
                    while not stop.is_set() and (duration is None or time.monotonic() - started < duration):
                        view.update()
                        if time.monotonic() - published >= PUBLISH_SECONDS:
                            rack.publish_boards()
                            published = time.monotonic()
                        stop.wait(refresh)
            except KeyboardInterrupt:  # a second Ctrl-C
                pass
            finally:
                rack.stop()
                view.update(final=True)
    return 0
