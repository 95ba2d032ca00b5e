"""A console on a unix-domain socket, such as QEMU's `-serial unix:PATH,server=on`."""

from __future__ import annotations

import select
import socket

from oopswatch.errors import PortError
from oopswatch.sources.base import SourceClosed


class UnixSocketSource:
    def __init__(self, path: str):
        self.path = path
        self.name = f"unix:{path}"
        self._socket: socket.socket | None = None

    def open(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except FileNotFoundError as error:
            sock.close()
            raise PortError(f"{self.name}: no such socket") from error
        except OSError as error:
            sock.close()
            raise PortError(f"{self.name}: cannot connect: {error.strerror}") from error
        sock.setblocking(False)
        self._socket = sock

    def read(self, timeout: float) -> bytes:
        sock = self._socket
        if sock is None:
            raise SourceClosed(f"{self.name} is not open")
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return b""
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return b""
        except OSError as error:
            raise SourceClosed(f"{self.name}: {error.strerror}") from error
        if not data:
            raise SourceClosed(f"{self.name}: the other end closed the socket")
        return data

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
