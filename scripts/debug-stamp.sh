#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# debug-stamp.sh: one hash of what `make check-debug` tests, the module's
# source, its ABI, the sanitizer kernel's config and the positive control.
# check-debug records it in .ci/debug-stamp when it passes; .ci/run runs
# check-debug again whenever the hash differs from that record.
set -euo pipefail
cd "$(dirname "$0")/.."
git ls-files -z kmod uapi selftests/control scripts/debug-kernel.config \
	scripts/debug-kernel.sh scripts/vm-init.sh |
	sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
