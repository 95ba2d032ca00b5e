"""Serial ports through pyserial: /dev/tty*, pseudo-terminals, socket:// (ser2net, QEMU
TCP consoles) and rfc2217:// URLs.

A device path is opened exclusively (pyserial's flock), so a second reader cannot steal
bytes. When the device goes away (a USB adapter unplugged, a pty's master closed) a read
raises `SourceClosed`; `open()` then fails with `PortError` until the path is back, and
`present()` lets the watcher notice the moment it is.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import termios

import serial

from oopswatch.boards import SerialSettings
from oopswatch.errors import PortError
from oopswatch.sources.base import SourceClosed

_PARITY = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD,
           "mark": serial.PARITY_MARK, "space": serial.PARITY_SPACE}
_PARITY_LETTER = {"none": "N", "even": "E", "odd": "O", "mark": "M", "space": "S"}
FALLBACK_TIMEOUT = 0.05  # the read timeout of ports without a descriptor to wait on (rfc2217://)
CHUNK_SIZE = 65536
WRITE_TIMEOUT = 10.0


class _KeepInputSerial(serial.Serial):
    """pyserial's Serial, except that `open()` does not throw away the bytes already
    received: what a pty buffered while the watcher was reconnecting is console output."""

    _opening = False

    def open(self) -> None:
        self._opening = True
        try:
            super().open()
        finally:
            self._opening = False

    def _reset_input_buffer(self) -> None:
        if not self._opening:
            super()._reset_input_buffer()


class SerialSource:
    """A port opened through pyserial (`serial_for_url` for URLs), exclusively for devices."""

    def __init__(self, url: str, settings: SerialSettings | None = None):
        self.name = url
        self.settings = settings or SerialSettings(port=url)
        self.is_device = "://" not in url
        self._port: serial.SerialBase | None = None
        self._fd: int | None = None

    @property
    def description(self) -> str:
        """`115200 8N1` and the flow control, for the watcher's first line."""
        s = self.settings
        stop = f"{s.stop_bits:g}"
        flow = "" if s.flow_control == "none" else f" {s.flow_control}"
        return f"{s.baud} {s.data_bits}{_PARITY_LETTER.get(s.parity, '?')}{stop}{flow}"

    def open(self) -> None:
        settings = self.settings
        try:
            if self.is_device:
                port: serial.SerialBase = _KeepInputSerial()
                port.port = self.name
                port.exclusive = True  # a second reader would steal bytes
            else:
                port = serial.serial_for_url(self.name, do_not_open=True)
            port.baudrate = settings.baud
            port.bytesize = settings.data_bits
            port.parity = _PARITY[settings.parity]
            port.stopbits = settings.stop_bits
            port.rtscts = settings.flow_control == "rtscts"
            port.xonxoff = settings.flow_control == "xonxoff"
            # Reads take what has arrived, the waiting is a select on the descriptor. Set
            # before open: on a device every later change reconfigures the port.
            port.timeout = 0 if self.is_device else FALLBACK_TIMEOUT
            port.write_timeout = WRITE_TIMEOUT  # a session typing on a port held up by flow control gives up
            port.open()
            self._fd = _descriptor(port)
            if self._fd is not None and port.timeout != 0:
                port.timeout = 0  # socket://
        except serial.SerialException as error:
            raise PortError(_explain(self.name, error)) from error
        except termios.error as error:
            raise PortError(f"{self.name}: cannot set {self.description} on it: {error.args[-1]}") from error
        except (ValueError, OSError) as error:
            raise PortError(f"{self.name}: cannot open: {error}") from error
        self._port = port

    def present(self) -> bool | None:
        """Whether the device node exists now (None for URLs, which have no node)."""
        return os.path.exists(self.name) if self.is_device else None

    def read(self, timeout: float) -> bytes:
        """What has arrived, at once if anything has; else wait up to `timeout` for it.

        Devices and socket:// wait in a select on their descriptor (none with timeout 0:
        the caller's selector said it is ready) and then take all that is there in one
        read: pyserial's own read(n) waits for n bytes (or the timeout),
        socket:// counts at most one byte waiting, and changing a port's timeout
        reconfigures it (tcsetattr, flock; a network round trip for rfc2217://).
        """
        port = self._port
        if port is None:
            raise SourceClosed("not open")
        try:
            if self._fd is not None:
                if timeout > 0:
                    ready, _, _ = select.select([self._fd], [], [], timeout)
                    if not ready:
                        return b""
                # One read of what is there: pyserial's read adds two selects of its own.
                try:
                    data = os.read(self._fd, CHUNK_SIZE)
                except BlockingIOError:
                    return b""
                if not data:  # a socket closed, or a device gone (Linux: ready, but no data)
                    raise SourceClosed("the other end closed the connection" if not self.is_device
                                       else "the device went away (unplugged?)")
                return data
            data = port.read(1) if timeout > 0 else b""  # rfc2217://: waits up to FALLBACK_TIMEOUT
            waiting = port.in_waiting
            return data + port.read(waiting) if waiting else data
        except serial.SerialException as error:
            raise SourceClosed(_read_failure(error)) from error
        except (OSError, ValueError, TypeError) as error:  # TypeError: pyserial on a vanished device node
            raise SourceClosed(_read_failure(error)) from error

    def fileno(self) -> int | None:
        """The descriptor to wait on while open (None for rfc2217://: polled)."""
        return self._fd

    def write(self, data: bytes) -> None:
        """Send bytes to the board (a shell session typing); `PortError` when the port is
        not open or the write fails. Safe while another thread reads."""
        port = self._port
        if port is None:
            raise PortError(f"{self.name}: not open (the console is reconnecting)")
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError, ValueError, TypeError) as error:
            raise PortError(f"{self.name}: cannot write: {error}") from error

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None
            self._fd = None


def _read_failure(error: Exception) -> str:
    """A short reason for the watcher's "console lost" line."""
    text = str(error)
    if "returned no data" in text or getattr(error, "errno", None) == errno.EIO or "Input/output error" in text:
        return "the device went away (unplugged?)"
    if "Connection" in text or "socket" in text.lower():
        return f"connection lost: {text}"
    return text


def _explain(name: str, error: serial.SerialException) -> str:
    """One line that names the port and says what to do."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code == errno.ENOENT or "No such file" in text:
        return f"{name}: no such port; is the adapter plugged in? (ls /dev/serial/by-id/)"
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return (f"{name}: permission denied; add yourself to the dialout group "
                f"(sudo usermod -aG dialout $USER, then log in again)")
    if code in (errno.EBUSY, errno.EAGAIN) or "Device or resource busy" in text or "exclusively lock" in text:
        return f"{name}: port busy; another program has it open (find it with: fuser -v {name})"
    if "Connection refused" in text:
        return f"{name}: connection refused; is the serial server running?"
    if "Inappropriate ioctl" in text or code == errno.ENOTTY:
        return f"{name}: not a serial port (give a /dev/tty* device, a URL such as socket://host:port, or a file)"
    return f"{name}: cannot open: {text}"


def _descriptor(port: serial.SerialBase) -> int | None:
    """The file descriptor to wait on: a device's or a socket's; None for rfc2217://,
    whose bytes come through a reader thread."""
    try:
        return port.fileno()
    except (OSError, ValueError, AttributeError):
        return None
