# route-milter - hMailServer-style routes for Postfix and Sendmail.
#
#   make            build route-milter and routectl into $(BUILD)/
#   make check      install what the tests need, build, run every suite (also under ASan+UBSan)
#   make run        build and run route-milter in the foreground on conf/route-milter.conf
#   make bench      decisions/s, config load time and RSS, SMTP throughput through Postfix
#   make check-tsan the unit and integration suites under ThreadSanitizer
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
ifeq ($(SANITIZE),thread)
CXXFLAGS += -O1 -fno-omit-frame-pointer -fsanitize=thread
LDFLAGS  += -fsanitize=thread
endif

CORE_LIBS   = -lconfig++ -lidn2
# libmilter is linked statically so that its read() and sigwait() can be wrapped:
# read() to set TCP_QUICKACK on inet sockets, sigwait() to turn SIGHUP into a reload.
MILTER_LIBS = /usr/lib/x86_64-linux-gnu/libmilter.a -Wl,--wrap=read -Wl,--wrap=sigwait -lpthread
TEST_LIBS   = -lboost_unit_test_framework

CORE_SRC    = $(wildcard src/*.cpp)
MILTER_SRC  = $(wildcard src/milter/*.cpp)
ROUTECTL_SRC = $(wildcard src/routectl/*.cpp)
UNIT_SRC    = $(wildcard tests/unit/*.cpp)
BENCH_SRC   = $(wildcard tests/bench/*.cpp)

obj = $(patsubst %.cpp,$(BUILD)/obj/%.o,$(1))

CORE_LIB = $(BUILD)/libroute_milter_core.a
BINARIES = $(BUILD)/route-milter $(BUILD)/routectl

.PHONY: all check check-tsan unit integration deps run bench clean
all: $(BINARIES)

$(BUILD)/obj/%.o: %.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(call obj,$(CORE_SRC))
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/route-milter: $(call obj,$(MILTER_SRC)) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CORE_LIBS) $(MILTER_LIBS)

$(BUILD)/routectl: $(call obj,$(ROUTECTL_SRC)) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(BUILD)/unit-tests: $(call obj,$(UNIT_SRC)) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CORE_LIBS) $(TEST_LIBS)

$(BUILD)/bench-core: $(call obj,$(BENCH_SRC)) $(CORE_LIB)
	$(CXX) $(LDFLAGS) -o $@ $^ $(CORE_LIBS)

$(BUILD)/noop-milter: tests/bench/noop_milter.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -Wall -Wextra -Werror -o $@ $< -lmilter -lpthread

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Build and test packages, installed with apt-get when missing (the tests need a real Postfix).
deps:
	@tests/install-deps.sh

unit: $(BUILD)/unit-tests
	@tests/unit/run.sh $(BUILD)/unit-tests

integration: $(BINARIES)
	@ROUTE_MILTER=$(abspath $(BUILD)/route-milter) ROUTECTL=$(abspath $(BUILD)/routectl) tests/integration/run.sh

# Every suite, then every suite again under ASan+UBSan; ends with "N passed, N failed".
check: deps
	@tests/run-all.sh

# The unit and integration suites once more under ThreadSanitizer (a separate build in build/tsan).
check-tsan: deps
	@tests/run-tsan.sh

run: deps all
	@tests/run-milter.sh $(BUILD)

bench: deps all $(BUILD)/bench-core $(BUILD)/noop-milter
	@tests/bench/run.sh $(BUILD)

clean:
	rm -rf build
