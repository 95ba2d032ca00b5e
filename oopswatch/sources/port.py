"""From a port string to its byte source: `unix:PATH`, a pyserial URL or device, a
file, or `-` for stdin."""

from __future__ import annotations

import os
from pathlib import Path

from oopswatch.boards import SerialSettings
from oopswatch.sources.base import ByteSource


def open_source(port: str, settings: SerialSettings) -> ByteSource:
    """The source for `port` (not opened yet: the watcher opens it, and again after a loss)."""
    from oopswatch.sources.file import FileSource
    from oopswatch.sources.serial_port import SerialSource
    from oopswatch.sources.unix_socket import UnixSocketSource

    if port == "-":
        return FileSource("-")
    if port.startswith("unix:"):
        return UnixSocketSource(port[len("unix:"):])
    if "://" in port or port.startswith("/dev/"):
        return SerialSource(port, settings)
    if os.path.isfile(port):
        return FileSource(port)
    return SerialSource(port, settings)  # a device path outside /dev (a symlink), or a mistake pyserial will name


def port_name(port: str) -> str:
    """A directory name for a board without a config: ttyUSB0, pts-3, host-4000, stdin."""
    if port == "-":
        return "stdin"
    name = port.split("://")[-1].split(":", 1)[-1] if port.startswith("unix:") else port.split("://")[-1]
    path = Path(name)
    if path.parent.name == "pts":  # /dev/pts/3: "3" alone would say nothing
        return f"pts-{path.name}"
    return path.name.replace(":", "-") or "console"
