"""A shell on a console, driven through pexpect: find the prompt (logging in first when
a login prompt comes), run a command, get its output and exit status.

A command goes in one line, `echo M; (eval 'CMD'); echo M $?`, with the marker M typed as
two quoted halves (`'oopswatch''-3f9c...'`), so that the terminal's echo of the line
never matches: the output is what comes between the marker's two appearances, and the
number after the second is the exit status. `eval` lets the command hold quotes,
comments and newlines; the subshell keeps the session alive when the kernel kills the
command (an oops in `echo EXCEPTION > .../DIRECT`, where `echo` is the shell's own), at
the price of state: a `cd` or an `export` does not carry over to the next command.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
import time
from dataclasses import dataclass

from pexpect import EOF, TIMEOUT

from oopswatch.boards import ShellSettings
from oopswatch.console import clean_bytes
from oopswatch.errors import InputError, OopswatchError
from oopswatch.harness.spawn import ConsoleSpawn

EXIT_NO_SHELL = 6  # the console did not give a shell prompt in time (a hang, for `oopswatch qemu`)
SYNC_TIMEOUT = 10.0  # seconds for the shell to echo a marker back
POKE_QUIET = 1.0  # the console was quiet this long: type a newline to get a fresh prompt
POKE_EVERY = 3.0
SETTLE_PROMPT = 0.3  # a login or password prompt: wait this long for the console to be quiet first
SEARCH_WINDOW = 4096  # prompts are looked for at the end of what came (markers everywhere: output may follow)


class ShellError(OopswatchError):
    """No shell on the console: no prompt in time, or the console closed."""

    exit_code = EXIT_NO_SHELL


class LoginError(InputError):
    """The board asks for a login the board config does not give, or refuses it."""


@dataclass
class ShellResult:
    output: str  # what the command printed (and whatever the kernel printed meanwhile)
    exit_status: int | None  # None: the command did not finish (see `problem`)
    problem: str | None = None  # why there is no exit status


class ShellSession:
    def __init__(self, spawn: ConsoleSpawn, settings: ShellSettings | None = None):
        self.spawn = spawn
        self.settings = settings or ShellSettings()
        self.prompt = re.compile(self.settings.prompt)
        self.login_prompt = re.compile(self.settings.login_prompt)
        self.password_prompt = re.compile(self.settings.password_prompt)
        self.lost: str | None = None  # the shell stopped answering: why
        self.ready = False

    def wait_ready(self, timeout: float) -> None:
        """Until the shell answers: a prompt, a login, or a newline typed when the console
        is quiet, then a marker echoed back. Raises `ShellError` or `LoginError`."""
        deadline = time.monotonic() + timeout
        last_poke = 0.0
        patterns = [re.compile(r"Login incorrect|Login failed"), self.login_prompt, self.password_prompt,
                    self.prompt, TIMEOUT]
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ShellError(f"{self.spawn.name}: no shell prompt within {timeout:.0f} s "
                                 f"(prompt pattern {self.settings.prompt!r})")
            try:
                index = self.spawn.expect(patterns, timeout=min(0.5, remaining), searchwindowsize=SEARCH_WINDOW)
            except EOF:
                raise ShellError(f"{self.spawn.name}: {self.spawn.ended or 'the console closed'} "
                                 "before a shell answered") from None
            if index == 0:
                raise LoginError(f"{self.spawn.name}: login as '{self.settings.user}' refused; "
                                 "check shell.user and shell.password in the board config")
            if index in (1, 2):
                self._answer(index == 1)
            elif index == 3:
                if self._synchronize(min(SYNC_TIMEOUT, max(remaining, 0.5))):
                    self.ready = True
                    return
            elif time.monotonic() - self.spawn.last_input >= POKE_QUIET \
                    and time.monotonic() - last_poke >= POKE_EVERY:
                self.spawn.sendline("")
                last_poke = time.monotonic()

    def run(self, command: str, timeout: float) -> ShellResult:
        """Run one command line; on a timeout, Ctrl-C and find the shell again."""
        if self.lost is not None:
            return ShellResult("", None, f"not run: {self.lost}")
        marker, typed = _marker()
        try:
            self.spawn.sendline(f"echo {typed}; (eval {shlex.quote(command)}); echo {typed} $?")
        except OopswatchError as error:  # the port cannot be written
            self.lost = str(error)
            return ShellResult("", None, f"not run: {error}")
        started = time.monotonic()
        try:
            self.spawn.expect(re.escape(marker) + r"\r?\n", timeout=timeout)
            remaining = max(0.0, timeout - (time.monotonic() - started))
            self.spawn.expect(re.escape(marker) + r" (\d+)\r?\n", timeout=remaining)
        except TIMEOUT:
            output = _clean(self.spawn.before)
            self.spawn.send("\x03")  # Ctrl-C, as at a terminal
            if not self._synchronize(SYNC_TIMEOUT):
                self.lost = f"the shell stopped answering after '{command}' timed out"
            return ShellResult(output, None, f"no exit status within {timeout:g} s")
        except EOF:
            self.lost = self.spawn.ended or "the console closed"
            return ShellResult(_clean(self.spawn.before or ""), None, self.lost)
        output = _clean(self.spawn.before)
        return ShellResult(output, int(self.spawn.match.group(1)))

    def _answer(self, login: bool) -> None:
        """A login or password prompt: answer the last one the console shows."""
        self.spawn.expect([TIMEOUT], timeout=SETTLE_PROMPT)  # a prompt repeated meanwhile is answered once
        if login:
            if not self.settings.user:
                raise LoginError(f"{self.spawn.name}: the console asks for a login; give shell.user "
                                 "(and shell.password) in the board config")
            self.spawn.sendline(self.settings.user)
            return
        password = self.settings.password
        if password is None and self.settings.password_env:
            password = os.environ.get(self.settings.password_env)
            if password is None:
                raise LoginError(f"{self.spawn.name}: the console asks for a password and "
                                 f"${self.settings.password_env} (shell.password_env) is not set")
        if password is None:
            raise LoginError(f"{self.spawn.name}: the console asks for a password; give shell.password "
                             "or shell.password_env in the board config")
        self.spawn.sendline(password)

    def _synchronize(self, timeout: float) -> bool:
        """Whether the shell echoes a fresh marker back within `timeout`."""
        marker, typed = _marker()
        self.spawn.sendline(f"echo {typed}")
        try:
            self.spawn.expect(re.escape(marker) + r"\r?\n", timeout=timeout)
        except TIMEOUT:
            return False
        except EOF:
            return False
        return True


def _marker() -> tuple[str, str]:
    """A fresh marker, and how to type it so that its echo does not contain it."""
    marker = f"oopswatch-{secrets.token_hex(6)}"
    return marker, f"'{marker[:9]}''{marker[9:]}'"


def _clean(text: str) -> str:
    """The output as a file would hold it: no terminal escapes, no CR before LF."""
    cleaned = clean_bytes(text.encode("utf-8", "surrogateescape")).decode("utf-8", "replace")
    return cleaned.replace("\r\n", "\n").replace("\r", "\n")
