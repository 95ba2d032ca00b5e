"""A board's serial console with a real shell behind it, on real pseudo-terminals.

The shell's controlling terminal is one pty (cooked: echo, CR/LF, Ctrl-C, as a board's
serial tty); a relay thread copies bytes between its master and the master of a second
pty — the null-modem cable — whose slave oopswatch opens through pyserial, as it would
open /dev/ttyUSB0. `kernel_says(text)` writes to the console as the kernel's printk does:
past the shell's terminal, interleaved with whatever the shell prints.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading

from tests.ptys import Pty

PROMPT = "board# "

# A login as busybox/getty's: a login prompt, a password that is not echoed, then a shell.
LOGIN_SCRIPT = r"""
while true; do
    printf 'board login: '; read -r user
    printf 'Password: '; stty -echo; read -r password; stty echo; echo
    if [ "$user" = "$1" ] && [ "$password" = "$2" ]; then exec sh -i; fi
    sleep 0.2; echo 'Login incorrect'
done
"""


class ShellBoard:
    def __init__(self, login: tuple[str, str] | None = None, shell: tuple[str, ...] = ("busybox", "sh", "-i")):
        self.cable = Pty()
        self.path = self.cable.path  # what oopswatch opens
        # Held open so that the cable's master reads nothing (not EIO) while oopswatch has not opened it yet.
        self._cable_end = os.open(self.path, os.O_RDWR | os.O_NOCTTY)
        self.terminal, slave = os.openpty()
        argv = ["sh", "-c", LOGIN_SCRIPT, "login", *login] if login else list(shell)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PS1": PROMPT, "HOME": "/tmp", "TERM": "vt100",
               "ENV": "/dev/null"}
        # setsid -c: a session of its own with this pty as controlling terminal (job control, Ctrl-C).
        self.process = subprocess.Popen(["setsid", "-c", *argv], stdin=slave, stdout=slave, stderr=slave,
                                        env=env, cwd="/")
        os.close(slave)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._relay = threading.Thread(target=self._copy, daemon=True)
        self._relay.start()

    def kernel_says(self, text: bytes) -> None:
        """Console output that does not come through the shell (printk)."""
        with self._lock:
            self.cable.write(text)

    def _copy(self) -> None:
        ends = {self.cable.master: self.terminal, self.terminal: self.cable.master}
        while not self._stop.is_set():
            ready, _, _ = select.select(list(ends), [], [], 0.05)
            for source in ready:
                try:
                    data = os.read(source, 65536)
                except OSError:  # the shell exited (EIO on its terminal)
                    return
                if not data:
                    return
                with self._lock:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(ends[source], view):]

    def close(self) -> None:
        self._stop.set()
        self._relay.join(2)
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)
        os.close(self.terminal)
        os.close(self._cable_end)
        self.cable.close()

    def __enter__(self) -> ShellBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
