"""Hooks for new problems: real commands and a real HTTP server; a slow or broken hook
is a one-line message and never blocks the watcher."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from oopswatch.errors import InputError
from oopswatch.pipeline import scan_chunks
from oopswatch.sinks.hooks import HookRunner, hook_payload

PAYLOAD = {"title": "BUG: kernel NULL pointer dereference in lkdtm_EXCEPTION", "kind": "bug", "crash": True,
           "board": "rpi4", "text": ["BUG: kernel NULL pointer dereference, address: 0000000000000000"]}

COPY_STDIN = "import json, sys; json.dump(json.load(sys.stdin), open(sys.argv[1], 'w'))"

# Writes its own pid and a grandchild's, then hangs: the timeout must kill both.
HANG = textwrap.dedent("""
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(sys.argv[1], "a") as pids:
        pids.write(f"{__import__('os').getpid()} {child.pid}\\n")
    time.sleep(60)
""")


def _gone(pid: int) -> bool:
    """Dead: no such process, or a zombie nobody has reaped yet."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before or while it was read
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def _wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_command_receives_the_report_json_on_stdin(tmp_path):
    received = tmp_path / "received.json"
    errors: list[str] = []
    runner = HookRunner([[sys.executable, "-c", COPY_STDIN, str(received)]], [], timeout=10, on_error=errors.append)
    runner.submit(PAYLOAD)
    runner.close(wait=True)
    assert json.loads(received.read_text()) == PAYLOAD
    assert errors == []


def test_hook_payload_is_the_report_json_plus_where_it_came_from(tmp_path):
    log = (b"[    2.345678] BUG: kernel NULL pointer dereference, address: 0000000000000000\n"
           b"[    2.346200] Oops: 0002 [#1] PREEMPT SMP NOPTI\n"
           b"[    2.346500] RIP: 0010:lkdtm_EXCEPTION+0x4/0x10\n"
           b"[    2.348400] ---[ end trace 0000000000000000 ]---\n")
    [decoded] = scan_chunks([log], "rpi4")
    payload = hook_payload(decoded, board="rpi4", build="v6.1-lab", boot="boot-003",
                           report_dir=tmp_path / "report-001", console_log=tmp_path / "console.log")
    assert payload["title"] == decoded.title == ("BUG: unable to handle kernel NULL pointer dereference "
                                                 "in lkdtm_EXCEPTION")
    assert (payload["kind"], payload["crash"]) == ("null-deref", True)
    assert (payload["board"], payload["build_name"], payload["boot"]) == ("rpi4", "v6.1-lab", "boot-003")
    assert payload["report_dir"] == str(tmp_path / "report-001")
    assert payload["build"] is None  # the decoder's field (which build symbolized it) is left as it was
    received = tmp_path / "received.json"
    runner = HookRunner([[sys.executable, "-c", COPY_STDIN, str(received)]], timeout=10)
    runner.submit(payload)
    runner.close()
    assert json.loads(received.read_text()) == json.loads(json.dumps(payload))


class _Recorder(BaseHTTPRequestHandler):
    requests: list[tuple[str, str, str | None, bytes]] = []
    status = 204

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.requests.append(("POST", self.path, self.headers["Content-Type"], body))
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    handler = type("Handler", (_Recorder,), {"requests": [], "status": 204})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_webhook_receives_the_json_as_a_post(server):
    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/oops?token=s3cret"
    errors: list[str] = []
    runner = HookRunner([], [url], timeout=10, on_error=errors.append)
    runner.submit(PAYLOAD)
    runner.close(wait=True)
    [(method, path, content_type, body)] = server.RequestHandlerClass.requests
    assert (method, path, content_type) == ("POST", "/hooks/oops?token=s3cret", "application/json")
    assert json.loads(body) == PAYLOAD
    assert errors == []


def test_webhook_failures_are_one_line_each_and_do_not_show_the_url_secret(server):
    server.RequestHandlerClass.status = 500
    port = server.server_address[1]
    with socket.socket() as unused:  # a port where nothing listens
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    errors: list[str] = []
    runner = HookRunner([], [f"http://127.0.0.1:{port}/x/s3cret", f"http://127.0.0.1:{closed_port}/s3cret"],
                        timeout=5, on_error=errors.append)
    runner.submit(PAYLOAD)
    runner.close(wait=True)
    assert errors == [f"webhook http://127.0.0.1:{port}: HTTP 500 Internal Server Error",
                      f"webhook http://127.0.0.1:{closed_port}: Connection refused"]
    assert runner.last_error == errors[-1]


@pytest.mark.slow
def test_a_hanging_hook_is_killed_with_its_children_and_never_blocks_submit(tmp_path):
    pids = tmp_path / "pids"
    errors: list[str] = []
    runner = HookRunner([[sys.executable, "-c", HANG, str(pids)]], [], timeout=2, on_error=errors.append)
    runner.submit(PAYLOAD)
    assert _wait_for(lambda: pids.exists() and pids.read_text().endswith("\n"))
    runner.submit(PAYLOAD)  # while the first run hangs
    assert errors == []  # both submits returned before the first run's timeout killed it
    assert _wait_for(lambda: len(errors) == 2)
    runner.close(wait=True)
    assert errors[0].startswith("hook ") and errors[0].endswith(": still running after 2 s; killed it")
    assert len(errors) == 2 and errors[0] == errors[1]
    for line in pids.read_text().splitlines():
        assert all(_wait_for(lambda pid=int(pid): _gone(pid), 2) for pid in line.split())


def test_a_full_queue_drops_with_a_message_and_close_without_wait_kills(tmp_path):
    pids = tmp_path / "pids"
    errors: list[str] = []
    runner = HookRunner([[sys.executable, "-c", HANG, str(pids)]], [], timeout=30, on_error=errors.append,
                        queue_size=1)
    runner.submit(PAYLOAD)
    assert _wait_for(lambda: pids.exists() and pids.read_text().endswith("\n"))
    runner.submit(PAYLOAD)  # waits in the queue
    runner.submit({**PAYLOAD, "title": "WARNING in foo"})  # no room
    assert errors == ["hooks: 1 reports already waiting for slow hooks; skipped the hooks for 'WARNING in foo'"]
    closing = threading.Thread(target=runner.close, kwargs={"wait": False})
    closing.start()
    closing.join(10)
    assert not closing.is_alive()  # it did not wait for the hook's 30 s timeout
    pid, grandchild = map(int, pids.read_text().split())
    assert _wait_for(lambda: _gone(pid) and _gone(grandchild), 5)
    assert _wait_for(lambda: not runner._thread.is_alive(), 5)
    assert len(pids.read_text().splitlines()) == 1  # the queued run was dropped, not started
    runner.submit(PAYLOAD)
    assert errors[-1] == f"hooks: closed; not running the hooks for {PAYLOAD['title']!r}"


def test_a_missing_command_is_one_message(tmp_path):
    errors: list[str] = []
    runner = HookRunner([[str(tmp_path / "no-such-hook"), "--flag"]], [], on_error=errors.append)
    runner.submit(PAYLOAD)
    runner.close(wait=True)
    assert errors == [f"hook {tmp_path / 'no-such-hook'} --flag: cannot run it: No such file or directory"]


def test_a_failing_command_reports_its_status_and_last_stderr_line():
    errors: list[str] = []
    script = "import sys; sys.stdin.read(); print('warming up', file=sys.stderr); sys.exit('no route to tracker')"
    runner = HookRunner([[sys.executable, "-c", script]], [], on_error=errors.append)
    runner.submit(PAYLOAD)
    runner.close(wait=True)
    assert len(errors) == 1
    assert errors[0].startswith("hook ") and errors[0].endswith(": exit status 1: no route to tracker")


def test_a_command_that_ignores_stdin_is_fine(tmp_path):
    errors: list[str] = []
    marker = tmp_path / "ran"
    runner = HookRunner([[sys.executable, "-c", f"open({str(marker)!r}, 'w')"]], [], on_error=errors.append)
    runner.submit({**PAYLOAD, "text": ["x" * 200] * 2000})  # more than a pipe holds
    runner.close(wait=True)
    assert marker.exists() and errors == []


def test_commands_are_argument_lists_and_webhooks_http_urls():
    with pytest.raises(InputError, match="give an argument list, not a shell string"):
        HookRunner(["notify-lab.sh --board $BOARD"])
    with pytest.raises(InputError, match="hook command is empty"):
        HookRunner([[]])
    with pytest.raises(InputError, match="not an http:// or https:// URL"):
        HookRunner([], ["file:///etc/passwd"])
    idle = HookRunner()
    idle.submit(PAYLOAD)  # nothing to run: no thread, no error
    idle.close()
    assert idle.last_error is None and idle._thread is None
