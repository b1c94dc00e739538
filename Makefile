# SPDX-License-Identifier: GPL-2.0-only
#
# shmipc top-level build. `make check` is the test command: it installs
# missing dependencies (as root), lints the module, builds everything and
# runs every test, ending with one "N passed, N failed" line.

SHELL    := /bin/bash
BUILD    ?= build
CACHE    := $(BUILD)/cache
KSRC     := $(CACHE)/linux-src
KSFT_HDR := $(KSRC)/tools/testing/selftests/kselftest_harness.h
CC       ?= gcc

# Kernels the module is built and tested for (scripts/kernels.sh).
KERNELS   = $(shell scripts/kernels.sh)

SELFTESTS := regions_test wait_test fuzz_test peers_test module_test
SELFTEST_BINS := $(SELFTESTS:%=$(BUILD)/selftests/%)
# The kselftest harness is written for -Wall; its macros trip these extras.
SELFTEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror \
	-Wno-sign-compare -Wno-unused-parameter -Wno-clobbered \
	-static -pthread -Iuapi -I$(KSRC)/tools/testing/selftests

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
LIBEXECDIR ?= $(PREFIX)/libexec
MANDIR     ?= $(PREFIX)/share/man
LIBSHM_VERSION := 0.1.0

# libshm: MIT, C11, -errno returns, only the symbols of libshm.map exported.
LIBSHM_SRCS := region.c peer.c heap.c registry.c queue.c channel.c message.c endpoint.c broadcast.c crc32c.c backend_posix.c backend_kmod.c
LIBSHM_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -fPIC \
	-fvisibility=hidden -Iuapi -Ilibshm
LIBSHM_OBJS := $(LIBSHM_SRCS:%.c=$(BUILD)/libshm/%.o)
LIBSHM_ASAN_OBJS := $(LIBSHM_SRCS:%.c=$(BUILD)/libshm-asan/%.o)
LIBSHM_TSAN_OBJS := $(LIBSHM_SRCS:%.c=$(BUILD)/libshm-tsan/%.o)
ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN := -fsanitize=thread -fno-omit-frame-pointer
BENCHES := alloc_bench msg_bench recovery_bench
LIBSHM_TESTS := libshm_heap_test libshm_registry_test libshm_fuzz_test libshm_channel_test libshm_crash_test

.PHONY: all deps modules selftests libshm cli examples lint vm-test vm-bench host-test bench run install check clean

all: modules libshm cli examples selftests

# The README's example programs, built against the in-tree library.
EXAMPLES := pingpong
examples: $(EXAMPLES:%=$(BUILD)/examples/%)

$(BUILD)/examples/%: examples/%.c libshm/libshm.h $(BUILD)/libshm/libshm.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

# The shmipc tool: libshm (static) and libkmod.
CLI_SRCS := shmipc.c module.c inspect.c io.c peers.c bench.c
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/cli/%.o)

cli: $(BUILD)/cli/shmipc $(BENCHES:%=$(BUILD)/bench/%)

$(BUILD)/cli/%.o: cli/%.c cli/cli.h libshm/libshm.h uapi/linux/shmipc.h
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Ilibshm -Iuapi \
		-DSHMIPC_LIBEXECDIR='"$(LIBEXECDIR)/shmipc"' -c -o $@ $<

$(BUILD)/cli/shmipc: $(CLI_OBJS) $(BUILD)/libshm/libshm.a
	$(CC) -o $@ $(CLI_OBJS) $(BUILD)/libshm/libshm.a -lkmod

libshm: $(BUILD)/libshm/libshm.a $(BUILD)/libshm/libshm.so.0

$(BUILD)/libshm/%.o: libshm/%.c libshm/libshm.h libshm/internal.h uapi/linux/shmipc.h
	@mkdir -p $(@D)
	$(CC) $(LIBSHM_CFLAGS) -c -o $@ $<

$(BUILD)/libshm-asan/%.o: libshm/%.c libshm/libshm.h libshm/internal.h uapi/linux/shmipc.h
	@mkdir -p $(@D)
	$(CC) $(LIBSHM_CFLAGS) $(ASAN) -c -o $@ $<

$(BUILD)/libshm-tsan/%.o: libshm/%.c libshm/libshm.h libshm/internal.h uapi/linux/shmipc.h
	@mkdir -p $(@D)
	$(CC) $(LIBSHM_CFLAGS) $(TSAN) -c -o $@ $<

$(BUILD)/libshm-tsan/libshm.a: $(LIBSHM_TSAN_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/libshm/libshm.a: $(LIBSHM_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/libshm-asan/libshm.a: $(LIBSHM_ASAN_OBJS)
	$(AR) rcs $@ $^

$(BUILD)/libshm/libshm.so.0: $(LIBSHM_OBJS) libshm/libshm.map
	$(CC) -shared -Wl,-soname,libshm.so.0 -Wl,--version-script=libshm/libshm.map \
		-Wl,-z,defs -o $@ $(LIBSHM_OBJS)
	ln -sf libshm.so.0 $(BUILD)/libshm/libshm.so

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

selftests: $(SELFTEST_BINS) $(LIBSHM_TESTS:%=$(BUILD)/selftests/%)

# libshm tests: static for the VM (kmod backend), ASan+UBSan on the host.
$(BUILD)/selftests/libshm_%: selftests/libshm_%.c selftests/helpers.h $(BUILD)/libshm/libshm.a $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(SELFTEST_CFLAGS) -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

$(BUILD)/asan/libshm_%: selftests/libshm_%.c selftests/helpers.h $(BUILD)/libshm-asan/libshm.a $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(filter-out -static,$(SELFTEST_CFLAGS)) $(ASAN) -Ilibshm -o $@ $< \
		$(BUILD)/libshm-asan/libshm.a

$(BUILD)/tsan/libshm_%: selftests/libshm_%.c selftests/helpers.h $(BUILD)/libshm-tsan/libshm.a $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(filter-out -static,$(SELFTEST_CFLAGS)) $(TSAN) -Ilibshm -o $@ $< \
		$(BUILD)/libshm-tsan/libshm.a

# The libshm suites on the host's posix backend: plain, ASan+UBSan, and the
# channel suite under ThreadSanitizer.
host-test: $(LIBSHM_TESTS:%=$(BUILD)/selftests/%) $(LIBSHM_TESTS:%=$(BUILD)/asan/%) \
		$(BUILD)/tsan/libshm_channel_test cli examples
	scripts/host-test.sh $(LIBSHM_TESTS)
	scripts/install-test.sh
	set -o pipefail; scripts/cli-test.sh $(BUILD)/cli/shmipc host | \
		tee $(BUILD)/results/host-cli.tap

$(SELFTEST_BINS): $(BUILD)/selftests/%: selftests/%.c selftests/helpers.h uapi/linux/shmipc.h $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(SELFTEST_CFLAGS) -o $@ $<

$(BUILD)/libshm/libshm.pc: libshm/libshm.pc.in
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(LIBSHM_VERSION)|' \
		$< >$@

# Honours PREFIX, LIBDIR, INCLUDEDIR and DESTDIR.
install: libshm cli $(BUILD)/libshm/libshm.pc
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 0755 $(BUILD)/libshm/libshm.so.0 $(DESTDIR)$(LIBDIR)/libshm.so.$(LIBSHM_VERSION)
	ln -sf libshm.so.$(LIBSHM_VERSION) $(DESTDIR)$(LIBDIR)/libshm.so.0
	ln -sf libshm.so.0 $(DESTDIR)$(LIBDIR)/libshm.so
	install -m 0644 $(BUILD)/libshm/libshm.a $(DESTDIR)$(LIBDIR)/libshm.a
	install -m 0644 libshm/libshm.h $(DESTDIR)$(INCLUDEDIR)/libshm.h
	install -m 0644 $(BUILD)/libshm/libshm.pc $(DESTDIR)$(LIBDIR)/pkgconfig/libshm.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBEXECDIR)/shmipc $(DESTDIR)$(MANDIR)/man1
	install -m 0755 $(BUILD)/cli/shmipc $(DESTDIR)$(BINDIR)/shmipc
	install -m 0755 $(BENCHES:%=$(BUILD)/bench/%) $(DESTDIR)$(LIBEXECDIR)/shmipc/
	install -m 0644 docs/shmipc.1 $(DESTDIR)$(MANDIR)/man1/shmipc.1

# Benchmarks print tables and ratios against baselines of the same run;
# no test asserts a speed.

$(BUILD)/bench/%: bench/%.c libshm/libshm.h $(BUILD)/libshm/libshm.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

bench: $(BENCHES:%=$(BUILD)/bench/%)
	$(BUILD)/bench/alloc_bench
	@echo
	$(BUILD)/bench/msg_bench
	@echo
	$(BUILD)/bench/recovery_bench

# Recovery times on the kmod backend, measured in the test VMs (TCG there:
# slower than a real machine, and said so).
$(BUILD)/selftests/recovery_bench: bench/recovery_bench.c libshm/libshm.h libshm/internal.h $(BUILD)/libshm/libshm.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror -static -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

vm-bench: $(BUILD)/selftests/recovery_bench
	SHMIPC_VM_TESTS=recovery_bench SHMIPC_VM_RESULTS=vm-bench scripts/vm-test.sh

# The README's first command: a two-process demo on the default backend,
# shmipc against a pipe and a UNIX socket; needs neither root nor the module.
run: $(BUILD)/bench/msg_bench
	@$(BUILD)/bench/msg_bench demo

lint:
	scripts/lint.sh

vm-test: selftests
	scripts/vm-test.sh

check: deps
	scripts/check.sh

clean:
	rm -rf $(BUILD)
