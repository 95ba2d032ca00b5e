"""Ctrl-C, SIGTERM (systemd, `kill`) and SIGHUP end a long-running watch cleanly.

The handler only asks the loop to stop: the watcher then drains its port, writes open
reports, flushes and closes its logs and exits 0. Raising KeyboardInterrupt at an
arbitrary point instead could cut a log write or a report in half. A second Ctrl-C,
when the first did not end it, interrupts at once.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None], stopping: Callable[[], bool]) -> Iterator[None]:
    """While inside, the stop signals call `stop`; `stopping` says a stop is under way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        if signum == signal.SIGINT and stopping():
            raise KeyboardInterrupt
        stop()

    # A signal ignored on purpose (SIGHUP under nohup, SIGINT of a background job) stays ignored.
    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS
                if signal.getsignal(number) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)
