#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Boots each test kernel (scripts/kernels.sh) in qemu with an initramfs of
# busybox-static, the module built for that kernel and the static selftests,
# and runs them all (scripts/vm-init.sh is /init). Prints the TAP, a summary
# per kernel, and writes $BUILD/results/vm-<kernel>.tap. Exits non-zero on a
# failed test, a failed insmod, a BUG/WARNING/Oops in the kernel log, or a
# VM that does not finish within SHMIPC_VM_TIMEOUT seconds (default 1800).
# KVM is used when /dev/kvm is usable, TCG otherwise.
#
# SHMIPC_VM_KERNELS replaces the list: Debian kernel versions, or kernel
# build directories (their arch/x86/boot/bzImage is booted and the module
# built against them). SHMIPC_VM_SANITIZERS=1 (scripts/check-debug.sh) is the
# sanitizer run: the positive control (selftests/control) is loaded first
# and KASAN, UBSAN and kmemleak must each report it; after it, the kernel
# log must hold no report of any kind, and kmemleak's last scan nothing.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$top/build}
build=$(mkdir -p "$build" && cd "$build" && pwd)
cache=$build/cache
results=$build/results
timeout_s=${SHMIPC_VM_TIMEOUT:-1800}
# module_test unloads and reloads the module: it runs last.
# SHMIPC_VM_TESTS replaces the list (make vm-bench runs recovery_bench).
tests=${SHMIPC_VM_TESTS:-regions_test limits_test wait_test fuzz_test peers_test namespaces_test libshm_heap_test libshm_registry_test libshm_fuzz_test libshm_channel_test libshm_crash_test libshm_api_test libshm_isolation_test libshm_hostile_test module_test cli-test}
# Run in the guest as built with ASan+UBSan (with the shared libraries
# they need), not statically: the hostile-peer test, for its crafted writes.
asan_tests="libshm_hostile_test"
hostile_seconds=${SHMIPC_HOSTILE_SECONDS:-300}
bad_log='BUG:|WARNING:|Oops|general protection fault|Call Trace|Kernel panic|UBSAN:|KASAN:|soft lockup|blocked for more than'

kernels=${SHMIPC_VM_KERNELS:-$("$top/scripts/kernels.sh")} || exit 1
sanitizers=${SHMIPC_VM_SANITIZERS:-0}
memory=1024
append="console=ttyS0 panic=-1 loglevel=4"
if [ "$sanitizers" = 1 ]; then
	# KASAN's shadow and kmemleak's pool want room; every KASAN report is
	# printed, not only the first (the control's); KFENCE samples often.
	memory=2048
	append="$append kasan_multi_shot kfence.sample_interval=10"
	bad_log="$bad_log|unreferenced object|memory leak|possible circular locking|inconsistent lock state|possible recursive locking|suspicious RCU usage|ODEBUG:|KFENCE:|DEBUG_LOCKS_WARN|sleeping function called from invalid context|Invalid wait context"
fi
# Targets named as the Makefile spells its build folder: relative inside
# the tree.
mk_build=${build#"$top"/}
make -s -C "$top" BUILD="$build" selftests cli \
	$(for t in $asan_tests; do echo "$mk_build/asan/$t"; done) || exit 1
mkdir -p "$cache" "$results"

# The kernel image, from Debian's package (downloaded, never installed).
vmlinuz_for() {
	local k=$1 img=$cache/vmlinuz-$1 tmp pkg
	[ -s "$img" ] && { echo "$img"; return 0; }
	tmp=$(mktemp -d)
	for pkg in "linux-image-$k" "linux-image-$k-unsigned"; do
		(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) && break
		if [ "$(id -u)" -eq 0 ]; then
			apt-get update -qq >/dev/null 2>&1
			(cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) && break
		fi
	done
	if ! ls "$tmp"/*.deb >/dev/null 2>&1; then
		echo "vm-test: cannot download linux-image-$k" >&2
		rm -rf "$tmp"
		return 1
	fi
	dpkg-deb -x "$tmp"/*.deb "$tmp/x" && cp "$tmp/x/boot/vmlinuz-$k" "$img"
	rm -rf "$tmp"
	[ -s "$img" ] && echo "$img"
}

make_initrd() {	# make_initrd KERNEL KO OUT [CONTROL_KO]
	local root
	root=$(mktemp -d)
	# mktemp makes it 0700: the guest's / would shut out every other user.
	chmod 755 "$root"
	mkdir -p "$root/bin" "$root/tests"
	cp /bin/busybox "$root/bin/busybox"
	cp "$top/scripts/vm-init.sh" "$root/init"
	cp "$2" "$root/shmipc.ko"
	[ -z "${4:-}" ] || cp "$4" "$root/control.ko"
	for t in $tests; do
		[ "$t" = cli-test ] || cp "$build/selftests/$t" "$root/tests/$t"
	done
	dynamic="$build/cli/shmipc"
	for t in $asan_tests; do
		case " $tests " in
		*" $t "*) cp "$build/asan/$t" "$root/tests/$t"
			  dynamic="$dynamic $build/asan/$t" ;;
		esac
	done
	# The shmipc tool links libkmod, which Debian ships only as a shared
	# library, and the ASan builds their runtimes: carry them, their
	# libraries and the loader.
	cp "$top/scripts/cli-test.sh" "$root/tests/cli-test"
	cp "$build/cli/shmipc" "$root/bin/shmipc"
	for lib in $(ldd $dynamic | grep -o '/[^ ]*' | grep -v ':$' | sort -u); do
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
	echo "$hostile_seconds" >"$root/tests/hostile-seconds"
	echo "${SHMIPC_VM_CRASH_RUNS:-500}" >"$root/tests/crash-runs"
	echo "$tests" >"$root/tests/order"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$3"
	rm -rf "$root"
}

# KVM when /dev/kvm works: a nested or half-working KVM can abort qemu or
# hang the guest, so a one-line guest is booted under it first.
kvm_works() {	# kvm_works VMLINUZ
	local root ok=1
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	root=$(mktemp -d)
	mkdir -p "$root/bin"
	cp /bin/busybox "$root/bin/busybox"
	printf '#!/bin/busybox sh\n/bin/busybox echo SHMIPC-KVM-OK\n/bin/busybox poweroff -f\n' >"$root/init"
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$root.gz"
	timeout -k 5 30 qemu-system-x86_64 -enable-kvm -cpu host -m 256 \
		-nographic -no-reboot -nodefaults -serial stdio -kernel "$1" \
		-initrd "$root.gz" -append "console=ttyS0 panic=-1 quiet" \
		</dev/null 2>/dev/null | grep -q SHMIPC-KVM-OK && ok=0
	rm -rf "$root" "$root.gz"
	return $ok
}

accel=()
case ${SHMIPC_VM_ACCEL:-auto} in
kvm) accel=(-enable-kvm -cpu host) ;;
tcg) accel=(-accel tcg -cpu max) ;;
esac

status=0
for kernel in $kernels; do
	control=
	case $kernel in
	*/*)	# a kernel build directory
		kdir=$(cd "$kernel" && pwd)
		k=$(cat "$kdir/include/config/kernel.release" 2>/dev/null || basename "$kdir")
		[ "$sanitizers" = 1 ] && k=$k-sanitizers
		vmlinuz() { [ -s "$kdir/arch/x86/boot/bzImage" ] && echo "$kdir/arch/x86/boot/bzImage"; }
		;;
	*)	kdir=$kernel
		k=$kernel
		vmlinuz() { vmlinuz_for "$k"; }
		;;
	esac
	tap=$results/${SHMIPC_VM_RESULTS:-vm}-$k.tap
	log=$build/vm/$k/console.log
	mkdir -p "$build/vm/$k"
	: >"$tap"
	echo "# ==== kernel $k ===="

	if ! "$top/scripts/build-kmod.sh" "$kdir" "$build/kmod/$k" ||
	   ! img=$(vmlinuz); then
		echo "not ok - $k: module and kernel image ready" | tee -a "$tap"
		status=1
		continue
	fi
	if [ "$sanitizers" = 1 ]; then
		if ! "$top/scripts/build-kmod.sh" "$kdir" "$build/control/$k" \
			--src selftests/control; then
			echo "not ok - $k: positive control module built" | tee -a "$tap"
			status=1
			continue
		fi
		control=$build/control/$k/selftests/control/shmipc_control.ko
	fi
	echo "ok - $k: module and kernel image ready" >>"$tap"
	if [ ${#accel[@]} -eq 0 ]; then
		if kvm_works "$img"; then
			accel=(-enable-kvm -cpu host)
		else
			accel=(-accel tcg -cpu max)
			echo "# KVM unusable here: using TCG"
		fi
	fi
	make_initrd "$k" "$build/kmod/$k/kmod/shmipc.ko" "$build/vm/$k/initrd.gz" "$control"

	# A guest kernel that dies before reaching /init has run none of our
	# code; that happens now and then under TCG (6.12 has been seen to take
	# an int3 Oops while patching its own text at boot), so such a boot is
	# retried, at most twice, and says so. Anything after /init counts.
	for attempt in 1 2 3; do
		start=$(date +%s)
		timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 "${accel[@]}" \
			-m $memory -smp 2 -nographic -no-reboot -nodefaults -serial stdio \
			-kernel "$img" -initrd "$build/vm/$k/initrd.gz" \
			-append "$append" </dev/null \
			2>&1 | tr -d '\r' >"$log"
		qemu_rc=${PIPESTATUS[0]}
		echo "# qemu (${accel[*]}) exited $qemu_rc after $(($(date +%s) - start)) s; console log: $log"
		grep -q 'SHMIPC-VM-KERNEL:' "$log" && break
		cp "$log" "$log.boot-failure-$attempt"
		echo "# the guest kernel died before /init (attempt $attempt); its log: $log.boot-failure-$attempt"
		grep -E -m 3 "$bad_log" "$log" | sed 's/^/#   /'
	done

	# The tests' own output, between insmod and the kernel log dump.
	sed -n '/^SHMIPC-VM-INSMOD/,/^SHMIPC-VM-DMESG-BEGIN/p' "$log" |
		grep -v '^SHMIPC-VM-DMESG-BEGIN'
	sed -n '/^SHMIPC-VM-INSMOD/,/^SHMIPC-VM-DMESG-BEGIN/p' "$log" |
		grep -E '^(not )?ok ' | sed "s/^\(\(not \)\{0,1\}ok\) [0-9]*/\1 - $k:/" >>"$tap"

	check() {	# check OK? DESCRIPTION
		if [ "$1" = 1 ]; then
			echo "ok - $k: $2" >>"$tap"
		else
			echo "not ok - $k: $2" | tee -a "$tap"
		fi
	}
	grep -q '^SHMIPC-VM-INSMOD: ok' "$log" && r=1 || r=0
	check $r "insmod"
	grep -q '^SHMIPC-VM-DONE' "$log" && r=1 || r=0
	check $r "VM ran to completion (qemu exit $qemu_rc)"
	for t in $tests; do
		grep -q "^SHMIPC-VM-EXIT: $t 0\$" "$log" && r=1 || r=0
		check $r "$t exited 0"
	done
	# What the kernel log is checked on: all of it, or, in the sanitizer
	# run, what follows the positive control (as the log dump and the
	# console both tell it), after checking that the control was reported.
	checked=$log
	if [ -n "$control" ]; then
		sed -n '/^SHMIPC-VM-CONTROL-BEGIN/,/^SHMIPC-VM-CONTROL-END/p' "$log" >"$log.control"
		grep -q 'BUG: KASAN: slab-out-of-bounds in shmipc_control' "$log.control" && r=1 || r=0
		check $r "KASAN reports the positive control's out-of-bounds read"
		grep -q 'UBSAN: shift-out-of-bounds in .*control' "$log.control" && r=1 || r=0
		check $r "UBSAN reports the positive control's shift"
		grep -A12 'unreferenced object' "$log.control" | grep -q shmipc_control && r=1 || r=0
		check $r "kmemleak reports the positive control's leak"
		# After the control: the console from its end marker on, and
		# the kernel's own log from the marker written into it.
		{
			sed -n '/^SHMIPC-VM-CONTROL-END/,/^SHMIPC-VM-DMESG-BEGIN/p' "$log"
			sed -n '/^SHMIPC-VM-DMESG-BEGIN/,$p' "$log" |
				sed -n '/SHMIPC-VM-KMSG: control done/,$p'
		} >"$log.after-control"
		checked=$log.after-control
		grep -q 'SHMIPC-VM-KMSG: control done' "$checked" && r=1 || r=0
		check $r "the kernel log marks the end of the control"
		sed -n '/^SHMIPC-VM-KMEMLEAK-BEGIN/,/^SHMIPC-VM-KMEMLEAK-END/p' "$log" |
			grep -q 'unreferenced object' && r=0 || r=1
		grep -q '^SHMIPC-VM-KMEMLEAK-END' "$log" || r=0
		check $r "kmemleak's scan after the tests finds no leak"
	fi
	if grep -Eq "$bad_log" "$checked"; then
		echo "# kernel log problems:"
		grep -E -B2 -A20 "$bad_log" "$checked" | sed 's/^/#   /' | head -80
		r=0
	else
		r=1
	fi
	check $r "kernel log free of BUG/WARNING/Oops${control:+ and sanitizer reports}"

	pass=$(grep -c '^ok ' "$tap" | tr -d ' ')
	skip=$(grep -c '^ok .*# SKIP' "$tap" | tr -d ' ')
	fail=$(grep -c '^not ok ' "$tap" | tr -d ' ')
	echo "# $k: $((pass - skip)) passed, $fail failed, $skip skipped"
	[ "$fail" -eq 0 ] || status=1
done
exit $status
