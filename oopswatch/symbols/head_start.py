"""A head start for one short decode: addr2line is started on the vmlinux, and asked
about the functions the log names, before the rest of oopswatch is imported.

For `oopswatch scan --vmlinux ...` on a log, addr2line's own work (reading tens of
megabytes of debug info, then one compile unit per function) is most of the command's
time; started first, it runs beside Python's imports and the detector instead of after
them. Nothing is decided here: the build is chosen and verified later as always, and
what it does not use is stopped (addr2line_process.stop_started_ahead).
"""

from __future__ import annotations

import contextlib

from oopswatch.errors import InputError
from oopswatch.sources.file import read_log_start
from oopswatch.symbols.addr2line_process import ask_ahead, start_ahead


def start_addr2line_ahead(vmlinux: str, system_map: str | None, log: str) -> None:
    """Start addr2line on `vmlinux`, then ask it about the functions the start of
    `log` (a saved log file) names, as `system_map` places them. Errors are left to the
    full load and the scan, which report them."""
    if not start_ahead(vmlinux) or not system_map:
        return
    text = read_log_start(log)
    if not text:
        return
    from oopswatch.symbols.system_map import load_system_map

    with contextlib.suppress(InputError):  # a bad map: the full load says so
        ask_ahead(vmlinux, load_system_map(system_map).named_addresses(text))
