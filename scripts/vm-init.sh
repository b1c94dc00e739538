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
if insmod /shmipc.ko; then
	echo "SHMIPC-VM-INSMOD: ok"
	export SHMIPC_KO=/shmipc.ko
	# TCG is slow: the channel stress tests move 20,000 messages here.
	export SHMIPC_STRESS_MSGS=20000
	for t in $(cat /tests/order); do
		echo "SHMIPC-VM-RUN: $t"
		if [ "$t" = cli-test ]; then
			/tests/cli-test /bin/shmipc vm
		else
			/tests/"$t"
		fi
		echo "SHMIPC-VM-EXIT: $t $?"
	done
else
	echo "SHMIPC-VM-INSMOD: failed"
fi
echo "SHMIPC-VM-DMESG-BEGIN"
dmesg
echo "SHMIPC-VM-DMESG-END"
echo "SHMIPC-VM-DONE"
poweroff -f
