"""Byte sources: serial ports, QEMU sockets, files and stdin. They yield chunks and parse nothing."""
