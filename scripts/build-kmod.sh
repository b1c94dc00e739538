#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-kmod.sh KVER|KDIR OUTDIR [--src DIR] [kbuild arguments...]
# Builds the module for kernel version KVER (its headers in
# /lib/modules/KVER/build) or for the kernel build directory KDIR, from a
# copy of kmod/ and uapi/ in OUTDIR, so builds for several kernels never
# share objects. The module is OUTDIR/kmod/shmipc.ko. --src builds the
# module in DIR of the tree instead (selftests/control: the sanitizer
# run's positive control), as OUTDIR/DIR/*.ko. Extra arguments go to
# kbuild (W=1, C=2, ...). OUTDIR may be relative: kbuild is given its
# absolute path (a relative M= would be resolved in the kernel's tree).
set -euo pipefail

usage='usage: build-kmod.sh KVER|KDIR OUTDIR [--src DIR] [args]'
kver=${1:?$usage}
out=${2:?$usage}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
case $kver in
*/*)	kdir=$kver ;;
*)	kdir=/lib/modules/$kver/build ;;
esac

if [ ! -d "$kdir" ]; then
	echo "build-kmod: no kernel build directory at $kdir;" \
		"run scripts/install-deps.sh, or give KDIR=" >&2
	exit 1
fi
src=kmod
if [ "${1:-}" = --src ]; then
	src=${2:?$usage}
	shift 2
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/kmod" "$out/uapi" "${out:?}/$src"
mkdir -p "$(dirname "$out/$src")"
cp -r "$top/uapi" "$out/"
cp -r "$top/$src" "$out/$src"
make -s -C "$kdir" M="$out/$src" "$@" modules
