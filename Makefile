# route-milter - hMailServer-style routes for Postfix and Sendmail.
#
#   make            build route-milter and routectl into $(BUILD)/ (make deps installs what it needs)
#   make check      install what the tests need, build, run every suite (also under ASan+UBSan)
#   make run        install the build packages, build and run route-milter in the foreground on
#                   conf/route-milter.conf (never installs an MTA or a Prometheus server)
#   make bench      decisions/s, config load time and RSS, routectl sendmail/postfix time and RSS,
#                   compile/start/memory/reload against their targets (BENCH_BIG=1: at 10^7 too;
#                   BENCH_BEFORE=DIR: beside the build in DIR), SMTP throughput through Postfix
#   make check-tsan the unit and integration suites under ThreadSanitizer
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60) each
#   make soak       20,000 sessions through Postfix while the config is reloaded every second
#   make soak-big   the soak at 100,000 routes and 1,000,000 addresses in address files: 100,000
#                   sessions, an address file swapped and reloaded every 2 s (about 15 minutes)
#                   (SOAK_ARGS passes options to either: --sessions N --rcpts N --workers N --warmup N)
#
# Variables: BUILD (output directory), SANITIZE=1 (ASan+UBSan) or SANITIZE=thread (TSan), CXX,
# EXTRA_CXXFLAGS.

BUILD    ?= build
CXX      ?= g++
SANITIZE ?=

CXXFLAGS  = -std=c++20 -O2 -g -Wall -Wextra -Wpedantic -Werror -Iinclude $(EXTRA_CXXFLAGS)
LDFLAGS   =
ifeq ($(SANITIZE),1)
CXXFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=address,undefined
endif
ifeq ($(SANITIZE),fuzz)
CXXFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
LDFLAGS  += -fsanitize=fuzzer,address,undefined
endif
ifeq ($(SANITIZE),thread)
CXXFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=thread
LDFLAGS  += -fsanitize=thread
endif

# libpsl: the public suffixes a wildcard route treated as local may not cover (open_relay.hpp).
CORE_LIBS   = -lidn2 -lcrypto -lcdb
# The config wing: libconfig reads the file, libpsl knows the public suffixes.
CONFIG_LIBS = -lconfig++ -lpsl
# The hMailServer wing: its backup is a 7z archive (libarchive) of UTF-16 XML (libxml2), passwords Blowfish (nettle).
HMS_LIBS    = -larchive -lxml2 -lnettle
# libmilter is linked statically so that its read() and sigwait() can be wrapped:
# read() to set TCP_QUICKACK on inet sockets, sigwait() to turn SIGHUP into a reload.
MILTER_LIBS = /usr/lib/x86_64-linux-gnu/libmilter.a -Wl,--wrap=read -Wl,--wrap=sigwait -lpthread -lsystemd -lmicrohttpd
TEST_LIBS   = -lboost_unit_test_framework
# routectl stats reads the daemon's /metrics over HTTP.
ROUTECTL_LIBS = -lcurl
# The Postfix wing writes cdb (tinycdb) and lmdb tables, folding keys as Postfix does (ICU).
POSTFIX_LIBS = -lcdb -llmdb -licuuc

# One archive per wing (docs/development.md, "How it is built"); linked in dependency order, core last.
WINGS       = config postfix sendmail hmailserver image common core
wing_lib    = $(BUILD)/lib/libroute_milter_$(1).a
CORE_SRC    = $(wildcard src/core/*.cpp)
MILTER_SRC  = $(wildcard src/milter/*.cpp)
ROUTECTL_SRC = $(wildcard src/routectl/*.cpp)
UNIT_SRC    = $(wildcard tests/unit/*.cpp)
BENCH_SRC   = $(wildcard tests/bench/*.cpp)

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))

CORE_LIB     = $(call wing_lib,core)
CONFIG_LIB   = $(call wing_lib,config)
IMAGE_LIB    = $(call wing_lib,image)
POSTFIX_LIB  = $(call wing_lib,postfix)
SENDMAIL_LIB = $(call wing_lib,sendmail)
COMMON_LIB   = $(call wing_lib,common)
HMS_LIB      = $(call wing_lib,hmailserver)
MILTER_WINGS   = $(IMAGE_LIB) $(COMMON_LIB) $(CORE_LIB)
ROUTECTL_WINGS = $(CONFIG_LIB) $(POSTFIX_LIB) $(SENDMAIL_LIB) $(HMS_LIB) $(IMAGE_LIB) $(COMMON_LIB) $(CORE_LIB)
BINARIES = $(BUILD)/route-milter $(BUILD)/routectl

.SECONDEXPANSION:
# Keep the wing objects (make would delete them as intermediates and rebuild a whole wing each time).
.SECONDARY:
.PHONY: all check check-tsan fuzz soak soak-big unit integration deps run bench clean
all: $(BINARIES)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

# libxml2's headers live in their own directory.
$(BUILD)/obj/src/hmailserver/%.o: CXXFLAGS += -I/usr/include/libxml2

$(BUILD)/lib/libroute_milter_%.a: $$(call obj,$$(wildcard src/$$*/*.cpp))
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/route-milter: $(call obj,$(MILTER_SRC)) $(MILTER_WINGS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CORE_LIBS) $(MILTER_LIBS)

$(BUILD)/routectl: $(call obj,$(ROUTECTL_SRC)) $(ROUTECTL_WINGS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(CORE_LIBS) $(HMS_LIBS) $(POSTFIX_LIBS) $(ROUTECTL_LIBS)

$(BUILD)/unit-tests: $(call obj,$(UNIT_SRC)) $(ROUTECTL_WINGS)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(CORE_LIBS) $(HMS_LIBS) $(POSTFIX_LIBS) $(TEST_LIBS)

$(BUILD)/bench-core: $(call obj,$(BENCH_SRC)) $(CONFIG_LIB) $(IMAGE_LIB) $(COMMON_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(CORE_LIBS)

# libFuzzer targets (built with clang: make fuzz).
$(BUILD)/fuzz-hmailserver: $(BUILD)/obj/tests/fuzz/fuzz_hmailserver.o $(HMS_LIB) $(CONFIG_LIB) $(IMAGE_LIB) $(COMMON_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(CORE_LIBS) $(HMS_LIBS)

$(BUILD)/fuzz-%: $(BUILD)/obj/tests/fuzz/fuzz_%.o $(CONFIG_LIB) $(IMAGE_LIB) $(COMMON_LIB) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CONFIG_LIBS) $(CORE_LIBS)

$(BUILD)/noop-milter: tests/bench/noop_milter.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lmilter -lpthread

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Missing Debian packages are installed with apt-get (as root), only the set a target needs
# (tests/install-deps.sh lists the sets): make deps installs what `make` needs to build.
deps:
	@tests/install-deps.sh build

unit: $(BUILD)/unit-tests
	@tests/unit/run.sh $(BUILD)/unit-tests

integration: $(BINARIES)
	@ROUTE_MILTER=$(abspath $(BUILD)/route-milter) ROUTECTL=$(abspath $(BUILD)/routectl) tests/integration/run.sh

# Every suite, then every suite again under ASan+UBSan; ends with "N passed, N failed".
check:
	@tests/install-deps.sh check
	@tests/run-all.sh

# Reloads under load through a real Postfix (SOAK_ARGS="--sessions N ..." to change the size).
soak:
	@tests/install-deps.sh build postfix
	@$(MAKE) --no-print-directory all
	@python3 tests/soak/soak.py $(SOAK_ARGS)

soak-big:
	@tests/install-deps.sh build postfix
	@$(MAKE) --no-print-directory all
	@python3 tests/soak/soak.py --big $(SOAK_ARGS)

# Each libFuzzer target for FUZZ_SECONDS (default 60); new crashes land in build/fuzz/crashes.
FUZZ_SECONDS ?= 60
fuzz:
	@tests/install-deps.sh fuzz
	@FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

# The unit and integration suites once more under ThreadSanitizer (a separate build in build/tsan).
check-tsan:
	@tests/install-deps.sh test
	@tests/run-tsan.sh

run:
	@tests/install-deps.sh build
	@$(MAKE) --no-print-directory all
	@tests/run-milter.sh $(BUILD)

bench:
	@tests/install-deps.sh bench
	@$(MAKE) --no-print-directory all $(BUILD)/bench-core $(BUILD)/noop-milter
	@tests/bench/run.sh $(BUILD)

clean:
	rm -rf build

# ---------------------------------------------------------------- installation and Debian package
#   make install [DESTDIR=...] [PREFIX=/usr]   binaries, man pages, systemd units, routectl's bash
#                                              completion, and the config (only when none is
#                                              there yet: never overwritten)
#   make deb             build/deb/route-milter_<version>_amd64.deb (dpkg-buildpackage -b)
#   make package-check   build, lint, install, test and purge the package (tests/package/run.sh)
PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
COMPLETIONSDIR ?= $(PREFIX)/share/bash-completion/completions
DEB_VERSION = $(shell dpkg-parsechangelog -l packaging/debian/changelog -S Version)
DEB_STAGE   = $(BUILD)/deb/route-milter-$(firstword $(subst -, ,$(DEB_VERSION)))

.PHONY: install deb package-check
install: $(BINARIES)
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/route-milter $(DESTDIR)$(COMPLETIONSDIR)
	install -m 0755 $(BINARIES) $(DESTDIR)$(SBINDIR)/
	install -m 0644 packaging/man/route-milter.8 packaging/man/routectl.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 packaging/man/route-milter.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 systemd/route-milter.service systemd/routectl-retry.service \
	    systemd/routectl-retry.timer $(DESTDIR)$(UNITDIR)/
	install -m 0644 packaging/routectl.bash-completion $(DESTDIR)$(COMPLETIONSDIR)/routectl
	[ -e $(DESTDIR)$(SYSCONFDIR)/route-milter/route-milter.conf ] || \
	    install -m 0640 conf/route-milter.conf $(DESTDIR)$(SYSCONFDIR)/route-milter/route-milter.conf

# The source (without build/) is copied to a staging directory, packaging/debian becomes debian/.
deb:
	@tests/install-deps.sh deb
	rm -rf $(BUILD)/deb
	mkdir -p $(DEB_STAGE)
	cp -a Makefile README.md conf examples include packaging src systemd tests $(DEB_STAGE)/
	cp -a packaging/debian $(DEB_STAGE)/debian
	cd $(DEB_STAGE) && dpkg-buildpackage -us -uc -b
	@ls -l $(BUILD)/deb/*.deb

package-check:
	@tests/install-deps.sh package
	@tests/package/run.sh
