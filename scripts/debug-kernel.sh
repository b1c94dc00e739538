#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# debug-kernel.sh OUTDIR
# Builds the sanitizer kernel of make check (scripts/check-debug.sh) into
# OUTDIR/build, once:
# Debian's linux-source-6.12, tinyconfig plus scripts/debug-kernel.config
# (KASAN, lockdep, UBSAN, kmemleak, KFENCE, debug objects). The build is
# reused while its key is unchanged: the fragment, the source package's
# version and the compiler. Prints the build directory (a KDIR for
# scripts/build-kmod.sh; the image is arch/x86/boot/bzImage in it).
set -euo pipefail

out=${1:?usage: debug-kernel.sh OUTDIR}
top=$(cd "$(dirname "$0")/.." && pwd)
tarball=/usr/src/linux-source-6.12.tar.xz
fragment=$top/scripts/debug-kernel.config

if [ ! -f "$tarball" ]; then
	echo "debug-kernel: $tarball missing; run scripts/install-deps.sh" >&2
	exit 1
fi
for tool in flex bison bc gcc make; do
	command -v "$tool" >/dev/null || {
		echo "debug-kernel: $tool missing; run scripts/install-deps.sh" >&2
		exit 1
	}
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
key=$( {
	cat "$fragment"
	dpkg-query -W -f='${Version}\n' linux-source-6.12 2>/dev/null || stat -c %Y "$tarball"
	gcc --version | head -1
} | sha256sum | cut -d' ' -f1)
build=$out/build
if [ -f "$build/.shmipc-key" ] && [ "$(cat "$build/.shmipc-key")" = "$key" ] &&
   [ -f "$build/arch/x86/boot/bzImage" ] && [ -f "$build/Module.symvers" ]; then
	echo "$build"
	exit 0
fi

src=$out/src
if [ ! -f "$src/.extracted" ] || [ "$tarball" -nt "$src/.extracted" ]; then
	echo "debug-kernel: extracting $tarball" >&2
	rm -rf "$src"
	mkdir -p "$src"
	tar -xJf "$tarball" -C "$src" --strip-components=1
	touch "$src/.extracted"
fi

rm -rf "$build"
mkdir -p "$build"
jobs=$(nproc)
start=$(date +%s)
{
	make -C "$src" O="$build" tinyconfig
	"$src/scripts/kconfig/merge_config.sh" -m -O "$build" "$build/.config" "$fragment"
	make -C "$src" O="$build" olddefconfig
} >"$out/config.log" 2>&1 || {
	echo "debug-kernel: configuring failed; see $out/config.log" >&2
	exit 1
}
# Every line of the fragment must have survived olddefconfig's resolution.
missing=0
while read -r line; do
	case $line in
	''|'# CONFIG_'*' is not set') ;;
	'#'*) continue ;;
	esac
	[ -n "$line" ] || continue
	if ! grep -qxF -- "$line" "$build/.config"; then
		echo "debug-kernel: the config lost: $line" >&2
		missing=1
	fi
done <"$fragment"
[ $missing -eq 0 ] || exit 1

echo "debug-kernel: building 6.12 with sanitizers ($jobs jobs; about 7 minutes on 2 cores)" >&2
if ! make -C "$src" O="$build" -j"$jobs" all >"$out/build.log" 2>&1; then
	tail -30 "$out/build.log" >&2
	echo "debug-kernel: the build failed; see $out/build.log" >&2
	exit 1
fi
echo "debug-kernel: built in $(($(date +%s) - start)) s" >&2
echo "$key" >"$build/.shmipc-key"
echo "$build"
