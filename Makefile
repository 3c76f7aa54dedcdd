# io_unified build.  `make` builds the library, tools, examples and tests;
# `make SAN=asan` / `make SAN=tsan` build sanitizer variants in their own dir;
# `make check` runs the whole test suite (tests/run.sh); `make install`.
VERSION    := 0.1.0
SOVERSION  := 0
PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCDIR     ?= $(PREFIX)/include
BINDIR     ?= $(PREFIX)/bin
DESTDIR    ?=

CC         ?= gcc
SAN        ?=
BUILD      ?= build$(if $(SAN),-$(SAN))
OPT        ?= -O2
CFLAGS_SAN_asan := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
# -Wno-tsan: GCC 12+ warns that TSan does not model atomic_thread_fence
# (unified_smp_mb); every shared word is accessed atomically anyway.
CFLAGS_SAN_tsan := -fsanitize=thread -fno-omit-frame-pointer -Wno-tsan
WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
BASECFLAGS := -std=gnu11 -g $(OPT) $(WARN) -D_GNU_SOURCE -Iinclude -Ilib $(CFLAGS_SAN_$(SAN))
LIBCFLAGS  := $(BASECFLAGS) -fPIC -fvisibility=hidden
LDLIBS     := -luring -lpthread
LDSAN      := $(CFLAGS_SAN_$(SAN))

LIB_SRCS   := $(wildcard lib/*.c)
LIB_OBJS   := $(patsubst lib/%.c,$(BUILD)/lib/%.o,$(LIB_SRCS))
STATIC     := $(BUILD)/lib/libunified.a
SHARED     := $(BUILD)/lib/libunified.so.$(VERSION)

TOOL_SRCS  := $(wildcard tools/*.c)
TOOLS      := $(patsubst tools/%.c,$(BUILD)/tools/%,$(TOOL_SRCS))
EX_SRCS    := $(wildcard examples/*.c)
EXAMPLES   := $(patsubst examples/%.c,$(BUILD)/examples/%,$(EX_SRCS))
TEST_SRCS  := $(wildcard tests/unit/*.c tests/target/*.c tests/stress/*.c tests/nvme/*.c)
TESTS      := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
HDRS       := $(wildcard include/*.h lib/*.h tests/*.h tests/*/*.h)

.PHONY: all lib tools examples tests check install uninstall clean static-guest
all: lib tools examples tests
lib: $(STATIC) $(SHARED) $(BUILD)/libunified.pc
tools: $(TOOLS)
examples: $(EXAMPLES)
tests: $(TESTS)

$(BUILD)/lib/%.o: lib/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(LIBCFLAGS) -c -o $@ $<

$(STATIC): $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(SHARED): $(LIB_OBJS) lib/libunified.map
	$(CC) -shared -Wl,-soname,libunified.so.$(SOVERSION) -Wl,--version-script=lib/libunified.map \
		$(LDSAN) -o $@ $(LIB_OBJS) $(LDLIBS)
	ln -sf libunified.so.$(VERSION) $(BUILD)/lib/libunified.so.$(SOVERSION)
	ln -sf libunified.so.$(SOVERSION) $(BUILD)/lib/libunified.so

$(BUILD)/libunified.pc: libunified.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' $< > $@

# Programs link the static library so tests, tools and the QEMU guest use
# exactly this build.  STATIC_EXE=1 makes fully static binaries (guest).
EXE_LDFLAGS := $(if $(STATIC_EXE),-static)
$(BUILD)/%: %.c $(STATIC) $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(BASECFLAGS) -Itests -o $@ $< $(STATIC) $(LDSAN) $(EXE_LDFLAGS) $(LDLIBS) -lm

check: all
	tests/run.sh

install: lib
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 644 include/io_unified.h include/libunified.h $(DESTDIR)$(INCDIR)
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)
	ln -sf libunified.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libunified.so.$(SOVERSION)
	ln -sf libunified.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libunified.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
		-e 's|@VERSION@|$(VERSION)|' libunified.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libunified.pc
	$(if $(TOOLS),install -m 755 $(TOOLS) $(DESTDIR)$(BINDIR))

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/io_unified.h $(DESTDIR)$(INCDIR)/libunified.h
	rm -f $(DESTDIR)$(LIBDIR)/libunified.* $(DESTDIR)$(LIBDIR)/pkgconfig/libunified.pc

clean:
	rm -rf build build-asan build-tsan build-guest
