"""Errors a user can cause, each with a one-line message and a distinct exit code."""

from __future__ import annotations


class OopswatchError(Exception):
    """A problem with the user's input or environment; printed as one line, no traceback."""

    exit_code = 2


class InputError(OopswatchError):
    """A file, option or configuration is wrong (missing, unreadable, malformed)."""


class PortError(OopswatchError):
    """A serial port or socket cannot be opened (missing, busy, no permission)."""

    exit_code = 3


class QemuError(OopswatchError):
    """QEMU is missing, the kernel image is missing, or QEMU died."""

    exit_code = 4


EXIT_OK = 0
EXIT_CRASH = 1  # a crash report was found (scan), or an expectation failed (qemu)
