#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-kmod.sh KVER|KDIR OUTDIR [kbuild arguments...]
# Builds the module for kernel version KVER (its headers in
# /lib/modules/KVER/build) or for the kernel build directory KDIR, from a
# copy of kmod/ and uapi/ in OUTDIR, so builds for several kernels never
# share objects. The module is OUTDIR/kmod/shmipc.ko. Extra arguments go to
# kbuild (W=1, C=2, ...). OUTDIR may be relative: kbuild is given its
# absolute path (a relative M= would be resolved in the kernel's tree).
set -euo pipefail

usage='usage: build-kmod.sh KVER|KDIR OUTDIR [args]'
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
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$out/kmod" "$out/uapi"
cp -r "$top/kmod" "$top/uapi" "$out/"
make -s -C "$kdir" M="$out/kmod" "$@" modules
