"""Launch QEMU with its serial console on a unix socket and QMP on another.

The console socket is a server that waits for its client before the guest starts
(`server=on,wait=on`), so the watcher, connecting through the same unix-socket source
as any other console, sees the very first byte.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from qemu.qmp.legacy import QEMUMonitorProtocol

from oopswatch.errors import InputError, QemuError
from oopswatch.sources.unix_socket import UnixSocketSource

QEMU_PACKAGES = {"qemu-system-x86_64": "qemu-system-x86", "qemu-system-i386": "qemu-system-x86",
                 "qemu-system-aarch64": "qemu-system-arm", "qemu-system-arm": "qemu-system-arm",
                 "qemu-system-riscv64": "qemu-system-misc", "qemu-system-ppc64": "qemu-system-ppc",
                 "qemu-system-mips": "qemu-system-mips"}
CONNECT_TIMEOUT = 10.0


class QemuNotInstalled(QemuError):
    """The QEMU binary is not installed (QemuError's exit code, 4)."""


class QemuDied(QemuError):
    exit_code = 7  # the same as a boot that `oopswatch qemu` judges "QEMU died mid-boot"


@dataclass
class QemuMachine:
    """What to boot, and how."""

    binary: str
    machine_args: list[str]
    kernel: Path
    initrd: Path | None = None
    append: str = ""
    devices: list[str] = field(default_factory=list)  # e.g. ["-device", "pvpanic-pci"]

    def argv(self, console_socket: Path, qmp_socket: Path) -> list[str]:
        argv = [self.binary, *self.machine_args, "-nodefaults", "-display", "none", "-no-reboot",
                "-chardev", f"socket,id=console,path={console_socket},server=on,wait=on",
                "-serial", "chardev:console",
                "-qmp", f"unix:{qmp_socket},server=on,wait=off",
                *self.devices, "-kernel", str(self.kernel)]
        if self.initrd is not None:
            argv += ["-initrd", str(self.initrd)]
        if self.append:
            argv += ["-append", self.append]
        return argv


class QemuProcess:
    """A running QEMU: its console source, its QMP connection, its exit."""

    def __init__(self, machine: QemuMachine, workdir: Path):
        self.machine = machine
        self.workdir = workdir
        self.console_socket = workdir / "console.sock"
        self.qmp_socket = workdir / "qmp.sock"
        self.stderr_path = workdir / "qemu.stderr"
        self.process: subprocess.Popen[bytes] | None = None
        self.qmp: QEMUMonitorProtocol | None = None
        self.console: UnixSocketSource | None = None
        self.events: list[dict] = []

    def start(self) -> UnixSocketSource:
        binary = shutil.which(self.machine.binary)
        if binary is None:
            package = QEMU_PACKAGES.get(Path(self.machine.binary).name, "qemu-system")
            raise QemuNotInstalled(f"{self.machine.binary} is not installed (Debian package: {package})")
        if not self.machine.kernel.is_file():
            raise InputError(f"{self.machine.kernel}: kernel image not found")
        argv = self.machine.argv(self.console_socket, self.qmp_socket)
        argv[0] = binary
        with self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr)
        self.console = UnixSocketSource(str(self.console_socket))
        self._connect(self.console.open, "console")
        self.qmp = QEMUMonitorProtocol(str(self.qmp_socket))
        self._connect(self.qmp.connect, "QMP")
        return self.console

    def _connect(self, connect, what: str) -> None:
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while True:
            try:
                connect()
                return
            except Exception as error:  # not open yet: OSError, PortError, or qemu.qmp's own errors
                if self.exited():
                    raise QemuDied(f"QEMU exited before its {what} socket opened: {self.stderr_tail()}") from error
                if time.monotonic() > deadline:
                    raise QemuDied(f"QEMU's {what} socket did not open within {CONNECT_TIMEOUT:.0f} s") from error
                time.sleep(0.02)

    def poll_events(self) -> list[dict]:
        """QMP events since the last call (GUEST_PANICKED, SHUTDOWN, RESET, ...)."""
        if self.qmp is None:
            return []
        try:
            events = self.qmp.get_events(wait=False) or []
        except Exception:  # the monitor went away with QEMU
            return []
        self.events.extend(events)
        return events

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def stderr_tail(self) -> str:
        try:
            lines = [line for line in self.stderr_path.read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            return "no output"
        return lines[-1] if lines else "no output"

    def stop(self) -> None:
        """Ask QEMU to quit through QMP; kill it if it does not."""
        if self.process is None:
            return
        if self.process.poll() is None and self.qmp is not None:
            with contextlib.suppress(Exception):
                self.qmp.cmd("quit")
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.close_connections()

    def close_connections(self) -> None:
        if self.qmp is not None:
            with contextlib.suppress(Exception):
                self.qmp.close()
            self.qmp = None
        if self.console is not None:
            self.console.close()
