#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The sanitizer run, the last step of `make check` and all of `make
# check-debug`: builds (once; cached under the build cache while its key
# is unchanged) Debian's 6.12 with KASAN, lockdep, UBSAN, kmemleak and
# KFENCE (scripts/debug-kernel.sh), boots it in the VM harness with the
# positive control, runs the module's tests and the libshm crash matrix on
# kmod (reduced), and requires that the control is reported and nothing
# else is. Its TAP goes to $BUILD/results/debug-*.tap; alone, it ends with
# the "N passed, N failed, N skipped" line of its own results.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
results=$build/results
export BUILD=$build
mkdir -p "$results"
rm -f "$results"/debug-*.tap

start=$(date +%s)
if kdir=$("$top/scripts/debug-kernel.sh" "$build/cache/debug-kernel"); then
	echo "ok - the sanitizer kernel built ($(($(date +%s) - start)) s)" |
		tee "$results/debug-kernel.tap"
	# The crash matrix reduced: 50 kills per role, 10 per exit path.
	SHMIPC_VM_KERNELS=$kdir SHMIPC_VM_SANITIZERS=1 SHMIPC_VM_RESULTS=debug \
	SHMIPC_VM_TIMEOUT=${SHMIPC_VM_TIMEOUT:-3600} SHMIPC_VM_CRASH_RUNS=50 \
	SHMIPC_VM_TESTS="regions_test limits_test wait_test fuzz_test peers_test namespaces_test libshm_crash_test module_test" \
		"$top/scripts/vm-test.sh"
	rc=$?
else
	echo "not ok - the sanitizer kernel built" | tee "$results/debug-kernel.tap"
	rc=1
fi

pass=$(cat "$results"/debug-*.tap | grep -c '^ok ')
skip=$(cat "$results"/debug-*.tap | grep -c '^ok .*# SKIP')
fail=$(cat "$results"/debug-*.tap | grep -c '^not ok')
[ "$fail" -eq 0 ] || rc=1
echo "# the sanitizer run took $(($(date +%s) - start)) s"
echo
echo "$((pass - skip)) passed, $fail failed, $skip skipped"
exit $rc
