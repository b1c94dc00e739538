#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lint of the kernel half, as TAP: checkpatch --strict, then for each test
# kernel a W=1 build and a sparse (C=2) build. A check passes only when it
# prints nothing at all; its output is shown when it fails.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
ksrc=$build/cache/linux-src
"$top/scripts/kernel-src.sh" "$ksrc" || exit 1
kernels=$("$top/scripts/kernels.sh") || exit 1

n=0
failed=0
report() {	# report NAME LOGFILE
	n=$((n + 1))
	if [ -s "$2" ]; then
		echo "not ok $n $1"
		sed 's/^/# /' "$2"
		failed=$((failed + 1))
	else
		echo "ok $n $1"
	fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "TAP version 13"
echo "1..$((1 + 2 * $(echo "$kernels" | wc -l)))"
(cd "$top" && perl "$ksrc/scripts/checkpatch.pl" --strict --no-tree \
	--quiet --show-types -f kmod/*.c kmod/*.h uapi/linux/shmipc.h \
	selftests/control/*.c) \
	>"$tmp/checkpatch" 2>&1
report "checkpatch --strict kmod/ uapi/ selftests/control/" "$tmp/checkpatch"

for k in $kernels; do
	"$top/scripts/build-kmod.sh" "$k" "$build/lint/w1-$k" W=1 \
		2>&1 | grep -v '^Skipping BTF generation' >"$tmp/w1"
	report "W=1 build, $k" "$tmp/w1"
	"$top/scripts/build-kmod.sh" "$k" "$build/lint/sparse-$k" C=2 \
		CHECK=sparse 2>&1 | grep -v '^Skipping BTF generation' \
		>"$tmp/sparse"
	report "sparse, $k" "$tmp/sparse"
done
[ "$failed" -eq 0 ]
