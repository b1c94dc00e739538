#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# host-test.sh TEST...: runs the libshm suites on this host's posix backend,
# as built for the VM, under ASan+UBSan, and (the suites whose tests share
# handles between threads) under ThreadSanitizer, printing their TAP and
# writing $BUILD/results/host-<variant>-<test>.tap. The channel stress tests
# move 1,000,000 messages each in the plain build and 100,000 (ASan) or
# 20,000 (TSan) in the slower ones; the crash matrix kills 500 processes
# per role in the plain build, 100 under ASan; the hostile-peer test writes
# for SHMIPC_HOSTILE_SECONDS (default 300) under ASan, 30 s as built.
set -uo pipefail
hostile=${SHMIPC_HOSTILE_SECONDS:-300}

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
results=$build/results
mkdir -p "$results"
status=0

for t in "$@"; do
	for variant in plain asan tsan; do
		run=()
		case $variant in
		plain)	bin=$build/selftests/$t msgs=1000000 kills=500 secs=30 ;;
		asan)	bin=$build/asan/$t msgs=100000 kills=100 secs=$hostile ;;
		tsan)	bin=$build/tsan/$t msgs=20000 kills=100 secs=30
			# TSan's shadow layout needs a fixed address space.
			run=(setarch "$(uname -m)" -R) ;;
		esac
		[ -x "$bin" ] || continue
		tap=$results/host-$variant-$t.tap
		echo "# ==== $t ($variant, posix backend) ===="
		SHMIPC_BACKEND=posix SHMIPC_STRESS_MSGS=$msgs SHMIPC_CRASH_RUNS=$kills \
			SHMIPC_HOSTILE_SECONDS=$secs \
			ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
			TSAN_OPTIONS=halt_on_error=1 \
			"${run[@]}" "$bin" 2>&1 | tee "$tap.log"
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
