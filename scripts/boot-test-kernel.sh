#!/usr/bin/env bash
# Boot a test kernel built by build-test-kernels.sh under QEMU (TCG, no KVM)
# with its serial console on stdout, for manual testing.
#
# Usage: boot-test-kernel.sh BUILD_DIR [CRASH_TYPE] [-- EXTRA_QEMU_ARGS...]
#   CRASH_TYPE  an LKDTM crash type (EXCEPTION, BUG, WARNING, PANIC,
#               CORRUPT_STACK, WRITE_RO, EXEC_DATA, REFCOUNT_INC_OVERFLOW,
#               HUNG_TASK, SOFTLOCKUP, ...) or MODULE_EXCEPTION /
#               MODULE_WARNING / MODULE_BUG (oopswatch_crash.ko); omitted or
#               "clean": boot and power off.
# Environment:
#   OOPSWATCH_BOOT_TIMEOUT  seconds before QEMU is killed (default 120)
#   OOPSWATCH_APPEND        extra kernel command line arguments
#                           (oopswatch.shell=1: an interactive shell on the console,
#                           with this terminal as its input)
#
# The QEMU command line comes from BUILD_DIR/qemu.json and is echoed to
# stderr.  Exit status: QEMU's (0 after the guest reset/powered off), 124
# if the timeout killed it.
set -euo pipefail

die() { echo "boot-test-kernel: ERROR: $*" >&2; exit 2; }

[ $# -ge 1 ] || { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
dir=$(cd "$1" && pwd) || die "no such directory: $1"
shift
crash=
if [ $# -ge 1 ] && [ "$1" != -- ]; then
	crash=$1
	shift
fi
[ "$crash" = clean ] && crash=
[ $# -ge 1 ] && [ "$1" = -- ] && shift
[ -f "$dir/qemu.json" ] || die "$dir/qemu.json missing (not a finished build dir?)"

append_extra=${OOPSWATCH_APPEND:-}
[ -n "$crash" ] && append_extra="$append_extra oopswatch.crash=$crash"

# Build argv from qemu.json (NUL separated so arguments with spaces survive).
mapfile -d '' argv < <(python3 - "$dir" "$append_extra" <<'EOF'
import json, os, sys
d, extra = sys.argv[1], sys.argv[2].strip()
q = json.load(open(os.path.join(d, "qemu.json")))
append = q["append"] + (" " + extra if extra else "")
argv = [q["qemu"], *q["machine_args"], *q["common_args"], *q["device_args"],
        "-kernel", os.path.join(d, q["image"]),
        "-initrd", os.path.join(d, q["initrd"]),
        "-append", append]
sys.stdout.write("\0".join(argv) + "\0")
EOF
)
[ ${#argv[@]} -gt 0 ] || die "could not read $dir/qemu.json"
argv+=("$@")

echo "boot-test-kernel: ${argv[*]}" >&2
rc=0
if [[ " $append_extra " == *" oopswatch.shell=1 "* ]]; then
	"${argv[@]}" || rc=$?
else
	timeout -k 5 "${OOPSWATCH_BOOT_TIMEOUT:-120}" "${argv[@]}" </dev/null || rc=$?
fi
echo "boot-test-kernel: qemu exit status $rc" >&2
exit "$rc"
