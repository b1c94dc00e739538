#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# What `make check` runs: the lint, the libshm suites on the host, every
# selftest in a VM for each test kernel, then the module's tests on a
# sanitizer kernel (scripts/check-debug.sh). Every step's TAP is kept in
# $BUILD/results/; the last line printed is the total, "N passed, N failed, N skipped", and the exit status is
# non-zero when anything failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
results=$build/results
rm -rf "$results"
mkdir -p "$results"
status=0

step() {	# step NAME COMMAND...: runs it, records a failure it did not report
	local name=$1 rc
	shift
	echo
	echo "# ==== $name ===="
	"$@"
	rc=$?
	if [ $rc -ne 0 ]; then
		status=1
		# A step that failed without a failed test still counts as one.
		if ! cat "$results"/*.tap 2>/dev/null | grep -q '^not ok'; then
			echo "not ok - $name (exit $rc)" >>"$results/steps.tap"
		fi
	fi
}

step "lint (checkpatch, W=1, sparse)" \
	bash -c "set -o pipefail; '$top/scripts/lint.sh' | tee '$results/lint.tap'"
step "libshm on the host (posix backend, plain and ASan+UBSan)" \
	make -s -C "$top" BUILD="$build" host-test
step "kernel module and libshm (kmod backend) selftests in VMs" \
	"$top/scripts/vm-test.sh"
step "the module on a KASAN, lockdep, UBSAN, kmemleak and KFENCE kernel" \
	"$top/scripts/check-debug.sh"

pass=$(cat "$results"/*.tap | grep -c '^ok ')
skip=$(cat "$results"/*.tap | grep -c '^ok .*# SKIP')
fail=$(cat "$results"/*.tap | grep -c '^not ok')
[ "$fail" -eq 0 ] || status=1
echo
echo "$((pass - skip)) passed, $fail failed, $skip skipped"
exit $status
