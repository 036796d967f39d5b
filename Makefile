# The one entry point: deps, all (the module), test, check-layout, run, bench, fuzz, clean.
SHELL := /bin/bash
ROOT := $(abspath .)
PORT ?= 8080
SANITIZE ?=

ifeq ($(SANITIZE),1)
BUILD := $(ROOT)/build/san
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD := $(ROOT)/build
SAN_FLAGS :=
endif

NGX_SRC := /usr/share/nginx/src
NGX_BUILD := $(BUILD)/nginx
MODULE := $(BUILD)/ngx_http_git_smart_http_module.so
CORE_LIB := $(BUILD)/core/libgsh_core.a
PYTHON := /usr/bin/python3

CXX ?= g++
CXXFLAGS := -std=c++20 -O2 -g -fPIC -Wall -Wextra -Werror -pthread \
            -I$(ROOT)/src -I$(ROOT)/src/include $(SAN_FLAGS)
LDLIBS := -lgit2 -lz -lcrypto -lpthread

CORE_SRCS := $(shell find src -name '*.cpp' | sort)
CORE_OBJS := $(patsubst src/%.cpp,$(BUILD)/core/obj/%.o,$(CORE_SRCS))
UNIT_SRCS := $(shell find tests/unit -name '*.cpp' | sort)
UNIT_OBJS := $(patsubst tests/unit/%.cpp,$(BUILD)/unit/obj/%.o,$(UNIT_SRCS))
UNIT_BIN := $(BUILD)/unit/gsh_unit_tests
NGX_MODULE_SRCS := $(wildcard ngx_module/*.c ngx_module/*.h) config

# libFuzzer targets (tests/fuzz/fuzz_<name>.cpp), built with clang whatever
# SANITIZE says: the core instrumented for coverage (fuzzer-no-link) with
# ASan and UBSan, each target linked with libFuzzer's main.
FUZZ_BUILD := $(ROOT)/build/fuzz
FUZZ_CXX := clang++
FUZZ_CXXFLAGS := -std=c++20 -O1 -g -Wall -Wextra -Werror -pthread -I$(ROOT)/src \
                 -I$(ROOT)/src/include -fno-omit-frame-pointer \
                 -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CC := clang
FUZZ_CFLAGS := -std=c99 -O1 -g -Wall -Wextra -Werror -fno-omit-frame-pointer \
               -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CORE_OBJS := $(patsubst src/%.cpp,$(FUZZ_BUILD)/core/obj/%.o,$(CORE_SRCS))
FUZZ_CORE_LIB := $(FUZZ_BUILD)/core/libgsh_core.a
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.cpp))
FUZZ_TARGETS := $(patsubst tests/fuzz/%.cpp,%,$(FUZZ_SRCS))
FUZZ_BINS := $(addprefix $(FUZZ_BUILD)/,$(FUZZ_TARGETS))
# Seconds per target: make fuzz, and the short run in make test.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 10

DEB_PACKAGES := build-essential g++ make pkg-config git nginx nginx-dev libgit2-dev \
                zlib1g-dev libssl-dev libpcre2-dev libgtest-dev fcgiwrap \
                python3-pytest procps curl wrk \
                default-jre-headless jgit-cli python3-dulwich \
                clang libclang-rt-dev llvm

.PHONY: all core deps test check-layout unit-test nginx-test bench-smoke run bench clean format \
        fuzz fuzz-build fuzz-smoke fuzz-run

all: $(MODULE)

core: $(CORE_LIB)

deps:
	@missing=$$(for p in $(DEB_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(BUILD)/core/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# nginx's own source tree, configured with the distribution's flags, builds the
# module so that it loads into the stock /usr/sbin/nginx.
$(NGX_BUILD)/objs/Makefile: config
	rm -rf $(NGX_BUILD) && mkdir -p $(BUILD) && cp -r $(NGX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && source ./conf_flags && \
	    GSH_CORE_LIB=$(CORE_LIB) GSH_SAN_FLAGS="$(SAN_FLAGS)" \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(ROOT) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }

# The module is replaced by a rename, never rewritten in place: a running
# nginx (a test run, `make run`) has the old file mapped.
$(MODULE): $(CORE_LIB) $(NGX_BUILD)/objs/Makefile $(NGX_MODULE_SRCS)
	rm -f $(NGX_BUILD)/objs/ngx_http_git_smart_http_module.so
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	cp $(NGX_BUILD)/objs/ngx_http_git_smart_http_module.so $@.tmp && mv -f $@.tmp $@

$(BUILD)/unit/obj/%.o: tests/unit/%.cpp
	@mkdir -p $(dir $@)
	$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(UNIT_BIN): $(UNIT_OBJS) $(CORE_LIB)
	$(CXX) $(CXXFLAGS) -o $@ $(UNIT_OBJS) $(CORE_LIB) -lgtest -lgtest_main $(LDLIBS)

# The layout rules of docs/ARCHITECTURE.md (no call cycle between the C
# files of ngx_module/, src/ folders include only downwards, no function over
# 80 lines without a `why long:` comment): the checker's own tests on small
# trees, then the checker on this tree.
check-layout:
	$(PYTHON) -m pytest -q tests/layout
	$(PYTHON) tools/check_layout.py

unit-test: $(UNIT_BIN)
	$(UNIT_BIN)

nginx-test: $(MODULE)
	GSH_MODULE=$(MODULE) GSH_SANITIZE=$(SANITIZE) $(PYTHON) -m pytest -q -ra tests/nginx

# With SANITIZE=1 the module, the core and the unit tests are built with
# ASan and UBSan; the benchmark smoke test and the fuzzers (always built
# with ASan and UBSan) are left to the plain make test.
test: deps
	$(MAKE) check-layout
	$(MAKE) all
	$(MAKE) unit-test
	$(MAKE) nginx-test
ifeq ($(SANITIZE),1)
	@echo "make test SANITIZE=1: bench-smoke and fuzz-smoke are run by make test without SANITIZE"
else
	$(MAKE) bench-smoke
	$(MAKE) fuzz-smoke
endif

# One small round of make bench: checks that the benchmark works, not its figures.
bench-smoke: $(MODULE)
	GSH_MODULE=$(MODULE) BENCH_QUICK=1 $(PYTHON) tests/bench/bench.py

run: deps
	$(MAKE) all
	GSH_MODULE=$(MODULE) PORT=$(PORT) tests/demo/run.sh

bench: deps
	$(MAKE) all
	GSH_MODULE=$(MODULE) $(PYTHON) tests/bench/bench.py

$(FUZZ_BUILD)/core/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The module's C files that need no nginx header, compiled as C for the
# targets that call them (fuzz_route: the request routing).
$(FUZZ_BUILD)/module/%.o: ngx_module/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_route: $(FUZZ_BUILD)/module/ngx_http_git_smart_http_route.o

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cpp $(FUZZ_CORE_LIB)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer -MMD -MP -MT $@ -MF $@.d \
	    -DGSH_FUZZ_FIXTURE_SCRIPT='"$(ROOT)/tests/fuzz/make_fixture.sh"' \
	    -o $@ $< $(filter $(FUZZ_BUILD)/module/%.o,$^) $(FUZZ_CORE_LIB) $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

# Each target for FUZZ_SECONDS from its seeds (tests/fuzz/corpus/<name>)
# and what earlier runs found (build/fuzz/corpus/<target>); a crash, a
# leak, a timeout or a sanitizer report fails, and the input is left in
# build/fuzz/artifacts/<target>/ (an input slower than 10 s counts; the
# memory limit is libFuzzer's 2 GB). FUZZ_TARGETS= picks some.
fuzz: deps
	$(MAKE) fuzz-build
	$(MAKE) fuzz-run FUZZ_RUN_SECONDS=$(FUZZ_SECONDS)

# The short run of make test.
fuzz-smoke: fuzz-build
	$(MAKE) fuzz-run FUZZ_RUN_SECONDS=$(FUZZ_SMOKE_SECONDS)

fuzz-run:
	@set -e; for t in $(FUZZ_TARGETS); do \
	    seeds=tests/fuzz/corpus/$${t#fuzz_}; \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/artifacts/$$t; \
	    echo "fuzz: $$t for $(FUZZ_RUN_SECONDS) s"; \
	    $(FUZZ_BUILD)/$$t -max_total_time=$(FUZZ_RUN_SECONDS) -timeout=10 \
	        -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_BUILD)/artifacts/$$t/ \
	        $(FUZZ_BUILD)/corpus/$$t $$seeds \
	        >$(FUZZ_BUILD)/$$t.log 2>&1 \
	    || { tail -60 $(FUZZ_BUILD)/$$t.log; echo "fuzz: $$t FAILED (log: $(FUZZ_BUILD)/$$t.log)"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' $(FUZZ_BUILD)/$$t.log \
	        | sed "s/^/fuzz: $$t /"; \
	done

format:
	clang-format -i $$(find src tests/unit tests/fuzz -name '*.cpp' -o -name '*.h') \
	    ngx_module/*.c ngx_module/*.h

clean:
	rm -rf $(ROOT)/build

-include $(CORE_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(FUZZ_CORE_OBJS:.o=.d) $(FUZZ_BINS:=.d) \
    $(FUZZ_BUILD)/module/ngx_http_git_smart_http_route.d
