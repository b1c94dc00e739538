#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the test VM: mount the basics, insmod the module, run every
# selftest, dump the kernel log, power off. scripts/vm-test.sh reads the
# SHMIPC-VM markers from the serial console.

/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
mkdir -p /dev/shm && mount -t tmpfs tmpfs /dev/shm	# the posix backend

echo "SHMIPC-VM-KERNEL: $(uname -r)"

# The sanitizer run's positive control (scripts/vm-test.sh checks that
# KASAN, UBSAN and kmemleak each report it): load it, find its leak, then
# forget what was reported so far and mark the end in the kernel's log.
if [ -f /control.ko ]; then
	echo "SHMIPC-VM-CONTROL-BEGIN"
	insmod /control.ko
	# kmemleak reports an object only once it is older than 5 s, and only
	# when a scan finds no reference to it.
	for try in 1 2 3; do
		sleep 6
		echo scan >/sys/kernel/debug/kmemleak
		cat /sys/kernel/debug/kmemleak >/tmp/kmemleak
		grep -q shmipc_control /tmp/kmemleak && break
	done
	cat /tmp/kmemleak
	echo clear >/sys/kernel/debug/kmemleak
	rmmod shmipc_control
	# Its reports are on the console already: clear the log, so that the
	# tests that read it (fuzz_test) and the final dump hold what follows.
	dmesg -c >/dev/null
	echo "SHMIPC-VM-KMSG: control done" >/dev/kmsg
	echo "SHMIPC-VM-CONTROL-END"
fi
if insmod /shmipc.ko; then
	echo "SHMIPC-VM-INSMOD: ok"
	export SHMIPC_KO=/shmipc.ko
	# TCG is slow: the channel stress tests move 20,000 messages here.
	export SHMIPC_STRESS_MSGS=20000
	# Each test has its own time limit (TCG is slow): a test that hangs
	# is killed and reported, and the others still run.
	export SHMIPC_HOSTILE_SECONDS=$(cat /tests/hostile-seconds)
	export SHMIPC_CRASH_RUNS=$(cat /tests/crash-runs)
	for t in $(cat /tests/order); do
		case $t in
		libshm_crash_test)	limit=1800 ;;
		libshm_hostile_test)	limit=$((SHMIPC_HOSTILE_SECONDS + 900)) ;;
		*)			limit=900 ;;
		esac
		echo "SHMIPC-VM-RUN: $t (limit $limit s)"
		start=$(date +%s)
		if [ "$t" = cli-test ]; then
			timeout -s KILL "$limit" /tests/cli-test /bin/shmipc vm
		else
			timeout -s KILL "$limit" /tests/"$t"
		fi
		rc=$?
		[ $rc -eq 137 ] && echo "SHMIPC-VM-TIMEOUT: $t killed after $limit s"
		echo "SHMIPC-VM-EXIT: $t $rc"
		echo "SHMIPC-VM-TIME: $t $(($(date +%s) - start)) s"
	done
else
	echo "SHMIPC-VM-INSMOD: failed"
fi
if [ -f /control.ko ]; then
	# Anything the tests leaked: two scans, since an object is reported
	# only after a scan has seen it unreferenced twice (once aged).
	rmmod shmipc 2>/dev/null
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	echo "SHMIPC-VM-KMEMLEAK-BEGIN"
	cat /sys/kernel/debug/kmemleak
	echo "SHMIPC-VM-KMEMLEAK-END"
fi
echo "SHMIPC-VM-DMESG-BEGIN"
dmesg
echo "SHMIPC-VM-DMESG-END"
echo "SHMIPC-VM-DONE"
# qemu runs with -no-reboot, so a reboot ends it; the sanitizer kernel
# (tinyconfig) has no ACPI to power off with.
reboot -f
