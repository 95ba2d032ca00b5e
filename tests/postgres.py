"""A private PostgreSQL server for tests and benchmarks: Debian's `postgresql` binaries,
`initdb` and `pg_ctl` in a temporary directory, listening on 127.0.0.1 on a free port.
PostgreSQL refuses to run as root, so as root (CI) the server runs as the `postgres`
user that Debian's package creates; clients connect over TCP as the `oopswatch` role."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

SERVER_USER = "postgres"  # created by Debian's postgresql package
ROLE = "oopswatch"


def postgres_bindir() -> Path:
    """The newest installed /usr/lib/postgresql/N/bin."""
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda path: int(path.parts[-3]))
    if not versions:
        raise RuntimeError("PostgreSQL is not installed: run ./setup.sh (Debian's postgresql package)")
    return versions[-1].parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PostgresServer:
    """`durable=False` (tests) turns fsync off: a test checks oopswatch, not the disk; a
    benchmark keeps PostgreSQL's defaults."""

    def __init__(self, durable: bool = False) -> None:
        self.durable = durable
        self.bindir = postgres_bindir()
        self.directory = Path(tempfile.mkdtemp(prefix="oopswatch-pg-"))
        self.data = self.directory / "data"
        self.logfile = self.directory / "server.log"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, account.pw_uid, account.pw_gid)
        self._run("initdb", "--pgdata", str(self.data), "--username", ROLE, "--auth", "trust", "--encoding", "UTF8",
                  "--no-sync")

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / program), *args]
        if self.as_root:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        completed = subprocess.run(command, capture_output=True, text=True, cwd=self.directory, timeout=120)
        if completed.returncode != 0:
            log = self.logfile.read_text(errors="replace")[-2000:] if self.logfile.exists() else ""
            raise RuntimeError(f"{program} failed ({completed.returncode}): {completed.stderr.strip()} {log}")
        return completed

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory} -c max_connections=50"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "--pgdata", str(self.data), "--log", str(self.logfile), "--wait", "--options", options,
                  "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast` ends every session at once (clients see their connection dropped)."""
        self._run("pg_ctl", "--pgdata", str(self.data), "--mode", mode, "--wait", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; its URL."""
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        with contextlib.suppress(RuntimeError):
            if self.running():
                self.stop("immediate")
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_server(durable: bool = False) -> Iterator[PostgresServer]:
    """A started server, stopped and removed at the end."""
    server = PostgresServer(durable)
    try:
        server.start()
        yield server
    finally:
        server.remove()
