#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Install everything the build, the lint and the VM tests need (Debian 12).
# Idempotent: packages already present are left alone; run as root.
set -euo pipefail

pkgs=(
	build-essential make gcc pkg-config
	qemu-system-x86 busybox-static cpio gzip xz-utils kmod libkmod-dev
	linux-headers-cloud-amd64 linux-headers-6.12-cloud-amd64
	linux-source-6.12 sparse perl python3
	# make check builds a sanitizer kernel from linux-source-6.12.
	flex bison bc libelf-dev libssl-dev
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
		missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run as root: sudo $0" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
