"""Prometheus metrics for the rack, per board: bytes, lines, reports by kind,
reconnects, reboots and the board's state, for the dashboards labs already run.

Counters are read from the rack's snapshot when Prometheus scrapes (a custom
collector), so the watchers' hot path does no metrics work at all. The server listens
on 127.0.0.1 unless told otherwise, and is started before the first board is watched.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from oopswatch.sinks.board_status import STATES, RackSnapshot

DEFAULT_ADDRESS = "127.0.0.1"


class RackMetrics:
    def __init__(self, snapshot: Callable[[], RackSnapshot]):
        self.snapshot = snapshot
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def collect(self):
        counters = {name: CounterMetricFamily(f"oopswatch_{name}", help_text, labels=["board"])
                    for name, help_text in (("console_bytes", "Console bytes received"),
                                            ("console_lines", "Console lines received"),
                                            ("reconnects", "Times the console came back after going away"),
                                            ("reboots", "Boots seen after the first"),
                                            ("console_bytes_lost", "Console bytes dropped while the disk refused "
                                             "them and memory was full"),
                                            ("reports_over_budget", "Reports counted by title without a report "
                                             "directory (over the board's budget)"))}
        reports = CounterMetricFamily("oopswatch_reports", "Kernel reports written", labels=["board", "kind"])
        state = GaugeMetricFamily("oopswatch_board_state", "1 for the board's current state",
                                  labels=["board", "state"])
        disk = GaugeMetricFamily("oopswatch_disk_trouble", "1 while the board's console log or reports cannot be "
                                 "written (disk full, I/O error)", labels=["board"])
        for board in self.snapshot().boards:
            counters["console_bytes"].add_metric([board.name], board.console_bytes)
            counters["console_lines"].add_metric([board.name], board.console_lines)
            counters["reconnects"].add_metric([board.name], board.reconnects)
            counters["reboots"].add_metric([board.name], board.reboots)
            counters["console_bytes_lost"].add_metric([board.name], board.console_bytes_lost)
            counters["reports_over_budget"].add_metric([board.name], board.reports_over_budget)
            disk.add_metric([board.name], 1.0 if board.disk_trouble else 0.0)
            for name in STATES:
                state.add_metric([board.name, name], 1.0 if name == board.state else 0.0)
            for kind, count in sorted(board.reports_by_kind.items()):
                reports.add_metric([board.name, kind], count)
        yield from counters.values()
        yield reports
        yield state
        yield disk

    def serve(self, port: int, address: str = DEFAULT_ADDRESS) -> None:
        from prometheus_client import start_http_server

        start_http_server(port, addr=address, registry=self.registry)
