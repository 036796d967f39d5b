# The one entry point: deps, all (the module), test, run, bench, clean.
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
LDLIBS := -lgit2 -lz -lpthread

CORE_SRCS := $(shell find src -name '*.cpp' | sort)
CORE_OBJS := $(patsubst src/%.cpp,$(BUILD)/core/obj/%.o,$(CORE_SRCS))
UNIT_SRCS := $(shell find tests/unit -name '*.cpp' | sort)
UNIT_OBJS := $(patsubst tests/unit/%.cpp,$(BUILD)/unit/obj/%.o,$(UNIT_SRCS))
UNIT_BIN := $(BUILD)/unit/gsh_unit_tests
NGX_MODULE_SRCS := $(wildcard ngx_module/*.c ngx_module/*.h) config

DEB_PACKAGES := build-essential g++ make pkg-config git nginx nginx-dev libgit2-dev \
                zlib1g-dev libssl-dev libpcre2-dev libgtest-dev fcgiwrap \
                python3-pytest procps curl wrk \
                default-jre-headless jgit-cli python3-dulwich

.PHONY: all core deps test unit-test nginx-test bench-smoke run bench clean format

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

unit-test: $(UNIT_BIN)
	$(UNIT_BIN)

nginx-test: $(MODULE)
	GSH_MODULE=$(MODULE) GSH_SANITIZE=$(SANITIZE) $(PYTHON) -m pytest -q -ra tests/nginx

test: deps
	$(MAKE) all
	$(MAKE) unit-test
	$(MAKE) nginx-test
	$(MAKE) bench-smoke

# One small round of make bench: checks that the benchmark works, not its figures.
bench-smoke: $(MODULE)
	GSH_MODULE=$(MODULE) BENCH_QUICK=1 $(PYTHON) tests/bench/bench.py

run: deps
	$(MAKE) all
	GSH_MODULE=$(MODULE) PORT=$(PORT) tests/demo/run.sh

bench: deps
	$(MAKE) all
	GSH_MODULE=$(MODULE) $(PYTHON) tests/bench/bench.py

format:
	clang-format -i $$(find src tests/unit -name '*.cpp' -o -name '*.h') ngx_module/*.c ngx_module/*.h

clean:
	rm -rf $(ROOT)/build

-include $(CORE_OBJS:.o=.d) $(UNIT_OBJS:.o=.d)
