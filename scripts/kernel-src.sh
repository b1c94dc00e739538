#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Extracts from Debian's linux-source-6.12 tarball only what the build needs
# (checkpatch and its data, the kselftest headers) into $1, once. Nothing of
# it is committed.
set -euo pipefail

dest=${1:?usage: kernel-src.sh DESTDIR}
tarball=/usr/src/linux-source-6.12.tar.xz
stamp=$dest/.extracted

[ -f "$stamp" ] && [ "$stamp" -nt "$tarball" ] && exit 0
if [ ! -f "$tarball" ]; then
	echo "kernel-src: $tarball missing; run scripts/install-deps.sh" >&2
	exit 1
fi
rm -rf "$dest"
mkdir -p "$dest"
tar -xJf "$tarball" -C "$dest" --strip-components=1 --wildcards \
	'linux-source-6.12/scripts/checkpatch.pl' \
	'linux-source-6.12/scripts/spelling.txt' \
	'linux-source-6.12/scripts/const_structs.checkpatch' \
	'linux-source-6.12/tools/testing/selftests/kselftest.h' \
	'linux-source-6.12/tools/testing/selftests/kselftest_harness.h'
touch "$stamp"
