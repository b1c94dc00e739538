#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# host-test.sh TEST...: runs the libshm suites on this host's posix backend,
# once as built for the VM and once under ASan+UBSan, printing their TAP and
# writing $BUILD/results/host-<variant>-<test>.tap.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
results=$build/results
mkdir -p "$results"
status=0

for t in "$@"; do
	for variant in plain asan; do
		bin=$build/selftests/$t
		[ "$variant" = asan ] && bin=$build/asan/$t
		tap=$results/host-$variant-$t.tap
		echo "# ==== $t ($variant, posix backend) ===="
		SHMIPC_BACKEND=posix ASAN_OPTIONS=detect_leaks=1 \
			UBSAN_OPTIONS=print_stacktrace=1 "$bin" 2>&1 | tee "$tap.log"
		rc=${PIPESTATUS[0]}
		grep -E '^(not )?ok ' "$tap.log" |
			sed "s/^\(\(not \)\{0,1\}ok\) [0-9]*/\1 - host $variant:/" >"$tap"
		if [ "$rc" -ne 0 ]; then
			echo "not ok - host $variant: $t exited $rc" | tee -a "$tap"
			status=1
		fi
	done
done
exit $status
