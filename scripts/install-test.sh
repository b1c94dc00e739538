#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# `make install DESTDIR=...` then a program built only from what was
# installed, through pkg-config; and libshm.so exports nothing but the
# versioned shmipc_ symbols. TAP into $BUILD/results/install.tap.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
results=$build/results
mkdir -p "$results"
tap=$results/install.tap
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tap"
n=0
status=0
check() {	# check DESCRIPTION COMMAND...
	n=$((n + 1))
	if "${@:2}" >"$tmp/out" 2>&1; then
		echo "ok $n install: $1" | tee -a "$tap"
	else
		echo "not ok $n install: $1" | tee -a "$tap"
		sed 's/^/# /' "$tmp/out"
		status=1
	fi
}

root=$tmp/root
check "make install DESTDIR=... PREFIX=/usr" \
	make -s -C "$top" BUILD="$build" install DESTDIR="$root" PREFIX=/usr
check "installed files" test -f "$root/usr/include/libshm.h" -a \
	-L "$root/usr/lib/libshm.so" -a -f "$root/usr/lib/libshm.a" -a \
	-f "$root/usr/lib/pkgconfig/libshm.pc"
exports() {
	nm -D --defined-only "$root/usr/lib/libshm.so.0" | awk '{print $3}' |
		grep -v '^LIBSHM_' >"$tmp/syms"
	[ -s "$tmp/syms" ] && ! grep -v '^shmipc_.*@@LIBSHM_0\.1$' "$tmp/syms"
}
check "only versioned shmipc_ symbols exported" exports
soname() {
	readelf -d "$root/usr/lib/libshm.so" | grep -q 'SONAME.*\[libshm\.so\.0\]'
}
check "SONAME libshm.so.0" soname

build_example() {	# what a user of the installed library does
	local flags
	flags=$(PKG_CONFIG_SYSROOT_DIR="$root" \
		PKG_CONFIG_LIBDIR="$root/usr/lib/pkgconfig" \
		pkg-config --cflags --libs libshm) || return 1
	cc -std=c11 -Wall -Werror -o "$tmp/pingpong" "$top/examples/pingpong.c" $flags
}
check "examples/pingpong.c builds with pkg-config --cflags --libs libshm" build_example
check "and runs against the installed library" \
	env LD_LIBRARY_PATH="$root/usr/lib" SHMIPC_BACKEND=posix "$tmp/pingpong" 200
check "the shmipc tool is installed and runs" \
	env SHMIPC_LIBEXEC="$root/usr/libexec/shmipc" "$root/usr/bin/shmipc" status
check "its benchmarks and man pages are installed" test -x \
	"$root/usr/libexec/shmipc/msg_bench" -a -f "$root/usr/share/man/man1/shmipc.1" \
	-a -f "$root/usr/share/man/man3/libshm.3"
exit $status
