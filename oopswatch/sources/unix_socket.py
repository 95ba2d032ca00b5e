"""A console on a unix-domain socket, such as QEMU's `-serial unix:PATH,server=on`.

When QEMU exits the socket closes (`SourceClosed`, not final): a restarted QEMU makes
the socket again at the same path, and the watcher reconnects.
"""

from __future__ import annotations

import errno
import os
import select
import socket

from oopswatch.errors import PortError
from oopswatch.sources.base import SourceClosed

CHUNK_SIZE = 65536
WRITE_TIMEOUT = 10.0


class UnixSocketSource:
    def __init__(self, path: str):
        self.path = path
        self.name = f"unix:{path}"
        self.description = "unix socket"
        self._socket: socket.socket | None = None

    def open(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError as error:
            sock.close()
            raise PortError(_explain(self.name, error)) from error
        sock.setblocking(False)
        self._socket = sock

    def present(self) -> bool:
        """Whether the socket file exists now (QEMU makes it when it starts)."""
        return os.path.exists(self.path)

    def read(self, timeout: float) -> bytes:
        sock = self._socket
        if sock is None:
            raise SourceClosed("not open")
        if timeout > 0:
            ready, _, _ = select.select([sock], [], [], timeout)
            if not ready:
                return b""
        try:
            data = sock.recv(CHUNK_SIZE)
        except BlockingIOError:
            return b""
        except OSError as error:
            raise SourceClosed(f"connection lost: {error.strerror}") from error
        if not data:
            raise SourceClosed("the other end closed the socket")
        return data

    def fileno(self) -> int | None:
        return self._socket.fileno() if self._socket is not None else None

    def write(self, data: bytes, timeout: float = WRITE_TIMEOUT) -> None:
        """Send bytes to the guest's serial input (a shell session typing); `PortError`
        when the socket is closed or stays full for `timeout`. Safe while another thread reads."""
        sock = self._socket
        if sock is None:
            raise PortError(f"{self.name}: not open")
        view = memoryview(data)
        while view:
            _, writable, _ = select.select([], [sock], [], timeout)
            if not writable:
                raise PortError(f"{self.name}: cannot write: the other end takes nothing for {timeout:.0f} s")
            try:
                view = view[sock.send(view):]
            except BlockingIOError:
                continue
            except OSError as error:
                raise PortError(f"{self.name}: cannot write: {error.strerror}") from error

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _explain(name: str, error: OSError) -> str:
    """One line that names the socket and says what to do."""
    if error.errno == errno.ENOENT:
        return f"{name}: no such socket; is QEMU running with -serial unix:PATH,server=on?"
    if error.errno == errno.ECONNREFUSED:
        return f"{name}: connection refused; nothing listens on the socket (QEMU exited?)"
    if error.errno in (errno.EACCES, errno.EPERM):
        return f"{name}: permission denied; the socket belongs to another user"
    if error.errno == errno.ENOTSOCK:
        return f"{name}: not a socket"
    return f"{name}: cannot connect: {error.strerror}"
