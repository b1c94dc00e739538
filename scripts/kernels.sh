#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Prints the kernels the VM tests run on, one per line: the newest installed
# Debian cloud headers of the 6.1 and of the 6.12 series. SHMIPC_KERNELS
# (space-separated versions) overrides.
set -euo pipefail

if [ -n "${SHMIPC_KERNELS:-}" ]; then
	printf '%s\n' $SHMIPC_KERNELS
	exit 0
fi
for series in 6.1 6.12; do
	k=$(ls -d /usr/src/linux-headers-"$series".*-cloud-amd64 2>/dev/null |
	    sed 's|^/usr/src/linux-headers-||' | sort -V | tail -n 1)
	if [ -z "$k" ] || [ ! -d "/lib/modules/$k/build" ]; then
		echo "kernels: no $series cloud headers; run scripts/install-deps.sh" >&2
		exit 1
	fi
	echo "$k"
done
