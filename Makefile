# io_unified build.
#
#   make                  library, tools, examples, tests (into build/)
#   make SAN=asan|tsan    sanitizer variants (into build-asan/, build-tsan/)
#   make SAN=fuzz         libFuzzer variant, needs CC=clang (into build-fuzz/)
#   make check            the whole test suite (tests/run.sh)
#   make fio              the fio ioengine build/fio/libunified-fio.so (fio/build.sh:
#                         fetches Debian's fio source with apt-get source)
#   make install          honours DESTDIR, PREFIX, LIBDIR, INCDIR, BINDIR, MANDIR
#                         (and installs the fio ioengine into LIBDIR/fio if built)
#   make uninstall        removes exactly what install put there
#
# Packager conventions: CC, CFLAGS, CPPFLAGS and LDFLAGS from the command
# line or the environment are used (CFLAGS defaults to -g -O2); the flags the
# build needs are appended to them.  WERROR=0 turns -Werror off (it is on by
# default, for developers).  Dependencies come from -MMD, so a changed
# header rebuilds exactly what includes it.
# The release.  SOVERSION changes only with an incompatible ABI change;
# each release that adds functions adds a version node LIBUNIFIED_x.y to
# lib/libunified.map (docs/abi.md), and VERSION follows the newest node.
VERSION    := 0.3.0
SOVERSION  := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCDIR     ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
MANDIR     ?= $(PREFIX)/share/man
DESTDIR    ?=

SAN        ?=
BUILD      ?= build$(if $(SAN),-$(SAN))
WERROR     ?= 1
CFLAGS     ?= -g -O2

CFLAGS_SAN_asan := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# -Wno-tsan: GCC 12+ warns that TSan does not model atomic_thread_fence
# (unified_smp_mb); every shared word is accessed atomically anyway.
CFLAGS_SAN_tsan := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
# libFuzzer: the library and harnesses carry coverage; only the harness
# executables link the fuzzer's main (tests/fuzz/).
CFLAGS_SAN_fuzz := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
		   -fno-sanitize-recover=all
SANFLAGS   := $(CFLAGS_SAN_$(SAN))

WARN       := -Wall -Wextra $(if $(filter 1,$(WERROR)),-Werror) -Wshadow -Wstrict-prototypes \
	      -Wmissing-prototypes -Wno-missing-field-initializers
override CFLAGS += -std=gnu11 $(WARN) $(SANFLAGS) -MMD -MP
override CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ilib -DUNIFIED_VERSION_STR='"$(VERSION)"'
LIBCFLAGS  := -fPIC -fvisibility=hidden
LDLIBS     = -luring -lpthread $(LDLIBS_XDP)
override LDFLAGS += $(SANFLAGS)

LIB_SRCS   := $(wildcard lib/*.c)
LIB_OBJS   := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS))

# AF_XDP (lib/net_xdp.c) with libxdp/libbpf and an XDP program compiled by
# clang -target bpf, embedded in the library; NO_XDP=1 (or a missing
# libxdp-dev, libbpf-dev or clang) builds the library without it.
BPF_CLANG  ?= clang
HAVE_XDP   := $(if $(NO_XDP),,$(shell pkg-config --exists libxdp libbpf 2>/dev/null && \
		command -v $(BPF_CLANG) >/dev/null 2>&1 && echo 1))
ifeq ($(HAVE_XDP),1)
override CPPFLAGS += -DUNIFIED_HAVE_XDP
LDLIBS_XDP := -lxdp -lbpf
LIB_OBJS   += $(BUILD)/lib/bpf/xsk_udp_port.bpf.bin.o
endif
STATIC     := $(BUILD)/lib/libunified.a
SHARED     := $(BUILD)/lib/libunified.so.$(VERSION)

# Programs: one .c each under tools/, examples/ and tests/<tier>/.  Code
# shared by several tools lives in tools/lib/, by several tests in
# tests/lib/; each is compiled once into a static library they link.
TOOL_SRCS  := $(wildcard tools/*.c)
TOOLS      := $(patsubst tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
TOOLLIB_SRCS := $(wildcard tools/lib/*.c)
TOOLLIB    := $(BUILD)/tools/lib/libtools.a
EX_SRCS    := $(wildcard examples/*.c)
EXAMPLES   := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_SRCS))
TEST_SRCS  := $(wildcard tests/unit/*.c tests/target/*.c tests/stress/*.c tests/nvme/*.c tests/net/*.c \
			 tests/bench/*.c)
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
TESTLIB_SRCS := $(wildcard tests/lib/*.c)
TESTLIB    := $(BUILD)/tests/lib/libtest.a
FUZZ_SRCS  := $(wildcard tests/fuzz/*.c)
FUZZERS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(FUZZ_SRCS))
# Programs for the patched kernel's guest (tests/kernel/run.sh): not part of
# `all`, since they may need the series' UAPI headers; `make kernel-tests
# KERNEL_HEADERS=DIR` (kernel/build.sh's OUT/usr/include, searched first).
KTEST_SRCS := $(wildcard tests/kernel/*.c)
KTESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(KTEST_SRCS))
KERNEL_HEADERS ?=

.PHONY: all lib tools examples tests fuzzers kernel-tests check install uninstall clean fio print-version FORCE
all: lib tools examples tests
lib: $(STATIC) $(SHARED) $(BUILD)/libunified.pc
tools: $(TOOLS)
examples: $(EXAMPLES)
tests: $(TESTS)
fuzzers: $(FUZZERS)
kernel-tests: $(KTESTS)

# The release number is compiled in (UNIFIED_VERSION_STR) and written into
# the .pc file: a stamp that changes only when VERSION does rebuilds both.
$(BUILD)/.version: FORCE
	@mkdir -p $(dir $@)
	@echo $(VERSION) | cmp -s - $@ || echo $(VERSION) > $@
FORCE:

$(BUILD)/lib/%.o: lib/%.c $(BUILD)/.version
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LIBCFLAGS) -c -o $@ $<

# The XDP program, then its bytes as a linkable object (symbols
# _binary_xsk_udp_port_bpf_o_start/_end).
$(BUILD)/lib/bpf/xsk_udp_port.bpf.o: lib/bpf/xsk_udp_port.bpf.c
	@mkdir -p $(dir $@)
	$(BPF_CLANG) -O2 -g -fdebug-prefix-map=$(CURDIR)=. -target bpf -I/usr/include/$(shell $(BPF_CLANG) -print-multiarch) -c -o $@ $<
$(BUILD)/lib/bpf/xsk_udp_port.bpf.bin.o: $(BUILD)/lib/bpf/xsk_udp_port.bpf.o
	cd $(dir $@) && $(LD) -r -b binary -z noexecstack -o xsk_udp_port.bpf.bin.o xsk_udp_port.bpf.o

$(STATIC): $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJS) lib/libunified.map
	$(CC) -shared -Wl,-soname,libunified.so.$(SOVERSION) -Wl,--version-script=lib/libunified.map \
		$(LDFLAGS) -o $@ $(LIB_OBJS) $(LDLIBS)
	ln -sf libunified.so.$(VERSION) $(BUILD)/lib/libunified.so.$(SOVERSION)
	ln -sf libunified.so.$(SOVERSION) $(BUILD)/lib/libunified.so

$(BUILD)/libunified.pc: libunified.pc.in $(BUILD)/.version
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@XDP_REQUIRES@|$(if $(filter 1,$(HAVE_XDP)), libxdp libbpf)|' $< > $@

# Helper libraries of the tools and the tests.
$(BUILD)/tools/lib/%.o: tools/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itools/lib $(CFLAGS) -c -o $@ $<
$(TOOLLIB): $(patsubst tools/lib/%.c,$(BUILD)/tools/lib/%.o,$(TOOLLIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^
$(BUILD)/tests/lib/%.o: tests/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests -Itests/lib $(CFLAGS) -c -o $@ $<
$(TESTLIB): $(patsubst tests/lib/%.c,$(BUILD)/tests/lib/%.o,$(TESTLIB_SRCS))
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# Programs link the static library so tests, tools and the QEMU guest use
# exactly this build.  STATIC_EXE=1 makes fully static binaries (guest).
EXE_LDFLAGS := $(if $(STATIC_EXE),-static)
$(BUILD)/tools/%: tools/%.c $(TOOLLIB) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itools/lib $(CFLAGS) -o $@ $< $(TOOLLIB) $(STATIC) $(LDFLAGS) \
		$(EXE_LDFLAGS) $(LDLIBS) -lm
$(BUILD)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(STATIC) $(LDFLAGS) $(EXE_LDFLAGS) $(LDLIBS) -lm
$(BUILD)/tests/fuzz/%: tests/fuzz/%.c $(TESTLIB) $(TOOLLIB) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests -Itests/lib -Itools/lib $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(TESTLIB) \
		$(TOOLLIB) $(STATIC) $(LDFLAGS) $(LDLIBS) -lm
# The kernel's tests link the test library (harness) and the library as
# archives, so only the members they use end up in them, and liburing.
$(BUILD)/tests/kernel/%: tests/kernel/%.c $(TESTLIB) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(if $(KERNEL_HEADERS),-isystem $(KERNEL_HEADERS)) -Itests -Itests/lib $(CFLAGS) \
		-o $@ $< $(TESTLIB) $(STATIC) $(LDFLAGS) $(EXE_LDFLAGS) -luring -lpthread -lm
$(BUILD)/tests/%: tests/%.c $(TESTLIB) $(TOOLLIB) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests -Itests/lib -Itools/lib $(CFLAGS) -o $@ $< $(TESTLIB) $(TOOLLIB) \
		$(STATIC) $(LDFLAGS) \
		$(EXE_LDFLAGS) $(LDLIBS) -lm

check: all
	tests/run.sh

fio: $(STATIC)
	fio/build.sh $(BUILD)

print-version:
	@echo $(VERSION)

install: lib tools
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 644 include/io_unified.h include/libunified.h $(DESTDIR)$(INCDIR)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)
	ln -sf libunified.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libunified.so.$(SOVERSION)
	ln -sf libunified.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libunified.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' -e 's|@XDP_REQUIRES@|$(if $(filter 1,$(HAVE_XDP)), libxdp libbpf)|' libunified.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libunified.pc
	$(if $(TOOLS),install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR))
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 man/man1/*.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3
	$(if $(wildcard man/man7/*.7),install -m 644 man/man7/*.7 $(DESTDIR)$(MANDIR)/man7)
	$(if $(wildcard $(BUILD)/fio/libunified-fio.so),install -d $(DESTDIR)$(LIBDIR)/fio && \
		install -m 755 $(BUILD)/fio/libunified-fio.so $(DESTDIR)$(LIBDIR)/fio/)

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/io_unified.h $(DESTDIR)$(INCDIR)/libunified.h
	rm -f $(DESTDIR)$(LIBDIR)/libunified.a $(DESTDIR)$(LIBDIR)/libunified.so \
		$(DESTDIR)$(LIBDIR)/libunified.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libunified.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/pkgconfig/libunified.pc
	rm -f $(DESTDIR)$(LIBDIR)/fio/libunified-fio.so
	-rmdir $(DESTDIR)$(LIBDIR)/fio 2>/dev/null
	rm -f $(patsubst tools/%.c,$(DESTDIR)$(BINDIR)/%,$(TOOL_SRCS))
	rm -f $(patsubst man/%,$(DESTDIR)$(MANDIR)/%,$(wildcard man/man1/*.1 man/man3/*.3 man/man7/*.7))

clean:
	rm -rf build build-asan build-tsan build-fuzz build-guest

-include $(shell find $(BUILD) -path '$(BUILD)/kernel' -prune -o -name '*.d' -type f -print 2>/dev/null)
