"""The one console loop: every port of the process read by one thread.

A rack of 64 boards at 115200 baud is mostly waiting: one thread waiting on every
port in one `epoll` (selectors) wakes far less often, and holds the interpreter's lock
far less, than a thread per board polling its own. Each wake-up reads what every ready
port has, once, without waiting; `gather` then lets the next bytes collect for a
moment, so a trickle of bytes costs one read per board per wake-up rather than one per
byte burst. Timers (reports gone quiet, reconnection attempts, a disk to retry, a QEMU
boot's deadlines) are each watcher's `due` time, looked at on every wake-up.

One board's trouble stays its own: an unexpected error in one watcher is logged and
that watcher's port is treated as lost (retried), never the loop's end.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oopswatch.watch import Watcher

MAX_WAIT = 1.0  # the longest the loop sleeps with nothing due
POLL_INTERVAL = 0.05  # how often a source without a descriptor (a file, rfc2217://) is read

log = logging.getLogger("oopswatch.loop")


class ConsoleLoop:
    def __init__(self, gather: float = 0.0):
        """`gather`: seconds to let bytes collect after a wake-up that read some (a rack)."""
        self.gather = gather
        self._selector = selectors.DefaultSelector()
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._selector.register(self._wake_read, selectors.EVENT_READ, None)
        self._watchers: list[Watcher] = []
        self._polled: set[Watcher] = set()  # open sources without a descriptor to wait on
        self._registered: dict[Watcher, int] = {}
        self._woken = threading.Event()  # ends a gathering pause early
        self._errors_said: set[str] = set()

    def add(self, watcher: Watcher) -> None:
        """Before `run`."""
        self._watchers.append(watcher)

    def stop(self) -> None:
        """Stop every watcher; safe from a signal handler or another thread."""
        for watcher in self._watchers:
            watcher.stop_event.set()
        self.wake()

    def wake(self) -> None:
        """Look at the watchers now (one asked to stop)."""
        self._woken.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"!")

    # -- the watchers' port descriptors ---------------------------------------------------

    def register(self, watcher: Watcher) -> None:
        self.unregister(watcher)
        descriptor = watcher.source.fileno() if hasattr(watcher.source, "fileno") else None
        if descriptor is not None:
            try:
                self._selector.register(descriptor, selectors.EVENT_READ, watcher)
            except (PermissionError, ValueError, OSError):  # a regular file (stdin redirected): poll it
                descriptor = None
            else:
                self._registered[watcher] = descriptor
                return
        self._polled.add(watcher)

    def unregister(self, watcher: Watcher) -> None:
        descriptor = self._registered.pop(watcher, None)
        if descriptor is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(descriptor)
        self._polled.discard(watcher)

    # -- running --------------------------------------------------------------------------

    def run(self) -> None:
        """Until every watcher has ended. A watcher that cannot start (its port cannot be
        opened, its output is taken) raises here, after the others are finished."""
        try:
            for watcher in list(self._watchers):
                try:
                    watcher.start(self)
                except BaseException:
                    self._finish(watcher)
                    raise
            self._loop()
        except KeyboardInterrupt:  # a second Ctrl-C: finish at once
            pass
        finally:
            for watcher in list(self._watchers):
                self._finish(watcher)
            self._selector.close()
            for descriptor in (self._wake_read, self._wake_write):
                with contextlib.suppress(OSError):
                    os.close(descriptor)

    def _loop(self) -> None:
        while self._watchers:
            current = time.monotonic()
            due = min(watcher.due for watcher in self._watchers)
            timeout = min(max(0.0, due - current), MAX_WAIT)
            if self._polled:
                timeout = min(timeout, POLL_INTERVAL)
            ready = self._selector.select(timeout)
            now = time.time()
            read = False
            for key, _ in ready:
                watcher = key.data
                if watcher is None:
                    with contextlib.suppress(OSError):
                        os.read(self._wake_read, 4096)
                    continue
                read = True
                self._guarded(watcher, watcher.on_readable, now)
            for watcher in list(self._polled):
                self._guarded(watcher, watcher.on_readable, now)
            current = time.monotonic()
            for watcher in list(self._watchers):
                if watcher.due <= current or watcher.ended:
                    self._guarded(watcher, watcher.on_timer, now)
                if watcher.ended:
                    self._finish(watcher)
            if read and self.gather:
                self._woken.wait(self.gather)
                self._woken.clear()

    def _guarded(self, watcher: Watcher, step, now: float) -> None:
        """One watcher's step; an unexpected error is logged and its port treated as lost."""
        try:
            step(now)
        except Exception as error:
            said = f"{watcher.options.board}: {error!r}"
            if said not in self._errors_said:
                self._errors_said.add(said)
                watcher.log.exception("unexpected error; the port is closed and opened again")
            watcher.recover(repr(error))

    def _finish(self, watcher: Watcher) -> None:
        if watcher not in self._watchers:
            return
        self._watchers.remove(watcher)
        self.unregister(watcher)
        try:
            watcher.finish()
        except Exception:
            watcher.log.exception("unexpected error while stopping")
