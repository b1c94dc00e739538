# SPDX-License-Identifier: GPL-2.0-only
#
# shmipc top-level build. `make check` is the test command: it installs
# missing dependencies (as root), lints the module, builds everything and
# runs every test, ending with one "N passed, N failed" line.

BUILD    ?= build
CACHE    := $(BUILD)/cache
KSRC     := $(CACHE)/linux-src
KSFT_HDR := $(KSRC)/tools/testing/selftests/kselftest_harness.h
CC       ?= gcc

# Kernels the module is built and tested for (scripts/kernels.sh).
KERNELS   = $(shell scripts/kernels.sh)

SELFTESTS := regions_test wait_test fuzz_test module_test
SELFTEST_BINS := $(SELFTESTS:%=$(BUILD)/selftests/%)
# The kselftest harness is written for -Wall; its macros trip these extras.
SELFTEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-Wno-sign-compare -Wno-unused-parameter -Wno-clobbered \
	-static -pthread -Iuapi -I$(KSRC)/tools/testing/selftests

.PHONY: all deps modules selftests lint vm-test check clean

all: modules selftests

deps:
	scripts/install-deps.sh

# One module per test kernel, in $(BUILD)/kmod/<kernel>/kmod/shmipc.ko.
modules:
	@for k in $(KERNELS); do \
		echo "  KMOD    $$k"; \
		scripts/build-kmod.sh $$k $(BUILD)/kmod/$$k || exit 1; \
	done

$(KSFT_HDR):
	scripts/kernel-src.sh $(KSRC)

selftests: $(SELFTEST_BINS)

$(BUILD)/selftests/%: selftests/%.c selftests/helpers.h uapi/linux/shmipc.h $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(SELFTEST_CFLAGS) -o $@ $<

lint:
	scripts/lint.sh

vm-test: selftests
	scripts/vm-test.sh

check: deps
	scripts/check.sh

clean:
	rm -rf $(BUILD)
