"""Symbols named directly (--system-map, --vmlinux, --modules, or a rack entry's keys)
rather than through a board config."""

from __future__ import annotations

from oopswatch.errors import InputError


def explicit_symbols(system_map: str | None, vmlinux: str | None, modules: str | None) -> dict | None:
    """The given files as `load_kernel_symbols` arguments; None when none are given."""
    if not (system_map or vmlinux):
        if modules:
            raise InputError("--modules needs --system-map or --vmlinux as well")
        return None
    options = {"system_map": system_map, "vmlinux": vmlinux, "modules_dir": modules}
    return {key: value for key, value in options.items() if value}
