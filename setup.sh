#!/usr/bin/env bash
# Sets up oopswatch on Debian 12: the Debian packages it needs (QEMU, cross compiler,
# kernel source and build tools for the test kernels; PostgreSQL and chromium for the lab
# index and dashboard tests), then a virtualenv in .venv with oopswatch and its test
# tools. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

DEBIAN_PACKAGES=(
    # run and talk to test kernels
    qemu-system-x86 qemu-system-arm
    # build the test kernels from Debian's kernel source
    linux-source-6.1 make gcc libc6-dev flex bison bc libelf-dev libssl-dev cpio xz-utils kmod
    gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu busybox-static
    # symbolization: addr2line for x86_64 (arm64's comes with the cross binutils)
    binutils
    # a lab's shared report index: the tests start a private PostgreSQL server (initdb, pg_ctl;
    # as root, as the postgres user this package creates, through util-linux's runuser)
    postgresql
    # the dashboard's browser tests: headless chromium driven through chromium-driver; fonts for its pages
    chromium chromium-driver fonts-dejavu-core
    # Python
    python3 python3-venv
)

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $SUDO dpkg --add-architecture arm64  # for busybox-static:arm64, fetched by the kernel build script
fi
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${DEBIAN_PACKAGES[@]}"

PYTHON=${PYTHON:-python3}
"$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "oopswatch is set up: $(.venv/bin/oopswatch --version)"
