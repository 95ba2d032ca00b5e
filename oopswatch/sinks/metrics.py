"""Prometheus metrics for the rack, per board: bytes, lines, reports by kind,
reconnects, reboots and the board's state, for the dashboards labs already run.

Counters are read from the watchers when Prometheus scrapes (a custom collector), so
the watchers' hot path does no metrics work at all.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry

from oopswatch.decode import DecodedReport

if TYPE_CHECKING:
    from oopswatch.rack import Rack

STATES = ("connecting", "booting", "up", "crashed", "disconnected", "failed")


class RackMetrics:
    def __init__(self, rack: Rack):
        self.rack = rack
        self.reports: Counter[tuple[str, str]] = Counter()  # (board, kind) ▶ count
        rack.listeners.append(self._on_report)
        self.registry = CollectorRegistry()
        self.registry.register(self)

    def _on_report(self, board: str, report: DecodedReport) -> None:
        self.reports[board, report.kind] += 1

    def collect(self):
        counters = {name: CounterMetricFamily(f"oopswatch_{name}", help_text, labels=["board"])
                    for name, help_text in (("console_bytes", "Console bytes received"),
                                            ("console_lines", "Console lines received"),
                                            ("reconnects", "Times the console came back after going away"),
                                            ("reboots", "Boots seen after the first"))}
        reports = CounterMetricFamily("oopswatch_reports", "Kernel reports written", labels=["board", "kind"])
        state = GaugeMetricFamily("oopswatch_board_state", "1 for the board's current state",
                                  labels=["board", "state"])
        for board in self.rack.boards:
            watcher = board.watcher
            counters["console_bytes"].add_metric([board.name], watcher.bytes)
            counters["console_lines"].add_metric([board.name], watcher.lines)
            counters["reconnects"].add_metric([board.name], watcher.reconnects)
            counters["reboots"].add_metric([board.name], max(0, len(watcher.sessions) - 1))
            current = board.state
            for name in STATES:
                state.add_metric([board.name, name], 1.0 if name == current else 0.0)
        for (board, kind), count in sorted(self.reports.items()):
            reports.add_metric([board, kind], count)
        yield from counters.values()
        yield reports
        yield state

    def serve(self, port: int, address: str = "0.0.0.0") -> None:
        from prometheus_client import start_http_server

        start_http_server(port, addr=address, registry=self.registry)
