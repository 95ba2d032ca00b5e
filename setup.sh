#!/usr/bin/env bash
# Sets up oopswatch on Debian 12: the Debian packages it needs (QEMU for six
# architectures, cross compilers, kernel source and build tools for the test kernels;
# PostgreSQL and chromium for the lab index and dashboard tests), then a virtualenv in
# .venv with oopswatch and its test tools. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
    # run and talk to test kernels (riscv64: qemu-system-misc, OpenSBI firmware)
    qemu-system-x86 qemu-system-arm qemu-system-misc qemu-system-ppc qemu-system-mips opensbi
    # build the test kernels from Debian's kernel source
    linux-source-6.1 make gcc libc6-dev flex bison bc libelf-dev libssl-dev cpio xz-utils kmod
    busybox-static
    # cross compilers (kernels) with their C libraries (the static /init), one per arch;
    # their binutils give addr2line for symbolization
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross
    gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
    gcc-riscv64-linux-gnu libc6-dev-riscv64-cross
    gcc-powerpc64le-linux-gnu libc6-dev-ppc64el-cross
    gcc-mips-linux-gnu libc6-dev-mips-cross
    # symbolization: addr2line for x86_64
    binutils
    # a lab's shared report index: the tests start a private PostgreSQL server (initdb, pg_ctl;
    # as root, as the postgres user this package creates, through util-linux's runuser)
    postgresql
    # the dashboard's browser tests: headless chromium driven through chromium-driver; fonts for its pages
    chromium chromium-driver fonts-dejavu-core
    # Python
    python3 python3-venv
)

# busybox-static of these architectures is fetched (apt-get download, never installed) by
# the kernel build script, for the test kernels' shell; Debian 12 has none for riscv64/mips.
for foreign in arm64 armhf ppc64el; do
    if ! dpkg --print-foreign-architectures | grep -qx "$foreign"; then
        $SUDO dpkg --add-architecture "$foreign"
    fi
done
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}"

PYTHON=${PYTHON:-python3}
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "oopswatch is set up: $(.venv/bin/oopswatch --version)"
