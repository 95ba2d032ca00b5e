"""How an index writer tells its trouble: one line when writing starts failing (not again
while it keeps failing), one when it works again."""

from __future__ import annotations

from collections.abc import Callable


class Health:
    def __init__(self, description: str, on_message: Callable[[str], None] | None, while_failing: str):
        self.description = description  # "report index PATH-OR-URL"
        self.on_message = on_message
        self.while_failing = while_failing  # what happens meanwhile: "holding reports in memory ..."
        self.last_error: str | None = None  # one line while writing fails, else None

    def failed(self, reason: str) -> None:
        """Said once per outage: a database going away fails one way, then another
        (connection dropped, then refused), and that is still one outage."""
        message = f"{self.description}: {reason}; {self.while_failing}"
        if self.last_error is None:
            self.say(message)
        self.last_error = message

    def recovered(self, what: str) -> None:
        """Writing works again: say `what` (once, and only after a failure)."""
        if self.last_error is None:
            return
        self.last_error = None
        self.say(f"{self.description}: {what}")

    def say(self, message: str) -> None:
        if self.on_message is not None:
            self.on_message(message)
