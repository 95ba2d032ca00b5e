"""The kernel architectures oopswatch knows (the kernel's ARCH=), and the other names
people give them (uname -m, Debian, toolchain triplets), so a board file or --arch may
say `aarch64`, `riscv64` or `ppc64le`."""

from __future__ import annotations

ARCHES = ("x86_64", "i386", "arm64", "arm", "riscv", "powerpc", "mips")
ARCH_ALIASES = {"amd64": "x86_64", "x86-64": "x86_64", "x86": "i386", "i486": "i386", "i586": "i386",
                "i686": "i386", "aarch64": "arm64", "armhf": "arm", "armel": "arm", "armv7": "arm",
                "armv7l": "arm", "armv6l": "arm", "riscv64": "riscv", "riscv32": "riscv", "ppc": "powerpc",
                "ppc64": "powerpc", "ppc64le": "powerpc", "ppc64el": "powerpc", "mipsel": "mips",
                "mips64": "mips", "mips64el": "mips"}


def kernel_arch(name: str) -> str:
    """The kernel's ARCH for an architecture name as a user may write it; a name it
    does not know is returned as it is (the caller says what is wrong with it)."""
    return ARCH_ALIASES.get(name.lower(), name) if isinstance(name, str) else name
