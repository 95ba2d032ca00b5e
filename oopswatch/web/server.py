"""`oopswatch serve`: the dashboard app behind uvicorn, on a socket bound before the
server starts, so a busy or wrong address is a one-line error, not a log of a crash."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path

from oopswatch.errors import InputError
from oopswatch.log import ROOT

log = logging.getLogger(f"{ROOT}.serve")
DEFAULT_BIND = "127.0.0.1:8080"


def parse_bind(text: str) -> tuple[str, int]:
    """HOST:PORT, [IPv6]:PORT or :PORT (all interfaces)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--bind {text!r}: give HOST:PORT, such as 127.0.0.1:8080 or [::1]:8080")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def bind(host: str, port: int, text: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InputError(f"--bind {text}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def serve(index: str, files_root: Path | None, bind_text: str = DEFAULT_BIND, refresh: int = 30) -> int:
    """Serve until SIGINT or SIGTERM; the exit code."""
    import uvicorn

    from oopswatch.sinks.index import connect_reader
    from oopswatch.sinks.index.postgres_backend import redacted
    from oopswatch.web.app import create_app

    connect_reader(index).close()  # a wrong or unreachable index is said now, in one line
    host, port = parse_bind(bind_text)
    sock = bind(host, port, bind_text)
    shown = f"[{host}]" if ":" in host else host
    where = f"; files from {files_root}" if files_root is not None else ""
    log.info("dashboard of %s on http://%s:%d/%s", redacted(index), shown, sock.getsockname()[1], where)
    config = uvicorn.Config(create_app(index, files_root, refresh), log_level="warning", access_log=False,
                            lifespan="off", workers=1, timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0


def files_root_for(index: str, output: str | os.PathLike[str] | None) -> Path | None:
    """Where report files are served from: the output directory given, else the directory
    of an index file; a database without --output serves none."""
    if output is not None:
        return Path(output)
    from oopswatch.sinks.index import is_database_url

    return None if is_database_url(index) else Path(index).parent
