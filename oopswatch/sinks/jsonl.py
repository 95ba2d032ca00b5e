"""JSON reports: one object per report, one report per line."""

from __future__ import annotations

import json

from oopswatch.decode import DecodedReport


def format_json(decoded: DecodedReport) -> str:
    return json.dumps(decoded.to_json(), sort_keys=False)
