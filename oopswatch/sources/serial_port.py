"""Serial ports through pyserial: /dev/tty*, pseudo-terminals, socket:// (ser2net, QEMU
TCP consoles) and rfc2217:// URLs."""

from __future__ import annotations

import contextlib
import errno
import os

import serial

from oopswatch.boards import SerialSettings
from oopswatch.errors import PortError
from oopswatch.sources.base import SourceClosed

_PARITY = {"none": serial.PARITY_NONE, "even": serial.PARITY_EVEN, "odd": serial.PARITY_ODD,
           "mark": serial.PARITY_MARK, "space": serial.PARITY_SPACE}


class SerialSource:
    """A port opened through pyserial's `serial_for_url`, exclusively."""

    def __init__(self, url: str, settings: SerialSettings | None = None):
        self.name = url
        self.settings = settings or SerialSettings(port=url)
        self._port: serial.SerialBase | None = None

    def open(self) -> None:
        settings = self.settings
        try:
            port = serial.serial_for_url(self.name, do_not_open=True)
            if isinstance(port, serial.Serial) or hasattr(port, "baudrate"):
                port.baudrate = settings.baud
                port.bytesize = settings.data_bits
                port.parity = _PARITY[settings.parity]
                port.stopbits = settings.stop_bits
                port.rtscts = settings.flow_control == "rtscts"
                port.xonxoff = settings.flow_control == "xonxoff"
            if self.name.startswith("/dev/") or os.path.exists(self.name):
                port.exclusive = True  # a second reader would steal bytes
            port.timeout = 0
            port.open()
        except serial.SerialException as error:
            raise PortError(_explain(self.name, error)) from error
        except (ValueError, OSError) as error:
            raise PortError(f"{self.name}: cannot open: {error}") from error
        self._port = port

    def read(self, timeout: float) -> bytes:
        port = self._port
        if port is None:
            raise SourceClosed(f"{self.name} is not open")
        try:
            port.timeout = timeout
            data = port.read(max(1, port.in_waiting or 1))
            if data and port.in_waiting:
                data += port.read(port.in_waiting)
            return data
        except (serial.SerialException, OSError) as error:
            raise SourceClosed(f"{self.name}: {error}") from error
        except TypeError as error:  # pyserial on a vanished device node
            raise SourceClosed(f"{self.name}: {error}") from error

    def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._port.close()
            self._port = None


def _explain(name: str, error: serial.SerialException) -> str:
    """One line that names the port and says what to do."""
    code = getattr(error, "errno", None)
    text = str(error)
    if code == errno.ENOENT or "No such file" in text or ("could not open port" in text and "[Errno 2]" in text):
        return f"{name}: no such port; is the adapter plugged in? (ls /dev/serial/by-id/)"
    if code in (errno.EACCES, errno.EPERM) or "Permission denied" in text:
        return f"{name}: permission denied; add yourself to the dialout group (sudo usermod -aG dialout $USER)"
    if code == errno.EBUSY or "Device or resource busy" in text or "exclusively lock" in text:
        return f"{name}: port busy; another program has it open (find it with: fuser {name})"
    if "Connection refused" in text:
        return f"{name}: connection refused; is the serial server running?"
    return f"{name}: cannot open: {text}"
