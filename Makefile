# The one entry point: deps, all (the module), test, check-layout, run, bench,
# fuzz, format, install, uninstall, deb, clean.
SHELL := /bin/bash

# Parallel by default: as many jobs as cores, unless the command line or
# MAKEFLAGS already says -j (GNU make 4.3 hides -j from MAKEFLAGS while it
# reads the makefile, hence the look at make's own command line). Only the
# top-level make decides: a sub-make shares its parent's job server. Not with
# `clean` beside other goals, which would then run at the same time.
ifeq ($(MAKELEVEL),0)
GSH_JOBS_GIVEN := $(filter -j% --jobs% j%,$(shell tr '\0' ' ' </proc/$$PPID/cmdline 2>/dev/null) \
                  $(shell printf '%s' "$$MAKEFLAGS"))
ifeq ($(GSH_JOBS_GIVEN)$(and $(filter clean,$(MAKECMDGOALS)),$(filter-out clean,$(MAKECMDGOALS))),)
MAKEFLAGS += -j$(shell nproc)
endif
endif

# Short compile lines (`CXX src/foo.cpp`); V=1 shows the commands.
ifeq ($(V),1)
quiet =
Q :=
NGX_MAKE_QUIET :=
else
Q := @
quiet = @printf '  %-8s %s\n' '$(1)' '$(2)';
MAKEFLAGS += --no-print-directory
NGX_MAKE_QUIET := -s --no-print-directory
endif
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

# What building and serving need (make run, make install) ...
DEPS_RUN := build-essential g++ make pkg-config git nginx nginx-dev libgit2-dev \
            zlib1g-dev libssl-dev libpcre2-dev openssl procps curl
# ... what make deb adds (dh_nginx comes with nginx-dev) ...
DEPS_DEB := $(DEPS_RUN) dpkg-dev debhelper fakeroot lintian
# ... and what the tests add: GoogleTest, git http-backend behind fcgiwrap as
# the reference, pytest, wrk for the benchmark, the other clients (jgit,
# dulwich), clang and LLVM for the fuzzers.
DEPS_TEST := $(DEPS_DEB) libgtest-dev fcgiwrap python3-pytest wrk \
             default-jre-headless jgit-cli python3-dulwich \
             clang libclang-rt-dev llvm

.PHONY: all core deps deps-run deps-deb test check-layout unit-test nginx-test bench-smoke \
        packaging-test run bench clean format fuzz fuzz-build fuzz-smoke fuzz-run \
        install uninstall deb

all: $(MODULE)

core: $(CORE_LIB)

# The Debian packages of a list that are not installed yet, installed (after
# an apt-get update) only when there are some.
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -q && apt-get install -y -q --no-install-recommends $$missing; \
	fi
endef

deps-run:
	$(call install_missing,$(DEPS_RUN))

deps-deb:
	$(call install_missing,$(DEPS_DEB))

deps:
	$(call install_missing,$(DEPS_TEST))

$(BUILD)/core/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(call quiet,CXX,$<)$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@mkdir -p $(dir $@)
	$(call quiet,AR,$(@:$(ROOT)/%=%))rm -f $@ && ar rcs $@ $^

# nginx's own source tree, configured with the distribution's flags, builds the
# module so that it loads into the stock /usr/sbin/nginx.
$(NGX_BUILD)/objs/Makefile: config
	$(call quiet,CONFIGURE,nginx in $(NGX_BUILD:$(ROOT)/%=%))rm -rf $(NGX_BUILD) && mkdir -p $(BUILD) && cp -r $(NGX_SRC) $(NGX_BUILD)
	$(Q)cd $(NGX_BUILD) && source ./conf_flags && \
	    GSH_CORE_LIB=$(CORE_LIB) GSH_SAN_FLAGS="$(SAN_FLAGS)" \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(ROOT) >configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }

# The module is replaced by a rename, never rewritten in place: a running
# nginx (a test run, `make run`) has the old file mapped.
$(MODULE): $(CORE_LIB) $(NGX_BUILD)/objs/Makefile $(NGX_MODULE_SRCS)
	$(call quiet,CC,ngx_module/*.c (nginx objs/Makefile))rm -f $(NGX_BUILD)/objs/ngx_http_git_smart_http_module.so
	$(Q)$(MAKE) $(NGX_MAKE_QUIET) -C $(NGX_BUILD) -f objs/Makefile modules
	$(call quiet,MODULE,$(@:$(ROOT)/%=%))cp $(NGX_BUILD)/objs/ngx_http_git_smart_http_module.so $@.tmp && mv -f $@.tmp $@

$(BUILD)/unit/obj/%.o: tests/unit/%.cpp
	@mkdir -p $(dir $@)
	$(call quiet,CXX,$<)$(CXX) $(CXXFLAGS) -MMD -MP -c $< -o $@

$(UNIT_BIN): $(UNIT_OBJS) $(CORE_LIB)
	$(call quiet,LD,$(@:$(ROOT)/%=%))$(CXX) $(CXXFLAGS) -o $@ $(UNIT_OBJS) $(CORE_LIB) -lgtest -lgtest_main $(LDLIBS)

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
# ASan and UBSan; the benchmark smoke test, the fuzzers (always built with
# ASan and UBSan) and the packaging tests (a package holds the plain build)
# are left to the plain make test.
test: deps
	$(MAKE) check-layout
	$(MAKE) all
	$(MAKE) unit-test
	$(MAKE) nginx-test
ifeq ($(SANITIZE),1)
	@echo "make test SANITIZE=1: bench-smoke, fuzz-smoke and packaging-test are run by make test without SANITIZE"
else
	$(MAKE) bench-smoke
	$(MAKE) fuzz-smoke
	$(MAKE) packaging-test
endif

# One small round of make bench: checks that the benchmark works, not its figures.
bench-smoke: $(MODULE)
	GSH_MODULE=$(MODULE) BENCH_QUICK=1 $(PYTHON) tests/bench/bench.py

# make deb, make install DESTDIR=... and make run in a copy of the tree,
# each checked with the stock nginx (tests/packaging/).
packaging-test: $(MODULE)
	$(PYTHON) -m pytest -q -ra tests/packaging

run: deps-run
	$(MAKE) all
	GSH_MODULE=$(MODULE) PORT=$(PORT) tests/demo/run.sh

bench: deps
	$(MAKE) all
	GSH_MODULE=$(MODULE) $(PYTHON) tests/bench/bench.py

$(FUZZ_BUILD)/core/obj/%.o: src/%.cpp
	@mkdir -p $(dir $@)
	$(call quiet,CLANG++,$<)$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJS)
	@mkdir -p $(dir $@)
	$(call quiet,AR,$(@:$(ROOT)/%=%))rm -f $@ && ar rcs $@ $^

# The module's C files that need no nginx header, compiled as C for the
# targets that call them (fuzz_route: the request routing).
$(FUZZ_BUILD)/module/%.o: ngx_module/%.c
	@mkdir -p $(dir $@)
	$(call quiet,CLANG,$<)$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/fuzz_route: $(FUZZ_BUILD)/module/ngx_http_git_smart_http_route.o

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.cpp $(FUZZ_CORE_LIB)
	$(call quiet,CLANG++,$<)$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer -MMD -MP -MT $@ -MF $@.d \
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

# Where Debian's nginx looks for modules (--modules-path; "modules/" in a
# load_module is /usr/share/nginx/modules, a link to it), where Debian's
# libnginx-mod-* packages put their one-line load_module conf, and where
# their postinst links it (50-: dh_nginx's priority for http modules).
NGX_MODULES_DIR ?= /usr/lib/nginx/modules
NGX_MODULES_AVAILABLE ?= /usr/share/nginx/modules-available
NGX_MODULES_ENABLED ?= /etc/nginx/modules-enabled
MODULE_SO := ngx_http_git_smart_http_module.so
MODULE_CONF := mod-http-git-smart-http.conf
MODULE_LINK := 50-$(MODULE_CONF)

# make install [DESTDIR=...]: the module and its conf. Without DESTDIR (a
# real install) the conf is also linked into modules-enabled, as the
# package's postinst does; with DESTDIR (a staging root, as for a package)
# the link is left to whoever installs it. The .so is replaced by a rename:
# a running nginx has the old one mapped.
install: $(MODULE)
	@if [ "$(SANITIZE)" = 1 ]; then echo "make install: not a SANITIZE=1 build" >&2; exit 1; fi
	install -d -m 755 $(DESTDIR)$(NGX_MODULES_DIR) $(DESTDIR)$(NGX_MODULES_AVAILABLE)
	install -m 644 $(MODULE) $(DESTDIR)$(NGX_MODULES_DIR)/.$(MODULE_SO).tmp
	mv -f $(DESTDIR)$(NGX_MODULES_DIR)/.$(MODULE_SO).tmp $(DESTDIR)$(NGX_MODULES_DIR)/$(MODULE_SO)
	printf 'load_module modules/%s;\n' $(MODULE_SO) >$(DESTDIR)$(NGX_MODULES_AVAILABLE)/$(MODULE_CONF)
	chmod 644 $(DESTDIR)$(NGX_MODULES_AVAILABLE)/$(MODULE_CONF)
	@if [ -z "$(DESTDIR)" ]; then \
	    install -d -m 755 $(NGX_MODULES_ENABLED) && \
	    rm -f $(NGX_MODULES_ENABLED)/$(MODULE_LINK).removed && \
	    ln -sf $(NGX_MODULES_AVAILABLE)/$(MODULE_CONF) $(NGX_MODULES_ENABLED)/$(MODULE_LINK) && \
	    echo "enabled: $(NGX_MODULES_ENABLED)/$(MODULE_LINK); now \`nginx -t && systemctl reload nginx\`"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(NGX_MODULES_ENABLED)/$(MODULE_LINK) \
	    $(DESTDIR)$(NGX_MODULES_ENABLED)/$(MODULE_LINK).removed \
	    $(DESTDIR)$(NGX_MODULES_AVAILABLE)/$(MODULE_CONF) \
	    $(DESTDIR)$(NGX_MODULES_DIR)/$(MODULE_SO)
	@if [ -z "$(DESTDIR)" ]; then \
	    echo "removed; a location still saying git_smart_http now fails \`nginx -t\`"; fi

# make deb: the binary package libnginx-mod-http-git-smart-http in build/deb/,
# made by dpkg-buildpackage and debhelper (dh_nginx) from packaging/debian,
# then checked by lintian. The module is built here first, outside
# dpkg-buildpackage's environment, so the package holds exactly what `make`
# builds; the package's build step finds it up to date.
# The package's version: VERSION, then +r<commits>.<commit> when built from
# a git checkout (rising with the history, short enough for lintian's file
# name length check), Debian revision 1.
VERSION := 0.1.0
DEB_BUILD := $(ROOT)/build/deb
DEB_PACKAGE := libnginx-mod-http-git-smart-http
GIT_HEAD_TIME = $(shell git -C $(ROOT) log -1 --format=%ct 2>/dev/null)
DEB_VERSION ?= $(VERSION)$(if $(GIT_HEAD_TIME),+r$(shell git -C $(ROOT) rev-list --count HEAD).$(shell git -C $(ROOT) rev-parse --short=7 HEAD))-1
DEB_DATE = $(shell date -R -u $(if $(GIT_HEAD_TIME),-d @$(GIT_HEAD_TIME)))
DEB_MAINTAINER = $(shell sed -n 's/^Maintainer: //p' packaging/debian/control)
# lintian must report no error and no warning. Left out: initial-upload-closes-no-bugs
# (a first upload to Debian closes its ITP bug; this package is not
# uploaded to Debian). Its info-level tags are not failures:
# hardening-no-bindnow and hardening-no-fortify-functions, because the
# module is compiled and linked with the project's CXXFLAGS and the flags of
# the stock nginx's configure (/usr/share/nginx/src/conf_flags), not with
# dpkg-buildflags, so that the package holds the very module `make` builds
# and the tests load.
LINTIAN_SUPPRESS := initial-upload-closes-no-bugs

deb: deps-deb
	@if [ "$(SANITIZE)" = 1 ]; then echo "make deb: not a SANITIZE=1 build" >&2; exit 1; fi
	$(MAKE) all
	rm -rf $(DEB_BUILD) && mkdir -p $(DEB_BUILD)/src
	cp -r packaging/debian $(DEB_BUILD)/src/debian
	printf '%s\n' '$(DEB_PACKAGE) ($(DEB_VERSION)) bookworm; urgency=medium' '' \
	    '  * Built by make deb from the project tree.' '' \
	    ' -- $(DEB_MAINTAINER)  $(DEB_DATE)' >$(DEB_BUILD)/src/debian/changelog
	+cd $(DEB_BUILD)/src && GSH_TOP=$(ROOT) dpkg-buildpackage -b -uc -us >../build.log 2>&1 \
	    || { tail -40 ../build.log; echo "make deb: dpkg-buildpackage failed (log: $(DEB_BUILD)/build.log)"; exit 1; }
	@cd $(DEB_BUILD) && ls -1 *.deb
	lintian --fail-on error,warning --suppress-tags $(LINTIAN_SUPPRESS) \
	    $(DEB_BUILD)/$(DEB_PACKAGE)_$(DEB_VERSION)_*.changes

format:
	clang-format -i $$(find src tests/unit tests/fuzz -name '*.cpp' -o -name '*.h') \
	    ngx_module/*.c ngx_module/*.h

clean:
	rm -rf $(ROOT)/build

-include $(CORE_OBJS:.o=.d) $(UNIT_OBJS:.o=.d) $(FUZZ_CORE_OBJS:.o=.d) $(FUZZ_BINS:=.d) \
    $(FUZZ_BUILD)/module/ngx_http_git_smart_http_route.d
