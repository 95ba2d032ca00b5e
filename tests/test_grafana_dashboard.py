"""contrib/grafana/oopswatch-rack.json asks Prometheus only for metrics and labels that
`oopswatch rack --metrics-port` exports (the exposition of a real RackMetrics)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from oopswatch.sinks.board_status import STATES, BoardSnapshot, RackSnapshot
from oopswatch.sinks.metrics import RackMetrics

DASHBOARD = Path(__file__).resolve().parent.parent / "contrib" / "grafana" / "oopswatch-rack.json"


def exported() -> dict[str, set[str]]:
    """Sample name ▶ its label names, as a scrape of a rack with two boards sees them."""
    boards = (BoardSnapshot("rpi4-01", "crashed", "v6.1", 12.0, 1, 100, 10, 1, 2, {"bug": 1}),
              BoardSnapshot("rpi4-02", "up", "v6.1", 50.0, 0, 200, 20, 0, 0, {}))
    metrics = RackMetrics(lambda: RackSnapshot(boards, 1, Path("/out")))
    samples: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(generate_latest(metrics.registry).decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, set()).update(sample.labels)
    return samples


def expressions(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        if isinstance(node.get("definition"), str):
            found.append(node["definition"])
        return found + [expr for value in node.values() for expr in expressions(value)]
    if isinstance(node, list):
        return [expr for value in node for expr in expressions(value)]
    return []


def test_the_grafana_dashboard_uses_only_exported_metrics_and_labels():
    dashboard = json.loads(DASHBOARD.read_text())
    samples = exported()
    found = expressions(dashboard)
    assert len(found) == 13  # eleven panels and two variables
    used_names = set()
    for expr in found:
        for name in re.findall(r"\boopswatch_\w+", expr):
            used_names.add(name)
            assert name in samples, f"{name} in {expr!r} is not exported"
        for name, selector in re.findall(r"\b(oopswatch_\w+)\{([^}]*)\}", expr):
            labels = set(re.findall(r"(\w+)\s*=~?", selector)) - {"job"}  # job is Prometheus's own
            assert labels <= samples[name], f"{expr!r}: labels {labels - samples[name]} not exported"
        for labels in re.findall(r"\bby \(([^)]*)\)", expr):
            assert {label.strip() for label in labels.split(",")} <= {"board", "kind", "state"}, expr
    assert used_names == {"oopswatch_board_state", "oopswatch_reports_total", "oopswatch_console_bytes_total",
                          "oopswatch_console_lines_total", "oopswatch_reconnects_total", "oopswatch_reboots_total"}
    states = [re.search(r'state=~?"([^"]+)"', expr) for expr in found]
    for match in filter(None, states):
        assert set(match.group(1).split("|")) <= set(STATES)
