#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# What `make check-debug` runs: builds (once; cached under the build cache
# while its config is unchanged) Debian's 6.12 with KASAN, lockdep, UBSAN,
# kmemleak and KFENCE (scripts/debug-kernel.sh), boots it in the VM
# harness with the positive control, runs the module's tests and the
# libshm crash matrix on kmod (reduced), and requires that the control is
# reported and nothing else is. On a pass it writes the stamp of what was
# tested (scripts/debug-stamp.sh) to .ci/debug-stamp, for committing.
# Ends with the same "N passed, N failed, N skipped" line as make check.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
results=$build/results-debug
export BUILD=$build
rm -rf "$results"
mkdir -p "$results"

start=$(date +%s)
if ! kdir=$("$top/scripts/debug-kernel.sh" "$build/cache/debug-kernel"); then
	echo "not ok - the sanitizer kernel built" | tee "$results/kernel.tap"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
fi
echo "ok - the sanitizer kernel built ($kdir, $(($(date +%s) - start)) s)" |
	tee "$results/kernel.tap"

# The crash matrix reduced: 20 kills per role and exit path's fifth, 4.
SHMIPC_VM_KERNELS=$kdir SHMIPC_VM_SANITIZERS=1 SHMIPC_VM_RESULTS=debug \
SHMIPC_VM_TIMEOUT=${SHMIPC_VM_TIMEOUT:-3600} SHMIPC_VM_CRASH_RUNS=20 \
SHMIPC_VM_TESTS="regions_test limits_test wait_test fuzz_test peers_test namespaces_test libshm_crash_test module_test" \
	"$top/scripts/vm-test.sh"
rc=$?
cp "$build/results/debug-"*.tap "$results/" 2>/dev/null

pass=$(cat "$results"/*.tap | grep -c '^ok ')
skip=$(cat "$results"/*.tap | grep -c '^ok .*# SKIP')
fail=$(cat "$results"/*.tap | grep -c '^not ok')
if [ $rc -eq 0 ] && [ "$fail" -eq 0 ]; then
	"$top/scripts/debug-stamp.sh" >"$top/.ci/debug-stamp"
	echo "# passed: .ci/debug-stamp now records what was tested; commit it"
else
	rc=1
fi
echo "# check-debug took $(($(date +%s) - start)) s"
echo
echo "$((pass - skip)) passed, $fail failed, $skip skipped"
exit $rc
