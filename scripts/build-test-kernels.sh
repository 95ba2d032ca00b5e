#!/usr/bin/env bash
# Build small Linux 6.1 test kernels (LKDTM built in) + a small initramfs,
# cached outside the repository, for oopswatch's tests.
#
# Usage: build-test-kernels.sh [--build-number N] ARCH VARIANT
#        build-test-kernels.sh [--build-number N] all        (every arch's variants)
#   ARCH     x86_64 | arm64 | arm | riscv64 | ppc64le | mips | all
#   VARIANT  kallsyms | nokallsyms | all   (ppc64le and mips: kallsyms only)
#
# The LAST line(s) of stdout are the absolute path(s) of the finished build
# directories, one per line, in the order of ARCHES x VARIANTS below; all
# chatter goes to stderr and to <build dir>/build.log.  Typical use:
#     dir=$(scripts/build-test-kernels.sh riscv64 kallsyms | tail -1)
#
# Cache layout (OOPSWATCH_CACHE overrides ~/.cache/oopswatch):
#   src/linux-source-6.1/             extracted once from /usr/src
#   busybox/<debian arch>/            busybox-static:<arch> (apt-get download), for the shell
#   build/<arch>/                     O= object tree, ONE per arch, kept: every variant
#                                     and build number of an arch is built in it, so
#                                     switching variant recompiles only what the
#                                     changed CONFIG_ symbols touch
#   kbuilds/<arch>-<variant>[-buildN]-<khash>/   the kernel alone (image, vmlinux,
#                                     System.map, .config, Module.symvers, banner)
#   kernels/<arch>-<variant>[-buildN]            symlink to the newest finished build below
#   kernels/<arch>-<variant>[-buildN]-<hash>/    finished, self-contained build dir:
#       zImage|Image|bzImage|vmlinux  vmlinux  System.map  .config  config
#       initramfs.cpio.gz  modules/oopswatch_crash.ko  banner  build.log  qemu.json
#
# <khash> covers the linux-source package version, the config fragments, the
# build number and the kernel-building part of this script; <hash> adds the
# init (qemu/init.c), the test module and busybox: changing the init or the
# module rebuilds those and the initramfs, never the kernel.
#
# --build-number N sets KBUILD_BUILD_VERSION (the "#N" in the banner).  For
# N != 1 the fragment qemu/config/layout-shift.config is merged as well, which
# adds a little text early in the link order, so code addresses differ from
# build #1 while the release string (uname -r) stays the same.
#
# Needs (Debian 12, see setup.sh): build-essential flex bison bc libelf-dev
# libssl-dev cpio linux-source-6.1, the cross compilers gcc-{aarch64,arm,
# riscv64,powerpc64le,mips}-linux-gnu(eabihf) with their libc6-dev-*-cross, and
# `dpkg --add-architecture arm64 armhf ppc64el && apt-get update` (for
# `apt-get download busybox-static:<arch>`).
set -euo pipefail

SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
SCRIPT_DIR=$(dirname "$SCRIPT_PATH")
REPO_DIR=$(dirname "$SCRIPT_DIR")
QEMU_DIR=$REPO_DIR/qemu
CONFIG_DIR=$QEMU_DIR/config
MODULE_SRC=$QEMU_DIR/modules/oopswatch_crash
INIT_SRC=$QEMU_DIR/init.c

CACHE=${OOPSWATCH_CACHE:-$HOME/.cache/oopswatch}
SRC_PKG=linux-source-6.1
SRC_TARBALL=/usr/src/linux-source-6.1.tar.xz
JOBS=${OOPSWATCH_JOBS:-$(nproc)}
BUILD_NUMBER=1
# Fixed build metadata -> reproducible banner.
BUILD_USER=oopswatch
# The build host in the banner is the variant: every variant's banner is distinct,
# so a watcher picks the right build by the banner alone.
BUILD_TIMESTAMP='Mon Jan  1 00:00:00 UTC 2024'
SOURCE_DATE_EPOCH=1704067200

ALL_ARCHES=(x86_64 arm64 arm riscv64 ppc64le mips)

log() { echo "build-test-kernels: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
	sed -n '2,13p' "$SCRIPT_PATH" | sed 's/^# \{0,1\}//' >&2
	exit "${1:-2}"
}

variants_of() { # the variants an arch is built in
	case "$1" in
	ppc64le|mips) echo kallsyms ;;
	*) echo kallsyms nokallsyms ;;
	esac
}

# ------------------------------------------------------------ per arch
arch_settings() { # arch_settings ARCH: sets the variables below
	# kernel (part of the kernel hash)
	#   karch: ARCH= ; cross: CROSS_COMPILE= ; image_target/image_path: make target, result
	# boot (part of the build hash only)
	#   report_arch: the architecture name oopswatch reports (detector, boards)
	#   image_name, qemu_bin, machine_args, console, boot_args
	#   deb_arch: Debian architecture of the static user space (busybox-static, if any)
	#   elf_machine: readelf's "Machine:" of that user space
	boot_args=
	case "$1" in
	x86_64)
		karch=x86_64 cross=
		image_target=bzImage image_path=arch/x86/boot/bzImage image_name=bzImage
		report_arch=x86_64 qemu_bin=qemu-system-x86_64 console=ttyS0
		machine_args=(-M pc -cpu max -smp 1 -m 256)
		# Built with KASLR, booted without it unless a test leaves this out.
		boot_args=nokaslr
		deb_arch=amd64 elf_machine=X86-64
		;;
	arm64)
		karch=arm64 cross=aarch64-linux-gnu-
		image_target=Image image_path=arch/arm64/boot/Image image_name=Image
		report_arch=arm64 qemu_bin=qemu-system-aarch64 console=ttyAMA0
		# virt gives the kernel a KASLR seed in the device tree (kaslr-seed).
		machine_args=(-M virt -cpu cortex-a57 -smp 1 -m 256)
		boot_args=nokaslr
		deb_arch=arm64 elf_machine=AArch64
		;;
	arm)
		karch=arm cross=arm-linux-gnueabihf-
		image_target=zImage image_path=arch/arm/boot/zImage image_name=zImage
		report_arch=arm qemu_bin=qemu-system-arm console=ttyAMA0
		# highmem=off: all RAM below the PCI window (no LPAE kernel needed)
		machine_args=(-M virt,highmem=off -cpu cortex-a15 -smp 1 -m 256)
		deb_arch=armhf elf_machine=ARM
		;;
	riscv64)
		karch=riscv cross=riscv64-linux-gnu-
		image_target=Image image_path=arch/riscv/boot/Image image_name=Image
		report_arch=riscv qemu_bin=qemu-system-riscv64 console=ttyS0
		# OpenSBI: QEMU's own copy (qemu-system-data) of Debian's opensbi build
		machine_args=(-M virt -bios default -smp 1 -m 256)
		deb_arch=riscv64 elf_machine=RISC-V
		;;
	ppc64le)
		karch=powerpc cross=powerpc64le-linux-gnu-
		image_target=vmlinux image_path=vmlinux image_name=vmlinux
		report_arch=powerpc qemu_bin=qemu-system-ppc64 console=hvc0
		machine_args=(-M pseries -smp 1 -m 512)
		deb_arch=ppc64el elf_machine=PowerPC64
		;;
	mips)
		karch=mips cross=mips-linux-gnu-
		image_target=vmlinux image_path=vmlinux image_name=vmlinux
		report_arch=mips qemu_bin=qemu-system-mips console=ttyS0
		machine_args=(-M malta -cpu 24Kf -smp 1 -m 256)
		deb_arch=mips elf_machine=MIPS
		;;
	*) return 1 ;;
	esac
}

# Debian 12 packages busybox-static for these; the other arches get no shell.
busybox_arches=(amd64 arm64 armhf ppc64el)

# ---------------------------------------------------------------- arguments
positional=()
while [ $# -gt 0 ]; do
	case "$1" in
	--build-number) [ $# -ge 2 ] || usage; BUILD_NUMBER=$2; shift 2 ;;
	--build-number=*) BUILD_NUMBER=${1#*=}; shift ;;
	--keep-objects) shift ;; # object trees are always kept now
	-h|--help) usage 0 ;;
	-*) log "unknown option $1"; usage ;;
	*) positional+=("$1"); shift ;;
	esac
done
[[ "$BUILD_NUMBER" =~ ^[1-9][0-9]*$ ]] || die "--build-number must be a positive integer"

REQUESTED_VARIANT=all
case ${#positional[@]} in
1) [ "${positional[0]}" = all ] || usage; ARCHES=("${ALL_ARCHES[@]}") ;;
2)
	if [ "${positional[0]}" = all ]; then
		ARCHES=("${ALL_ARCHES[@]}")
	elif arch_settings "${positional[0]}"; then
		ARCHES=("${positional[0]}")
	else
		log "bad ARCH ${positional[0]}"; usage
	fi
	case "${positional[1]}" in
	kallsyms|nokallsyms|all) REQUESTED_VARIANT=${positional[1]} ;;
	*) log "bad VARIANT ${positional[1]}"; usage ;;
	esac
	;;
*) usage ;;
esac

mkdir -p "$CACHE"/{src,build,kbuilds,kernels,locks,debs,busybox}
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

busybox_for() { # busybox_for DEBARCH: BUSYBOX= the path of a static busybox, or empty
	local debarch=$1
	BUSYBOX=
	[[ " ${busybox_arches[*]} " == *" $debarch "* ]] || return 0
	if [ "$debarch" = amd64 ]; then
		BUSYBOX=/bin/busybox
	else
		BUSYBOX=$CACHE/busybox/$debarch/bin/busybox
		[ -x "$BUSYBOX" ] || with_lock busybox fetch_busybox "$debarch"
	fi
	[ -x "$BUSYBOX" ] || die "$BUSYBOX missing (busybox-static)"
}

fetch_busybox() { # fetch_busybox DEBARCH (never apt-get install: it would replace /bin/busybox)
	local debarch=$1 dest=$CACHE/busybox/$1 debdir=$CACHE/debs deb tmp
	[ -x "$dest/bin/busybox" ] && return 0
	log "fetching busybox-static:$debarch with apt-get download"
	(cd "$debdir" && apt-get download "busybox-static:$debarch") >&2 ||
		die "apt-get download busybox-static:$debarch failed (did you run 'dpkg --add-architecture $debarch && apt-get update'?)"
	deb=$(ls -t "$debdir"/busybox-static_*_"$debarch".deb | head -1)
	tmp=$(mktemp -d "$CACHE/busybox/.tmp.XXXXXX")
	dpkg-deb -x "$deb" "$tmp"
	[ -x "$tmp/bin/busybox" ] || die "no bin/busybox in $deb"
	dpkg-deb -f "$deb" Version >"$tmp/VERSION"
	rm -rf "$dest"
	mv "$tmp" "$dest"
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

kernel_hash() { # kernel_hash ARCH VARIANT: what the kernel is built from
	local f
	{
		echo "source $SRC_PKG $SRC_VERSION"
		echo "arch $1 variant $2 build $BUILD_NUMBER"
		echo "karch $karch cross $cross target $image_target $image_path"
		while read -r f; do
			echo "== fragment $(basename "$f")"
			cat "$f"
		done < <(fragments_for "$1" "$2")
		echo "== recipe"
		declare -f kernel_make build_kernel verify_config
	} | sha256sum | cut -c1-12
}

build_hash() { # build_hash KHASH BUSYBOX: the kernel plus its user space and boot settings
	local f
	{
		echo "kernel $1"
		echo "== init"
		cat "$INIT_SRC"
		for f in "$MODULE_SRC"/*; do
			echo "== module $(basename "$f")"
			cat "$f"
		done
		echo "== busybox $([ -n "$2" ] && sha256sum <"$2")" # (not its path: a copied cache stays valid)
		echo "== boot $report_arch $image_name $qemu_bin ${machine_args[*]} $console $boot_args"
		declare -f build_userspace write_qemu_json
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

json_list() { # json_list ITEM...
	local sep='' a
	printf '['
	for a in "$@"; do printf '%s%s' "$sep" "$(json_str "$a")"; sep=', '; done
	printf ']'
}

run() { # run LOG cmd... (output to LOG; show the tail on failure)
	local blog=$1
	shift
	echo "+ $*" >>"$blog"
	if ! "$@" >>"$blog" 2>&1; then
		tail -n 40 "$blog" >&2
		die "command failed: $* (full log: $blog)"
	fi
}

kernel_make() { # kernel_make OBJ VARIANT -> the make command line in KMAKE
	local obj=$1 variant=$2
	KMAKE=(make -C "$SRC_DIR" O="$obj" ARCH="$karch")
	[ -n "$cross" ] && KMAKE+=(CROSS_COMPILE="$cross")
	KMAKE+=(KBUILD_BUILD_VERSION="$BUILD_NUMBER" KBUILD_BUILD_USER="$BUILD_USER"
		KBUILD_BUILD_HOST="$ARCH_NAME-$variant" KBUILD_BUILD_TIMESTAMP="$BUILD_TIMESTAMP")
	# Relative file names in DWARF and __FILE__ (addr2line prints
	# drivers/misc/lkdtm/bugs.c:NN, the test module oopswatch_crash/...c:NN),
	# independent of where the cache lives.  Does not change code layout.
	# (GCC checks the last map first: "$obj/x" -> "x", the bare "$obj"
	# DW_AT_comp_dir -> "".)  The same for every variant: a changed command
	# line would recompile everything.
	KMAKE+=(KCFLAGS="-ffile-prefix-map=$SRC_DIR/= -fdebug-prefix-map=$obj= -ffile-prefix-map=$obj/=")
}

# ------------------------------------------------------------ the kernel
build_kernel() { # build_kernel ARCH VARIANT KHASH DEST: the kernel alone, into DEST
	local arch=$1 variant=$2 khash=$3 dest=$4
	local obj=$CACHE/build/$arch tmp blog t0 secs
	local -a frags
	mapfile -t frags < <(fragments_for "$arch" "$variant")
	kernel_make "$obj" "$variant"
	mkdir -p "$obj"
	rm -rf "$dest".tmp.*
	tmp=$(mktemp -d "$dest.tmp.XXXXXX")
	blog=$tmp/build.log
	{
		echo "oopswatch test kernel build: $arch-$variant build #$BUILD_NUMBER, kernel hash $khash"
		echo "source: $SRC_PKG $SRC_VERSION"
		echo "object tree: $obj (shared by every variant of $arch)"
		echo "fragments: ${frags[*]}"
		echo "started: $(date -u '+%F %T UTC')"
	} >"$blog"
	log "building the $arch-$variant kernel (build #$BUILD_NUMBER, $JOBS jobs) in $obj; log: $blog"
	t0=$SECONDS

	# Configured in place: kbuild's syncconfig then touches only the include/config/
	# files of the CONFIG_ symbols that changed, and only the objects that use
	# those are recompiled.
	run "$blog" "${KMAKE[@]}" tinyconfig
	run "$blog" "$SRC_DIR/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "${frags[@]}"
	run "$blog" "${KMAKE[@]}" olddefconfig
	verify_config "$obj/.config" "${frags[@]}"
	log "$arch-$variant: config verified, compiling"

	run "$blog" "${KMAKE[@]}" -j"$JOBS" "$image_target" vmlinux modules

	# ---- collect
	# (ppc64le and mips boot vmlinux itself)
	[ "$image_name" = vmlinux ] || cp "$obj/$image_path" "$tmp/$image_name"
	cp "$obj/vmlinux" "$obj/System.map" "$obj/.config" "$obj/Module.symvers" "$tmp/"
	local banner release
	# (no grep -m1/head here: an early exit would SIGPIPE strings under pipefail)
	banner=$(strings -n 20 "$tmp/vmlinux" | awk '/^Linux version / && !f { print; f = 1 } END { exit !f }') ||
		die "no 'Linux version' banner in vmlinux"
	printf '%s\n' "$banner" >"$tmp/banner"
	release=$(cat "$obj/include/config/kernel.release")
	printf '%s\n' "$release" >"$tmp/release"
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

	secs=$((SECONDS - t0))
	echo "finished: $(date -u '+%F %T UTC') after ${secs}s" >>"$blog"
	echo "$secs" >"$tmp/kernel_seconds"
	chmod 755 "$tmp"
	mv -T "$tmp" "$dest"
	log "built the $arch-$variant kernel in ${secs}s"
}

# ------------------------------------------------------------ init, module, initramfs
build_userspace() { # build_userspace ARCH VARIANT KDIR TMP BUSYBOX: module + init + initramfs into TMP
	local arch=$1 variant=$2 kdir=$3 tmp=$4 busybox=$5
	local obj=$CACHE/build/$arch blog=$tmp/build.log
	kernel_make "$obj" "$variant"
	echo "== user space ($(date -u '+%F %T UTC'))" >>"$blog"

	# The test module is built against this kernel's configuration: when the
	# object tree holds another variant now, put this one's .config and
	# Module.symvers back (modules_prepare, no kernel recompile).
	if ! cmp -s "$kdir/.config" "$obj/.config" || ! cmp -s "$kdir/Module.symvers" "$obj/Module.symvers"; then
		mkdir -p "$obj"
		cp "$kdir/.config" "$obj/.config"
		run "$blog" "${KMAKE[@]}" olddefconfig
		run "$blog" "${KMAKE[@]}" -j"$JOBS" modules_prepare
		cp "$kdir/Module.symvers" "$obj/Module.symvers"
	fi
	rm -rf "$obj/oopswatch_crash"
	cp -r "$MODULE_SRC" "$obj/oopswatch_crash"
	run "$blog" "${KMAKE[@]}" -j"$JOBS" M="$obj/oopswatch_crash" modules
	mkdir -p "$tmp/modules"
	cp "$obj/oopswatch_crash/oopswatch_crash.ko" "$tmp/modules/"

	# /init: static, for the kernel's architecture
	run "$blog" "${cross}gcc" -static -Os -Wall -Wextra -Werror -ffile-prefix-map="$QEMU_DIR/=" \
		-Wl,--build-id=none -o "$tmp/init" "$INIT_SRC"
	check_elf_machine "$tmp/init" "$elf_machine"

	# initramfs (gen_init_cpio: no root needed, reproducible)
	local gen=$obj/usr/gen_init_cpio list=$tmp/initramfs.list
	[ -x "$gen" ] || run "$blog" "${KMAKE[@]}" usr/gen_init_cpio
	cat >"$list" <<-EOF
		dir /dev 0755 0 0
		nod /dev/console 0600 0 0 c 5 1
		nod /dev/null 0666 0 0 c 1 3
		dir /bin 0755 0 0
		dir /proc 0755 0 0
		dir /sys 0755 0 0
		dir /tmp 1777 0 0
		dir /lib 0755 0 0
		dir /lib/modules 0755 0 0
		file /lib/modules/oopswatch_crash.ko $tmp/modules/oopswatch_crash.ko 0644 0 0
		file /init $tmp/init 0755 0 0
	EOF
	if [ -n "$busybox" ]; then
		check_elf_machine "$busybox" "$elf_machine"
		cat >>"$list" <<-EOF
			file /bin/busybox $busybox 0755 0 0
			slink /bin/sh busybox 0777 0 0
		EOF
	fi
	"$gen" -t "$SOURCE_DATE_EPOCH" "$list" >"$tmp/initramfs.cpio" 2>>"$blog" || die "gen_init_cpio failed"
	gzip -n -9 <"$tmp/initramfs.cpio" >"$tmp/initramfs.cpio.gz"
	rm -f "$tmp/initramfs.cpio" "$list" "$tmp/init"
}

write_qemu_json() { # write_qemu_json ARCH VARIANT DIR SHELL(true|false): how to boot it
	local arch=$1 variant=$2 dir=$3 shell=$4
	local append="console=$console panic=-1${boot_args:+ $boot_args}"
	local -a common=(-nographic -no-reboot)
	# pvpanic: QEMU emits a GUEST_PANICKED (QMP) event.  "-action panic=none"
	# keeps QEMU running so the kernel can print its last panic lines;
	# panic=-1 then resets and -no-reboot turns that into a QEMU exit (status 0).
	local -a devices=(-device pvpanic-pci -action panic=none)
	cat >"$dir/qemu.json" <<-EOF
	{
	  "schema": 1,
	  "arch": "$report_arch",
	  "target": "$arch",
	  "variant": "$variant",
	  "kallsyms": $([ "$variant" = kallsyms ] && echo true || echo false),
	  "build_number": $BUILD_NUMBER,
	  "kernel_release": $(json_str "$(cat "$dir/release")"),
	  "banner": $(json_str "$(cat "$dir/banner")"),
	  "source_package": "$SRC_PKG $SRC_VERSION",
	  "image": "$image_name",
	  "initrd": "initramfs.cpio.gz",
	  "vmlinux": "vmlinux",
	  "system_map": "System.map",
	  "config": ".config",
	  "modules": ["modules/oopswatch_crash.ko"],
	  "cross_compile": "$cross",
	  "qemu": "$qemu_bin",
	  "machine_args": $(json_list "${machine_args[@]}"),
	  "device_args": $(json_list "${devices[@]}"),
	  "common_args": $(json_list "${common[@]}"),
	  "console": "$console",
	  "append": "$append",
	  "crash_param": "oopswatch.crash",
	  "shell": $shell,
	  "argv_example": $(json_list "$qemu_bin" "${machine_args[@]}" "${common[@]}" "${devices[@]}" -kernel "$image_name" -initrd initramfs.cpio.gz -append "$append oopswatch.crash=EXCEPTION"),
	  "kernel_seconds": $(cat "$dir/kernel_seconds"),
	  "userspace_seconds": $(cat "$dir/userspace_seconds")
	}
	EOF
}

# ------------------------------------------------------------ one build
build_one() { # build_one ARCH VARIANT -> sets BUILT_DIR
	local arch=$1 variant=$2
	local karch cross image_target image_path image_name report_arch qemu_bin console boot_args deb_arch elf_machine
	local -a machine_args
	arch_settings "$arch"
	ARCH_NAME=$arch
	local suffix=
	[ "$BUILD_NUMBER" = 1 ] || suffix=-build$BUILD_NUMBER

	local busybox khash hash name final kdir
	khash=$(kernel_hash "$arch" "$variant")
	kdir=$CACHE/kbuilds/$arch-$variant$suffix-$khash
	with_lock src extract_source
	command -v "${cross}gcc" >/dev/null || die "${cross}gcc missing (see setup.sh)"
	busybox_for "$deb_arch"
	busybox=$BUSYBOX
	hash=$(build_hash "$khash" "$busybox")
	name=$arch-$variant$suffix-$hash
	final=$CACHE/kernels/$name
	if [ -f "$final/qemu.json" ]; then
		log "cached: $final"
		link_stable "$arch-$variant$suffix" "$final"
		BUILT_DIR=$final
		return 0
	fi

	# One object tree per arch: one build at a time in it.
	exec 8>"$CACHE/locks/build-$arch.lock"
	flock 8
	if [ -f "$final/qemu.json" ]; then # built by a concurrent run
		exec 8>&-
		link_stable "$arch-$variant$suffix" "$final"
		BUILT_DIR=$final
		return 0
	fi
	if [ ! -f "$kdir/vmlinux" ]; then
		build_kernel "$arch" "$variant" "$khash" "$kdir"
	else
		log "cached kernel: $kdir"
	fi

	rm -rf "$CACHE/kernels/.tmp-$name."*
	local tmp t0=$SECONDS
	tmp=$(mktemp -d "$CACHE/kernels/.tmp-$name.XXXXXX")
	# the kernel's files, hard-linked (a finished kernel is never modified)
	local f
	for f in vmlinux System.map .config banner release kernel_seconds; do
		ln "$kdir/$f" "$tmp/$f" 2>/dev/null || cp "$kdir/$f" "$tmp/$f"
	done
	if [ "$image_name" != vmlinux ]; then
		ln "$kdir/$image_name" "$tmp/$image_name" 2>/dev/null || cp "$kdir/$image_name" "$tmp/$image_name"
	fi
	cp "$kdir/.config" "$tmp/config"
	cp "$kdir/build.log" "$tmp/build.log"
	build_userspace "$arch" "$variant" "$kdir" "$tmp" "$busybox"
	echo $((SECONDS - t0)) >"$tmp/userspace_seconds"
	echo "user space (init, module, initramfs${busybox:+, busybox $busybox}) in $((SECONDS - t0))s" >>"$tmp/build.log"
	write_qemu_json "$arch" "$variant" "$tmp" "$([ -n "$busybox" ] && echo true || echo false)"
	rm -f "$tmp/release"
	chmod 755 "$tmp"
	mv -T "$tmp" "$final"
	exec 8>&-
	log "finished $final"
	link_stable "$arch-$variant$suffix" "$final"
	BUILT_DIR=$final
}

link_stable() { # link_stable NAME DIR: kernels/NAME -> DIR (board configs use these)
	local link=$CACHE/kernels/$1
	ln -sfn "$(basename "$2")" "$link.tmp.$$"
	mv -T "$link.tmp.$$" "$link"
}

# ------------------------------------------------------------ main
results=()
for arch in "${ARCHES[@]}"; do
	for variant in $(variants_of "$arch"); do
		[ "$REQUESTED_VARIANT" = all ] || [ "$REQUESTED_VARIANT" = "$variant" ] || continue
		BUILT_DIR=
		build_one "$arch" "$variant"
		results+=("$BUILT_DIR")
	done
done
[ ${#results[@]} -gt 0 ] || die "$ARCHES has no $REQUESTED_VARIANT variant (ppc64le and mips: kallsyms only)"
printf '%s\n' "${results[@]}"
