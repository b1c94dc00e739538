# SPDX-License-Identifier: GPL-2.0-only
#
# shmipc top-level build. `make check` is the test command: it installs
# missing dependencies (as root), lints the module, builds everything and
# runs every test, ending with one "N passed, N failed" line.

SHELL    := /bin/bash
BUILD    ?= build
# One spelling of the build folder (relative inside the tree), so that the
# dependency files name the same targets whoever wrote them.
override BUILD := $(patsubst $(CURDIR)/%,%,$(abspath $(BUILD)))
CACHE    := $(BUILD)/cache
KSRC     := $(CACHE)/linux-src
KSFT_HDR := $(KSRC)/tools/testing/selftests/kselftest_harness.h
CC       ?= gcc

# The kernel `make module` builds for: the running one by default, when
# its build directory is installed; KDIR= names another (then it must exist).
RUNNING_KDIR := /lib/modules/$(shell uname -r)/build
KDIR ?=
# Kernels the module is tested on in VMs (scripts/kernels.sh), by make check.
KERNELS   = $(shell scripts/kernels.sh)
# Every object and program also writes its header dependencies (.d).
DEPFLAGS := -MMD -MP

SELFTESTS := regions_test limits_test wait_test fuzz_test peers_test namespaces_test \
	module_test
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
LIBSHM_SRCS := backend_kmod.c backend_posix.c region.c peer.c lock.c heap.c block.c \
	registry.c reclaim.c event.c queue.c broadcast.c endpoint.c message.c \
	channel.c crc32c.c api.c
LIBSHM_CFLAGS := -std=c11 -O2 -g -Wall -Wextra -Werror -fPIC \
	-fvisibility=hidden -Iuapi -Ilibshm
LIBSHM_OBJS := $(LIBSHM_SRCS:%.c=$(BUILD)/libshm/%.o)
LIBSHM_ASAN_OBJS := $(LIBSHM_SRCS:%.c=$(BUILD)/libshm-asan/%.o)
LIBSHM_TSAN_OBJS := $(LIBSHM_SRCS:%.c=$(BUILD)/libshm-tsan/%.o)
ASAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
TSAN := -fsanitize=thread -fno-omit-frame-pointer
BENCHES := alloc_bench msg_bench recovery_bench
LIBSHM_TESTS := libshm_heap_test libshm_registry_test libshm_fuzz_test libshm_channel_test \
	libshm_crash_test libshm_api_test libshm_isolation_test libshm_hostile_test
# Suites that also run under ThreadSanitizer (they share handles between threads).
LIBSHM_TSAN_TESTS := libshm_channel_test libshm_api_test

.PHONY: all deps module test-modules selftests libshm cli examples lint vm-test vm-bench host-test bench run install check check-debug clean layers

# The selftests need the kselftest harness, extracted from Debian's
# linux-source-6.12 (make deps); without it plain `make` says so and
# builds the rest.
HAVE_KSFT := $(shell test -f $(KSFT_HDR) -o -f /usr/src/linux-source-6.12.tar.xz && echo y)
ifeq ($(HAVE_KSFT),y)
all: libshm cli examples selftests module
else
all: libshm cli examples module
	@echo "  SKIP    selftests: no /usr/src/linux-source-6.12.tar.xz for the kselftest harness (make deps)"
endif

# The README's example programs, built against the in-tree library.
EXAMPLES := pingpong
examples: $(EXAMPLES:%=$(BUILD)/examples/%)

$(BUILD)/examples/%: examples/%.c $(BUILD)/libshm/libshm.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror $(DEPFLAGS) -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

# The shmipc tool: libshm (static) and libkmod.
CLI_SRCS := shmipc.c module.c inspect.c io.c peers.c bench.c
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/cli/%.o)

cli: $(BUILD)/cli/shmipc $(BENCHES:%=$(BUILD)/bench/%)

$(BUILD)/cli/%.o: cli/%.c
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $(DEPFLAGS) -Ilibshm -Iuapi \
		-DSHMIPC_LIBEXECDIR='"$(LIBEXECDIR)/shmipc"' -c -o $@ $<

$(BUILD)/cli/shmipc: $(CLI_OBJS) $(BUILD)/libshm/libshm.a
	$(CC) -o $@ $(CLI_OBJS) $(BUILD)/libshm/libshm.a -lkmod

libshm: $(BUILD)/libshm/libshm.a $(BUILD)/libshm/libshm.so.0

$(BUILD)/libshm/%.o: libshm/%.c
	@mkdir -p $(@D)
	$(CC) $(LIBSHM_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/libshm-asan/%.o: libshm/%.c
	@mkdir -p $(@D)
	$(CC) $(LIBSHM_CFLAGS) $(ASAN) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/libshm-tsan/%.o: libshm/%.c
	@mkdir -p $(@D)
	$(CC) $(LIBSHM_CFLAGS) $(TSAN) $(DEPFLAGS) -c -o $@ $<

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

# The module for the running kernel, or KDIR=, in $(BUILD)/kmod/local/kmod/.
module:
	@kdir="$(KDIR)"; \
	if [ -z "$$kdir" ]; then \
		kdir=$(RUNNING_KDIR); \
		if [ ! -d "$$kdir" ]; then \
			echo "  SKIP    module: no build directory for the running kernel ($$kdir); KDIR= names one"; \
			exit 0; \
		fi; \
	fi; \
	echo "  KMOD    $$kdir"; \
	scripts/build-kmod.sh "$$kdir" $(BUILD)/kmod/local && \
	echo "  LD      $(BUILD)/kmod/local/kmod/shmipc.ko"

# One module per test kernel, in $(BUILD)/kmod/<kernel>/kmod/shmipc.ko
# (make check's VMs build them themselves).
test-modules:
	@for k in $(KERNELS); do \
		echo "  KMOD    $$k"; \
		scripts/build-kmod.sh $$k $(BUILD)/kmod/$$k || exit 1; \
	done

$(KSFT_HDR):
	scripts/kernel-src.sh $(KSRC)

selftests: $(SELFTEST_BINS) $(LIBSHM_TESTS:%=$(BUILD)/selftests/%)

# libshm tests: static for the VM (kmod backend), ASan+UBSan on the host.
$(BUILD)/selftests/libshm_%: selftests/libshm_%.c $(BUILD)/libshm/libshm.a $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(SELFTEST_CFLAGS) $(DEPFLAGS) -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

$(BUILD)/asan/libshm_%: selftests/libshm_%.c $(BUILD)/libshm-asan/libshm.a $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(filter-out -static,$(SELFTEST_CFLAGS)) $(ASAN) $(DEPFLAGS) -Ilibshm -o $@ $< \
		$(BUILD)/libshm-asan/libshm.a

$(BUILD)/tsan/libshm_%: selftests/libshm_%.c $(BUILD)/libshm-tsan/libshm.a $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(filter-out -static,$(SELFTEST_CFLAGS)) $(TSAN) $(DEPFLAGS) -Ilibshm -o $@ $< \
		$(BUILD)/libshm-tsan/libshm.a

# The libshm suites on the host's posix backend: plain, ASan+UBSan, and the
# threaded suites under ThreadSanitizer; first, the check that libshm's
# files call only downward.
host-test: $(LIBSHM_TESTS:%=$(BUILD)/selftests/%) $(LIBSHM_TESTS:%=$(BUILD)/asan/%) \
		$(LIBSHM_TSAN_TESTS:%=$(BUILD)/tsan/%) cli examples
	@mkdir -p $(BUILD)/results
	scripts/layers.sh $(BUILD)/libshm $(BUILD)/results/host-layers.tap
	scripts/host-test.sh $(LIBSHM_TESTS)
	scripts/install-test.sh
	set -o pipefail; scripts/cli-test.sh $(BUILD)/cli/shmipc host | \
		tee $(BUILD)/results/host-cli.tap

$(SELFTEST_BINS): $(BUILD)/selftests/%: selftests/%.c $(KSFT_HDR)
	@mkdir -p $(@D)
	$(CC) $(SELFTEST_CFLAGS) $(DEPFLAGS) -o $@ $<

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
	install -d $(DESTDIR)$(MANDIR)/man3
	install -m 0644 docs/libshm.3 $(DESTDIR)$(MANDIR)/man3/libshm.3

# Benchmarks print tables and ratios against baselines of the same run;
# no test asserts a speed.

$(BUILD)/bench/%: bench/%.c $(BUILD)/libshm/libshm.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $(DEPFLAGS) -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

bench: $(BENCHES:%=$(BUILD)/bench/%)
	$(BUILD)/bench/alloc_bench
	@echo
	$(BUILD)/bench/msg_bench
	@echo
	$(BUILD)/bench/recovery_bench

# Recovery times on the kmod backend, measured in the test VMs (TCG there:
# slower than a real machine, and said so).
$(BUILD)/selftests/recovery_bench: bench/recovery_bench.c $(BUILD)/libshm/libshm.a
	@mkdir -p $(@D)
	$(CC) -std=gnu11 -O2 -g -Wall -Wextra -Werror $(DEPFLAGS) -static -Ilibshm -o $@ $< $(BUILD)/libshm/libshm.a

vm-bench: $(BUILD)/selftests/recovery_bench
	SHMIPC_VM_TESTS=recovery_bench SHMIPC_VM_RESULTS=vm-bench scripts/vm-test.sh

# The README's first command: a two-process demo on the default backend,
# shmipc against a pipe and a UNIX socket; needs neither root nor the module.
run: $(BUILD)/bench/msg_bench
	@$(BUILD)/bench/msg_bench demo

lint:
	scripts/lint.sh

# libshm's files must call only downward: the call graph read from the objects.
layers: $(BUILD)/libshm/libshm.a
	scripts/layers.sh $(BUILD)/libshm

vm-test: selftests
	scripts/vm-test.sh

check: deps
	scripts/check.sh

# make check's last step alone: the module's tests on a 6.12 kernel built
# (once, cached) with KASAN, lockdep, UBSAN, kmemleak and KFENCE.
check-debug: deps selftests
	scripts/check-debug.sh

clean:
	rm -rf $(BUILD)

# Header dependencies written by -MMD.
-include $(wildcard $(BUILD)/*/*.d)
