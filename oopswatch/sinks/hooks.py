"""Hooks for new problems: run a command with the report JSON on its stdin, or POST the
JSON to a webhook.

Hooks are the user's code and the network, so they run on one background thread
behind a bounded queue: a slow or hanging hook never blocks the watcher, each run is
killed (with its whole process group) after a timeout, and a failure is a one-line
message to `on_error`, never an exception. Commands are argument lists run without a
shell, so a report title can never become shell syntax.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import shlex
import signal
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence

from oopswatch import __version__
from oopswatch.decode import DecodedReport
from oopswatch.errors import InputError

DEFAULT_TIMEOUT = 30.0
DEFAULT_QUEUE_SIZE = 100
_STOP = object()


def hook_payload(decoded: DecodedReport, *, board: str, build: str | None, boot: str | None,
                 report_dir: str | os.PathLike[str] | None = None,
                 console_log: str | os.PathLike[str] | None = None) -> dict:
    """What a hook receives: the report's JSON plus where it came from and where it is on disk.

    `build` is the watcher's name for the running build; it goes in `build_name`, because the
    report's own `build` field describes the build that decoded it (or None)."""
    return {**decoded.to_json(), "board": board, "build_name": build, "boot": boot,
            "report_dir": None if report_dir is None else os.fspath(report_dir),
            "console_log": None if console_log is None else os.fspath(console_log)}


class HookRunner:
    """Runs every command and webhook for each submitted report, in order, on one worker thread.

    `on_error` is called from the worker thread (or from `submit` when the queue is full)."""

    def __init__(self, commands: Sequence[Sequence[str]] = (), webhooks: Sequence[str] = (),
                 timeout: float = DEFAULT_TIMEOUT, on_error: Callable[[str], None] | None = None,
                 queue_size: int = DEFAULT_QUEUE_SIZE):
        self.commands = [_checked_command(command) for command in commands]
        self.webhooks = [_checked_url(url) for url in webhooks]
        self.timeout = timeout
        self.on_error = on_error
        self.last_error: str | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._opener = urllib.request.build_opener()  # honours http(s)_proxy and no_proxy
        self._running: subprocess.Popen | None = None
        self._abandon = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        if self.commands or self.webhooks:
            self._thread = threading.Thread(target=self._work, name="oopswatch-hooks", daemon=True)
            self._thread.start()

    def submit(self, report_json: dict) -> None:
        """Queue the hooks for one report; returns at once."""
        if self._thread is None:
            return
        title = str(report_json.get("title", "?"))
        if self._closed:
            self._error(f"hooks: closed; not running the hooks for {title!r}")
            return
        try:
            data = json.dumps(report_json, default=str).encode()
        except (TypeError, ValueError) as error:
            self._error(f"hooks: cannot encode the report {title!r} as JSON: {error}")
            return
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            self._error(f"hooks: {self._queue.maxsize} reports already waiting for slow hooks; "
                        f"skipped the hooks for {title!r}")

    def close(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stop the worker. wait=True lets queued hooks finish (up to `timeout` seconds);
        wait=False drops them and kills a running command."""
        if self._closed or self._thread is None:
            self._closed = True
            return
        self._closed = True
        if not wait:
            self._abandon.set()
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
            running = self._running
            if running is not None:
                _kill_group(running)
        try:
            self._queue.put(_STOP, timeout=timeout)
        except queue.Full:
            return  # still busy after `timeout`: the daemon thread carries on until the process exits
        if wait:
            self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            data = self._queue.get()
            if data is _STOP:
                return
            runs = [(self._run_command, command) for command in self.commands]
            runs += [(self._post, url) for url in self.webhooks]
            for run, hook in runs:
                if self._abandon.is_set():
                    break
                try:
                    run(hook, data)
                except Exception as error:  # a surprise must not end the worker, and with it every later hook
                    self._error(f"hook {_shorten(str(hook))}: {type(error).__name__}: {error}")

    def _run_command(self, command: list[str], data: bytes) -> None:
        name = f"hook {_shorten(shlex.join(command))}"
        try:
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.PIPE, start_new_session=True)
        except OSError as error:
            self._error(f"{name}: cannot run it: {error.strerror or error}")
            return
        self._running = process
        if self._abandon.is_set():  # close(wait=False) came in while it was starting
            _kill_group(process)
        try:
            _, stderr = process.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            process.wait()
            self._error(f"{name}: still running after {self.timeout:g} s; killed it")
            return
        except OSError as error:
            _kill_group(process)
            process.wait()
            self._error(f"{name}: {_reason(error)}")
            return
        finally:
            self._running = None
            for pipe in (process.stdin, process.stderr):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if process.returncode != 0 and not self._abandon.is_set():
            status = (f"killed by signal {-process.returncode}" if process.returncode < 0
                      else f"exit status {process.returncode}")
            last = _last_line(stderr)
            self._error(f"{name}: {status}" + (f": {last}" if last else ""))

    def _post(self, url: str, data: bytes) -> None:
        name = f"webhook {_site(url)}"  # not the whole URL: webhook URLs often hold a secret token
        request = urllib.request.Request(url, data=data, method="POST", headers={
            "Content-Type": "application/json", "User-Agent": f"oopswatch/{__version__}"})
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(1 << 16)
        except urllib.error.HTTPError as error:
            self._error(f"{name}: HTTP {error.code} {error.reason}")
        except urllib.error.URLError as error:
            self._error(f"{name}: {_reason(error.reason)}")
        except (OSError, http.client.HTTPException, ValueError) as error:
            self._error(f"{name}: {_reason(error)}")

    def _error(self, message: str) -> None:
        message = " ".join(message.split())
        self.last_error = message
        if self.on_error is not None:
            with contextlib.suppress(Exception):  # a failing callback must not stop the worker
                self.on_error(message)


def _checked_command(command: Sequence[str]) -> list[str]:
    if isinstance(command, str | bytes):
        raise InputError(f"hook command {command!r}: give an argument list, not a shell string")
    argv = [str(part) for part in command]
    if not argv or not argv[0]:
        raise InputError("hook command is empty")
    return argv


def _checked_url(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InputError(f"webhook {url!r}: not an http:// or https:// URL")
    return url


def _kill_group(process: subprocess.Popen) -> None:
    """Kill the hook and whatever it started (it leads its own session)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def _site(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason) or type(reason).__name__


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode(errors="replace").strip().splitlines()
    return _shorten(lines[-1].strip()) if lines else ""


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
