#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# build-kmod.sh KVER OUTDIR [kbuild arguments...]
# Builds the module for kernel KVER from a copy of kmod/ and uapi/ in
# OUTDIR, so builds for several kernels never share objects. The module is
# OUTDIR/kmod/shmipc.ko. Extra arguments go to kbuild (W=1, C=2, ...).
set -euo pipefail

kver=${1:?usage: build-kmod.sh KVER OUTDIR [args]}
out=${2:?usage: build-kmod.sh KVER OUTDIR [args]}
shift 2
top=$(cd "$(dirname "$0")/.." && pwd)
kdir=/lib/modules/$kver/build

if [ ! -d "$kdir" ]; then
	echo "build-kmod: no headers at $kdir; run scripts/install-deps.sh" >&2
	exit 1
fi
mkdir -p "$out"
rm -rf "$out/kmod" "$out/uapi"
cp -r "$top/kmod" "$top/uapi" "$out/"
make -s -C "$kdir" M="$out/kmod" "$@" modules
