#!/usr/bin/env bash
# Build small Linux 6.1 test kernels (LKDTM built in) + a busybox initramfs,
# cached outside the repository, for oopswatch's tests.
#
# Usage: build-test-kernels.sh [--build-number N] [--keep-objects] ARCH VARIANT
#        build-test-kernels.sh [--build-number N] all        (all four)
#   ARCH     x86_64 | arm64 | all
#   VARIANT  kallsyms | nokallsyms | all
#
# The LAST line(s) of stdout are the absolute path(s) of the finished build
# directories (one per line, in the order x86_64-kallsyms, x86_64-nokallsyms,
# arm64-kallsyms, arm64-nokallsyms); all chatter goes to stderr and to
# <build dir>/build.log.  Typical use:
#     dir=$(scripts/build-test-kernels.sh x86_64 kallsyms | tail -1)
#
# Cache layout (OOPSWATCH_CACHE overrides ~/.cache/oopswatch):
#   src/linux-source-6.1/                 extracted once from /usr/src
#   busybox/arm64/bin/busybox             from `apt-get download busybox-static:arm64`
#   build/<arch>-<variant>-<hash>/        O= object tree (removed after success
#                                         unless --keep-objects / OOPSWATCH_KEEP_OBJECTS=1)
#   kernels/<arch>-<variant>[-build<N>]    symlink to the newest finished build below
#   kernels/<arch>-<variant>-<hash>/      finished, self-contained build dir:
#       bzImage|Image  vmlinux  System.map  .config  config  initramfs.cpio.gz
#       modules/oopswatch_crash.ko  banner  build.log  qemu.json
#
# <hash> covers the linux-source package version, the config fragments, the
# build number, this script, qemu/init and the test module source.
#
# --build-number N sets KBUILD_BUILD_VERSION (the "#N" in the banner).  For
# N != 1 the fragment qemu/config/layout-shift.config is merged as well, which
# adds a little text early in the link order, so code addresses differ from
# build #1 while the release string (uname -r) stays the same.
#
# Needs (Debian 12): build-essential flex bison bc libelf-dev libssl-dev cpio
# gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu busybox-static
# linux-source-6.1, plus `dpkg --add-architecture arm64 && apt-get update`
# (for `apt-get download busybox-static:arm64`).
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_DIR=$(dirname "$SCRIPT_DIR")
QEMU_DIR=$REPO_DIR/qemu
CONFIG_DIR=$QEMU_DIR/config
MODULE_SRC=$QEMU_DIR/modules/oopswatch_crash

CACHE=${OOPSWATCH_CACHE:-$HOME/.cache/oopswatch}
SRC_PKG=linux-source-6.1
SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
SRC_DIR=$CACHE/src/linux-source-6.1
JOBS=${OOPSWATCH_JOBS:-$(nproc)}
KEEP_OBJECTS=${OOPSWATCH_KEEP_OBJECTS:-0}
BUILD_NUMBER=1
# Fixed build metadata -> reproducible banner.
BUILD_USER=oopswatch
# The build host in the banner is the variant: every variant's banner is distinct,
# so a watcher picks the right build by the banner alone.
BUILD_TIMESTAMP='Mon Jan  1 00:00:00 UTC 2024'

log() { echo "build-test-kernels: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
	sed -n '2,14p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2
	exit "${1:-2}"
}

# ---------------------------------------------------------------- arguments
positional=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build-number) [ $# -ge 2 ] || usage; BUILD_NUMBER=$2; shift 2 ;;
	--build-number=*) BUILD_NUMBER=${1#*=}; shift ;;
	--keep-objects) KEEP_OBJECTS=1; shift ;;
	-h|--help) usage 0 ;;
	-*) log "unknown option $1"; usage ;;
	*) positional+=("$1"); shift ;;
	esac
done
[[ "$BUILD_NUMBER" =~ ^[1-9][0-9]*$ ]] || die "--build-number must be a positive integer"

case ${#positional[@]} in
1) [ "${positional[0]}" = all ] || usage; ARCHES=(x86_64 arm64); VARIANTS=(kallsyms nokallsyms) ;;
2)
	case "${positional[0]}" in
	x86_64|arm64) ARCHES=("${positional[0]}") ;;
	all) ARCHES=(x86_64 arm64) ;;
	*) log "bad ARCH ${positional[0]}"; usage ;;
	esac
	case "${positional[1]}" in
	kallsyms|nokallsyms) VARIANTS=("${positional[1]}") ;;
	all) VARIANTS=(kallsyms nokallsyms) ;;
	*) log "bad VARIANT ${positional[1]}"; usage ;;
	esac
	;;
*) usage ;;
esac

mkdir -p "$CACHE"/{src,build,kernels,locks,debs,busybox}
CACHE=$(cd "$CACHE" && pwd -P)
SRC_DIR=$CACHE/src/linux-source-6.1

SRC_VERSION=$(dpkg-query -W -f='${Version}' "$SRC_PKG" 2>/dev/null) ||
	die "package $SRC_PKG is not installed"
[ -r "$SRC_TARBALL" ] || die "$SRC_TARBALL missing"

# ------------------------------------------------------------ helpers
with_lock() { # with_lock NAME cmd...   (serialises concurrent script runs)
	local lockfile=$CACHE/locks/$1.lock
	shift
	(
		flock 9
		"$@"
	) 9>"$lockfile"
}

extract_source() {
	if [ -f "$SRC_DIR/.oopswatch-src-version" ] &&
		[ "$(cat "$SRC_DIR/.oopswatch-src-version")" = "$SRC_VERSION" ]; then
		return 0
	fi
	log "extracting $SRC_TARBALL ($SRC_PKG $SRC_VERSION) to $SRC_DIR"
	local tmp
	tmp=$(mktemp -d "$CACHE/src/.tmp.XXXXXX")
	tar -C "$tmp" -xf "$SRC_TARBALL"
	[ -f "$tmp/linux-source-6.1/Makefile" ] || die "unexpected tarball layout"
	echo "$SRC_VERSION" >"$tmp/linux-source-6.1/.oopswatch-src-version"
	rm -rf "$SRC_DIR"
	mv "$tmp/linux-source-6.1" "$SRC_DIR"
	rmdir "$tmp"
}

fetch_busybox_arm64() {
	local dest=$CACHE/busybox/arm64
	[ -x "$dest/bin/busybox" ] && return 0
	log "fetching busybox-static:arm64 with apt-get download"
	local debdir=$CACHE/debs
	# apt-get download writes into the current directory.
	(cd "$debdir" && apt-get download busybox-static:arm64) >&2 ||
		die "apt-get download busybox-static:arm64 failed (did you run 'dpkg --add-architecture arm64 && apt-get update'?)"
	local deb
	deb=$(ls -t "$debdir"/busybox-static_*_arm64.deb | head -1)
	local tmp
	tmp=$(mktemp -d "$CACHE/busybox/.tmp.XXXXXX")
	dpkg-deb -x "$deb" "$tmp"
	[ -x "$tmp/bin/busybox" ] || die "no bin/busybox in $deb"
	dpkg-deb -f "$deb" Version >"$tmp/VERSION"
	rm -rf "$dest"
	mv "$tmp" "$dest"
}

busybox_for() { # busybox_for ARCH -> path
	case "$1" in
	x86_64) echo /bin/busybox ;;
	arm64) echo "$CACHE/busybox/arm64/bin/busybox" ;;
	esac
}

check_elf_machine() { # check_elf_machine FILE PATTERN
	local m
	m=$(LC_ALL=C readelf -h "$1" | sed -n 's/^ *Machine: *//p')
	[[ "$m" == *$2* ]] || die "$1 is for '$m', expected '$2'"
}

fragments_for() { # fragments_for ARCH VARIANT
	echo "$CONFIG_DIR/common.config"
	echo "$CONFIG_DIR/$1.config"
	echo "$CONFIG_DIR/$2.config"
	if [ "$BUILD_NUMBER" != 1 ]; then
		echo "$CONFIG_DIR/layout-shift.config"
	fi
}

compute_hash() { # compute_hash ARCH VARIANT
	local f
	{
		echo "source $SRC_PKG $SRC_VERSION"
		echo "arch $1 variant $2 build $BUILD_NUMBER"
		while read -r f; do
			echo "== fragment $(basename "$f")"
			cat "$f"
		done < <(fragments_for "$1" "$2")
		echo "== script"
		cat "$SCRIPT_PATH"
		echo "== init"
		cat "$QEMU_DIR/init"
		for f in "$MODULE_SRC"/*; do
			echo "== module $(basename "$f")"
			cat "$f"
		done
	} | sha256sum | cut -c1-12
}

verify_config() { # verify_config .config FRAGMENT...
	local cfg=$1 f line sym val bad=0
	shift
	for f in "$@"; do
		while IFS= read -r line; do
			if [[ "$line" =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
				sym=${BASH_REMATCH[1]}
				val=${BASH_REMATCH[2]}
				if ! grep -qxF "$sym=$val" "$cfg"; then
					log "config check FAILED: want $sym=$val ($(basename "$f")), got: $(grep -E "^(# )?$sym[= ]" "$cfg" || echo 'absent')"
					bad=1
				fi
			elif [[ "$line" =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
				sym=${BASH_REMATCH[1]}
				if grep -q "^$sym=" "$cfg"; then
					log "config check FAILED: want $sym unset ($(basename "$f")), got: $(grep "^$sym=" "$cfg")"
					bad=1
				fi
			fi
		done <"$f"
	done
	[ "$bad" = 0 ] || die "final .config does not contain the requested options (see above)"
}

json_str() { # minimal JSON string escaping
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$s"
}

# ------------------------------------------------------------ one build
build_one() { # build_one ARCH VARIANT -> sets BUILT_DIR
	local arch=$1 variant=$2
	local karch cross image_target image_path image_name qemu_bin console boot_args=
	local -a machine_args
	case "$arch" in
	x86_64)
		karch=x86_64 cross=
		image_target=bzImage image_path=arch/x86/boot/bzImage image_name=bzImage
		qemu_bin=qemu-system-x86_64 console=ttyS0
		machine_args=(-M pc -cpu max -smp 1 -m 256)
		# Built with KASLR, booted without it unless a test leaves this out.
		boot_args=nokaslr
		;;
	arm64)
		karch=arm64 cross=aarch64-linux-gnu-
		image_target=Image image_path=arch/arm64/boot/Image image_name=Image
		qemu_bin=qemu-system-aarch64 console=ttyAMA0
		machine_args=(-M virt -cpu cortex-a57 -smp 1 -m 256)
		;;
	esac

	local hash name final
	hash=$(compute_hash "$arch" "$variant")
	name=$arch-$variant-$hash
	final=$CACHE/kernels/$name
	if [ -f "$final/qemu.json" ]; then
		log "cached: $final"
		link_stable "$arch" "$variant" "$final"
		BUILT_DIR=$final
		return 0
	fi

	exec 8>"$CACHE/locks/$name.lock"
	flock 8
	if [ -f "$final/qemu.json" ]; then # built by a concurrent run
		exec 8>&-
		link_stable "$arch" "$variant" "$final"
		BUILT_DIR=$final
		return 0
	fi

	with_lock src extract_source
	if [ "$arch" = arm64 ]; then
		with_lock busybox fetch_busybox_arm64
		command -v aarch64-linux-gnu-gcc >/dev/null || die "aarch64-linux-gnu-gcc missing (gcc-aarch64-linux-gnu)"
	fi
	local busybox
	busybox=$(busybox_for "$arch")
	[ -x "$busybox" ] || die "$busybox missing (busybox-static)"
	case "$arch" in
	x86_64) check_elf_machine "$busybox" "X86-64" ;;
	arm64) check_elf_machine "$busybox" "AArch64" ;;
	esac

	# A failed run leaves its temp dir (with build.log) behind: drop those now.
	rm -rf "$CACHE/kernels/.tmp-$name."*
	# An object tree left by an interrupted run with the same hash is reused
	# (kbuild is incremental); a successful run removes it.
	local obj=$CACHE/build/$name
	local tmp
	mkdir -p "$obj"
	tmp=$(mktemp -d "$CACHE/kernels/.tmp-$name.XXXXXX")
	local blog=$tmp/build.log
	local -a frags
	mapfile -t frags < <(fragments_for "$arch" "$variant")
	local -a kmake=(make -C "$SRC_DIR" O="$obj" ARCH="$karch")
	[ -n "$cross" ] && kmake+=(CROSS_COMPILE="$cross")
	kmake+=(KBUILD_BUILD_VERSION="$BUILD_NUMBER" KBUILD_BUILD_USER="$BUILD_USER"
		KBUILD_BUILD_HOST="$arch-$variant" KBUILD_BUILD_TIMESTAMP="$BUILD_TIMESTAMP")
	# Relative file names in DWARF and __FILE__ (addr2line prints
	# drivers/misc/lkdtm/bugs.c:NN, the test module oopswatch_crash/...c:NN),
	# independent of where the cache lives.  Does not change code layout.
	# (GCC checks the last map first: "$obj/x" -> "x", the bare "$obj"
	# DW_AT_comp_dir -> "".)
	kmake+=(KCFLAGS="-ffile-prefix-map=$SRC_DIR/= -fdebug-prefix-map=$obj= -ffile-prefix-map=$obj/=")

	run() { # run cmd... (output to build.log; show the tail on failure)
		echo "+ $*" >>"$blog"
		if ! "$@" >>"$blog" 2>&1; then
			tail -n 40 "$blog" >&2
			die "command failed: $* (full log: $blog)"
		fi
	}

	log "building $name (build #$BUILD_NUMBER, $JOBS jobs); log: $blog"
	{
		echo "oopswatch test kernel build: $name"
		echo "source: $SRC_PKG $SRC_VERSION"
		echo "fragments: ${frags[*]}"
		echo "started: $(date -u '+%F %T UTC')"
	} >"$blog"
	local t0=$SECONDS

	run "${kmake[@]}" tinyconfig
	run "$SRC_DIR/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "${frags[@]}"
	run "${kmake[@]}" olddefconfig
	verify_config "$obj/.config" "${frags[@]}"
	log "$name: config verified, compiling"

	run "${kmake[@]}" -j"$JOBS" "$image_target" vmlinux modules
	# the out-of-tree test module, built against this tree
	rm -rf "$obj/oopswatch_crash"
	cp -r "$MODULE_SRC" "$obj/oopswatch_crash"
	run "${kmake[@]}" -j"$JOBS" M="$obj/oopswatch_crash" modules

	# ---- collect
	cp "$obj/$image_path" "$tmp/$image_name"
	cp "$obj/vmlinux" "$obj/System.map" "$tmp/"
	cp "$obj/.config" "$tmp/.config"
	cp "$obj/.config" "$tmp/config"
	mkdir -p "$tmp/modules"
	cp "$obj/oopswatch_crash/oopswatch_crash.ko" "$tmp/modules/"

	local banner release
	# (no grep -m1/head here: an early exit would SIGPIPE strings under pipefail)
	banner=$(strings -n 20 "$tmp/vmlinux" | awk '/^Linux version / && !f { print; f = 1 } END { exit !f }') ||
		die "no 'Linux version' banner in vmlinux"
	printf '%s\n' "$banner" >"$tmp/banner"
	release=$(cat "$obj/include/config/kernel.release")
	[[ "$banner" == "Linux version $release "*"#$BUILD_NUMBER "* ]] ||
		die "banner '$banner' does not match release $release / build #$BUILD_NUMBER"

	# ---- sanity checks on the result
	local sym_addr a2l
	sym_addr=$(awk '$3 == "lkdtm_EXCEPTION" { print $1 }' "$tmp/System.map")
	[ -n "$sym_addr" ] || die "lkdtm_EXCEPTION not in System.map"
	a2l=$("${cross}addr2line" -e "$tmp/vmlinux" "0x$sym_addr")
	[[ "$a2l" == drivers/misc/lkdtm/bugs.c:[0-9]* ]] ||
		die "addr2line lkdtm_EXCEPTION gave '$a2l' (no DWARF line info?)"
	echo "addr2line lkdtm_EXCEPTION 0x$sym_addr -> $a2l" >>"$blog"

	# ---- initramfs (gen_init_cpio: no root needed, reproducible)
	local gen=$obj/usr/gen_init_cpio
	[ -x "$gen" ] || run "${kmake[@]}" usr/gen_init_cpio
	cat >"$obj/initramfs.list" <<-EOF
		dir /dev 0755 0 0
		nod /dev/console 0600 0 0 c 5 1
		nod /dev/null 0666 0 0 c 1 3
		dir /bin 0755 0 0
		file /bin/busybox $busybox 0755 0 0
		slink /bin/sh busybox 0777 0 0
		dir /proc 0755 0 0
		dir /sys 0755 0 0
		dir /tmp 1777 0 0
		dir /lib 0755 0 0
		dir /lib/modules 0755 0 0
		file /lib/modules/oopswatch_crash.ko $tmp/modules/oopswatch_crash.ko 0644 0 0
		file /init $QEMU_DIR/init 0755 0 0
	EOF
	"$gen" -t 1704067200 "$obj/initramfs.list" >"$obj/initramfs.cpio" 2>>"$blog" ||
		die "gen_init_cpio failed"
	gzip -n -9 <"$obj/initramfs.cpio" >"$tmp/initramfs.cpio.gz"

	local secs=$((SECONDS - t0))
	echo "finished: $(date -u '+%F %T UTC') after ${secs}s" >>"$blog"

	# ---- how to boot it
	local append="console=$console panic=-1${boot_args:+ $boot_args}"
	{
		echo '{'
		echo '  "schema": 1,'
		echo "  \"arch\": \"$arch\","
		echo "  \"variant\": \"$variant\","
		echo "  \"kallsyms\": $([ "$variant" = kallsyms ] && echo true || echo false),"
		echo "  \"build_number\": $BUILD_NUMBER,"
		echo "  \"kernel_release\": $(json_str "$release"),"
		echo "  \"banner\": $(json_str "$banner"),"
		echo "  \"source_package\": \"$SRC_PKG $SRC_VERSION\","
		echo "  \"image\": \"$image_name\","
		echo '  "initrd": "initramfs.cpio.gz",'
		echo '  "vmlinux": "vmlinux",'
		echo '  "system_map": "System.map",'
		echo '  "config": ".config",'
		echo '  "modules": ["modules/oopswatch_crash.ko"],'
		echo "  \"cross_compile\": \"$cross\","
		echo "  \"qemu\": \"$qemu_bin\","
		printf '  "machine_args": ['
		local sep='' a
		for a in "${machine_args[@]}"; do printf '%s%s' "$sep" "$(json_str "$a")"; sep=', '; done
		echo '],'
		# pvpanic: QEMU emits a GUEST_PANICKED (QMP) event.  "-action panic=none"
		# keeps QEMU running so the kernel can print its last panic lines;
		# panic=-1 then resets and -no-reboot turns that into a QEMU exit (status 0).
		# (QEMU's default action, shutdown, cuts off e.g. "Kernel Offset: disabled";
		# "-action panic=exit-failure" would instead give exit status 1.)
		echo '  "device_args": ["-device", "pvpanic-pci", "-action", "panic=none"],'
		echo '  "common_args": ["-nographic", "-no-reboot"],'
		echo "  \"console\": \"$console\","
		echo "  \"append\": \"$append\","
		echo '  "crash_param": "oopswatch.crash",'
		echo "  \"argv_example\": [\"$qemu_bin\", $(for a in "${machine_args[@]}"; do printf '%s, ' "$(json_str "$a")"; done)\"-nographic\", \"-no-reboot\", \"-device\", \"pvpanic-pci\", \"-action\", \"panic=none\", \"-kernel\", \"$image_name\", \"-initrd\", \"initramfs.cpio.gz\", \"-append\", \"$append oopswatch.crash=EXCEPTION\"],"
		echo "  \"build_seconds\": $secs"
		echo '}'
	} >"$tmp/qemu.json"

	chmod 755 "$tmp"
	mv -T "$tmp" "$final"
	exec 8>&-
	if [ "$KEEP_OBJECTS" = 1 ]; then
		log "keeping object tree $obj"
	else
		rm -rf "$obj"
	fi
	log "built $name in ${secs}s"
	link_stable "$arch" "$variant" "$final"
	BUILT_DIR=$final
}

link_stable() { # link_stable ARCH VARIANT DIR: kernels/ARCH-VARIANT[-buildN] -> DIR (board configs use these)
	local link=$CACHE/kernels/$1-$2
	[ "$BUILD_NUMBER" = 1 ] || link+=-build$BUILD_NUMBER
	ln -sfn "$(basename "$3")" "$link.tmp.$$"
	mv -T "$link.tmp.$$" "$link"
}

# ------------------------------------------------------------ main
results=()
for arch in "${ARCHES[@]}"; do
	for variant in "${VARIANTS[@]}"; do
		BUILT_DIR=
		build_one "$arch" "$variant"
		results+=("$BUILT_DIR")
	done
done
printf '%s\n' "${results[@]}"
