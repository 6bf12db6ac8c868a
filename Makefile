# pyhost: one entry point. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Python to embed. Everything below derives from it, so the libpython
# the engine links (and loads, through its rpath) is this Python's.
PYTHON ?= python3
PYTHON_BASE := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
PYTHON_VERSION := $(shell $(PYTHON_BASE) -c 'import platform; print(platform.python_version())')
PYTHON_LIBDIR := $(shell $(PYTHON_BASE) -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')

VENV := $(CURDIR)/.venv
VENV_PY := $(VENV)/bin/python
TOOLS := $(CURDIR)/.tools
CBINDGEN_VERSION := 0.29.4
CBINDGEN := $(TOOLS)/bin/cbindgen
RELEASE := $(CURDIR)/target/release
GO ?= go
LISTEN := $(shell sed -n 's/^listen: *//p' config/pyhost.yaml)

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
PREFIX ?= /usr/local

export PYO3_PYTHON := $(PYTHON_BASE)
# Thread-locals through TLS descriptors on x86-64, where rustc's LLVM can:
# a dlopened library otherwise reaches each one through a call to
# __tls_get_addr, and the engine's accounting reads one on every Python
# allocation (about 2% of a submission-heavy check run).
ifeq ($(shell uname -m),x86_64)
TLSDESC := $(shell d=$$(mktemp -d) && echo 'fn main() {}' > $$d/t.rs && \
  rustc -C llvm-args=-enable-tlsdesc --emit=obj -o $$d/t.o $$d/t.rs 2>/dev/null && echo yes; rm -rf $$d)
ifeq ($(TLSDESC),yes)
export CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS := -C llvm-args=-enable-tlsdesc
endif
endif
# cgo finds the library through pkg-config (pyhost.pc); in this checkout,
# the one `make rust` writes for the library it built.
PKGCONFIG_DIR := $(CURDIR)/target/pkgconfig
export PKG_CONFIG_PATH := $(PKGCONFIG_DIR)$(if $(PKG_CONFIG_PATH),:$(PKG_CONFIG_PATH),)
# Go's build cache keys a cgo package on CGO_CFLAGS but not on what
# pkg-config says, nor on the library's contents: the library's hash in
# CGO_CFLAGS (expanded per command, after `rust` has built it) makes Go
# rebuild and relink when the library changes. (-O2 -g is cgo's default.)
export CGO_CFLAGS = -O2 -g -DPYHOST_LIBRARY_ID=$(shell sha256sum $(RELEASE)/libpyhost_core.a 2>/dev/null | cut -c1-16)
# Recorded in the engine at build time: the Python it runs when the host
# names none (the venv below, with the SDK's test tools and the pinned
# datadog-checks-base), so the agent and any Go program work from a plain
# shell. $$PYHOST_PYTHON or python.executable override it at run time.
export PYHOST_DEFAULT_PYTHON := $(VENV_PY)
# The SDK's modules, for the engine's build script, which embeds them: adding
# or removing one re-embeds the SDK (edits reach it through include_str!). A
# list, not a watch on the folder: the .pyc files Python and pytest write
# there would rebuild the engine.
export PYHOST_SDK_MODULES := $(shell cd python-sdk/src && find pyhost -name '*.py' | LC_ALL=C sort | tr '\n' ' ')
# What the tests check the embedded interpreter is.
export PYHOST_EXPECT_EXECUTABLE := $(VENV_PY)
export PYHOST_EXPECT_VERSION := $(PYTHON_VERSION)
export PYHOST_EXPECT_LIBDIR := $(PYTHON_LIBDIR)

.PHONY: help all run build rust agent venv tools prometheus pkgconf install header check-header fmt lint \
        test test-rust test-go test-stress test-python test-e2e bench bench-compare fuzz soak clean demo-glupy \
        compare-run bench-report

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

all: fmt lint test ## Format, lint and test

run: build ## Build everything and run the agent on config/pyhost.yaml (the example checks) until Ctrl-C
	@echo "pyhost-agent: status page http://$(LISTEN)/  metrics http://$(LISTEN)/metrics  (Ctrl-C stops)"
	$(CURDIR)/bin/pyhost-agent run --config config/pyhost.yaml

build: rust agent ## Build the library, the engine and bin/pyhost-agent

$(VENV_PY):
	$(PYTHON_BASE) -m venv $(VENV)
	$(VENV_PY) -m pip install --quiet --upgrade pip

venv: $(VENV)/.installed ## Create .venv with the SDK (editable), datadog-checks-base, pytest, mypy, ruff, msgpack and matplotlib
$(VENV)/.installed: $(VENV_PY) python-sdk/pyproject.toml requirements/datadog-checks.txt requirements/bench.txt
	$(VENV_PY) -m pip install --quiet -e 'python-sdk[test]' 'ruff==0.17.6' -r requirements/datadog-checks.txt -r requirements/bench.txt
	touch $@

tools: $(CBINDGEN) ## Install the pinned cbindgen into .tools
$(CBINDGEN):
	cargo install --quiet --locked --root $(TOOLS) cbindgen --version $(CBINDGEN_VERSION)

prometheus: ## Install the Prometheus server (Debian package) for the end-to-end tests
	@command -v prometheus >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
	@prometheus --version 2>&1 | head -n 1

pkgconf: ## Install pkg-config (Debian package) if missing: cgo finds the library through it
	@command -v pkg-config >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends pkgconf >/dev/null; }

rust: venv pkgconf ## Build the static library and the engine (and target/pkgconfig/pyhost.pc for them)
	cargo build --release --workspace
	mkdir -p $(PKGCONFIG_DIR)
	tools/pyhost-pc.sh $(CURDIR) $(RELEASE) $(CURDIR)/rust-core/include $(VERSION) > $(PKGCONFIG_DIR)/pyhost.pc

# The static library installed records where its engine is (PREFIX/lib), so
# it is built again for PREFIX, in a target directory of its own.
install: rust ## Install the header, static library, engine, SDK and lib/pkgconfig/pyhost.pc under PREFIX (default /usr/local)
	PYHOST_DEFAULT_ENGINE=$(PREFIX)/lib/libpyhost_engine.so CARGO_TARGET_DIR=$(CURDIR)/target/install \
	  cargo build --release -p pyhost-core
	install -d $(PREFIX)/lib/pkgconfig $(PREFIX)/include $(PREFIX)/share/pyhost
	install -m 644 target/install/release/libpyhost_core.a $(PREFIX)/lib/
	install -m 755 $(RELEASE)/libpyhost_engine.so $(PREFIX)/lib/
	install -m 644 rust-core/include/pyhost.h $(PREFIX)/include/
	rm -rf $(PREFIX)/share/pyhost/python-sdk
	cp -r python-sdk $(PREFIX)/share/pyhost/python-sdk
	find $(PREFIX)/share/pyhost/python-sdk -name __pycache__ -prune -exec rm -rf {} +
	tools/pyhost-pc.sh $(PREFIX) $(PREFIX)/lib $(PREFIX)/include $(VERSION) > $(PREFIX)/lib/pkgconfig/pyhost.pc
	@echo "installed pyhost $(VERSION) under $(PREFIX); Go programs: PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig"

agent: rust ## Build bin/pyhost-agent
	cd go-shim && $(GO) build -o $(CURDIR)/bin/pyhost-agent ./cmd/pyhost-agent

header: tools ## Regenerate rust-core/include/pyhost.h
	cd rust-core && $(CBINDGEN) --quiet --config cbindgen.toml --crate pyhost-core --output include/pyhost.h

check-header: tools ## Fail if the checked-in header differs from a fresh one
	cd rust-core && $(CBINDGEN) --quiet --config cbindgen.toml --crate pyhost-core --output $(CURDIR)/target/pyhost.h.fresh
	@diff -u rust-core/include/pyhost.h target/pyhost.h.fresh \
	  || { echo "pyhost.h is stale: run 'make header' and commit it"; exit 1; }

fmt: venv ## Format Rust, Go and Python sources
	cargo fmt --all
	cd go-shim && gofmt -w .
	cd examples/glupy && gofmt -w .
	cd bench/compare && gofmt -w .
	$(VENV)/bin/ruff format python-sdk go-shim/testdata tests tools examples bench

lint: rust ## cargo fmt --check, clippy -D warnings, go vet, gofmt, ruff, mypy --strict, the engine's layering
	cargo fmt --all -- --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cd go-shim && test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	cd go-shim && $(GO) vet ./...
	cd examples/glupy && test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	cd examples/glupy && $(GO) vet ./...
	cd bench/compare && test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	cd bench/compare && $(GO) vet ./...
	$(VENV)/bin/ruff check python-sdk go-shim/testdata tests tools examples bench
	$(VENV)/bin/ruff format --check python-sdk go-shim/testdata tests tools examples bench
	cd python-sdk && $(VENV)/bin/mypy --strict src
	$(VENV_PY) tools/check_layers.py

test: lint check-header test-rust test-python test-go test-stress test-e2e ## Everything CI runs

test-rust: rust ## Rust unit and integration tests
	cargo test --release --workspace

test-python: venv ## The SDK and example checks with plain pytest (no agent)
	$(VENV)/bin/pytest -q python-sdk

test-go: rust ## Go tests with the race detector (the glupy demo's and the comparison's included)
	cd go-shim && $(GO) test -race -count=1 ./...
	cd examples/glupy && $(GO) test -race -count=1 ./...
	cd bench/compare && $(GO) test -race -count=1 .

demo-glupy: rust ## The glupy demo: a Python negative-lookup cache as hooks on a Go lookup service (vanilla vs cached)
	cd examples/glupy && $(GO) run .

test-stress: rust ## 64 goroutines x 10,000 mixed calls and 1,000 start/close cycles, with -race, GOGC=1 and cgocheck2
	cd go-shim && GOGC=1 GOEXPERIMENT=cgocheck2 PYHOST_STRESS_ITERATIONS=10000 \
	  $(GO) test -race -count=1 -timeout 30m -run 'Stress' -v . 2>&1 | tail -n 20; exit $${PIPESTATUS[0]}

# 1,000 instances at 1 s for SOAKTIME after a 20 s warm-up (110 s: over
# 100,000 runs); the figures go to target/soak/results.json.
SOAKTIME ?= 110s
soak: rust ## Soak: 1,000 instances at 1 s for SOAKTIME; RSS, threads, skips and errors must stay flat
	cd go-shim && PYHOST_SOAK_REPORT=$(CURDIR)/target/soak/results.json \
	  $(GO) test -count=1 -timeout 30m -run '^TestSoak$$' -v ./internal/agent -soak $(SOAKTIME) 2>&1 | tail -n 5; \
	  exit $${PIPESTATUS[0]}

# Each Go fuzz target for FUZZTIME; the Rust property tests (proptest) run in
# test-rust too, here with more cases.
FUZZTIME ?= 30s
GO_FUZZ := .:FuzzDecodeBatch .:FuzzCheckID .:FuzzFunctionCallJSON .:FuzzDecodeValue \
  ./internal/capi:FuzzCallFunction ./internal/capi:FuzzInvokeFunction \
  ./internal/agent/config:FuzzLoad ./internal/agent/config:FuzzLoadChecks
fuzz: rust ## Run every fuzz target for FUZZTIME (default 30s) and the property tests with 10,000 cases
	cd go-shim && for t in $(GO_FUZZ); do \
	  $(GO) test -run '^$$' -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10x $${t%%:*} || exit 1; done
	PROPTEST_CASES=10000 cargo test --release -p pyhost-abi --test batch_properties --test value_properties

test-e2e: build prometheus ## Cross-language tests: the built agent running real checks, scraped by a real Prometheus
	$(VENV)/bin/pytest -q tests

# Five rounds of every benchmark once, rather than -count 5 (which runs each
# benchmark five times in a row): a subject and its floor are then measured
# seconds apart, and the report pairs them per round.
bench: rust ## Benchmarks (5 rounds); writes target/bench/results.json and docs/benchmarks.md
	mkdir -p target/bench
	: > $(CURDIR)/target/bench/raw.txt
	cd go-shim && for round in 1 2 3 4 5; do \
	  $(GO) test -run '^$$' -bench . -count 1 -timeout 60m . | tee -a $(CURDIR)/target/bench/raw.txt; \
	  test $${PIPESTATUS[0]} = 0 || exit 1; \
	  $(GO) test -run '^$$' -bench '^Benchmark(Submit|SubmitFloor|SubmitNewResult|SubmitPerMetricCallback|RunTrivial|Allocate|HookDispatchPaired)$$' \
	    -count 1 . -args -accounting=off | tee -a $(CURDIR)/target/bench/raw.txt; \
	  test $${PIPESTATUS[0]} = 0 || exit 1; \
	  $(GO) test -run '^$$' -bench AccountingPaired -benchtime 3s ./internal/accountingbench | tee -a $(CURDIR)/target/bench/raw.txt; \
	  test $${PIPESTATUS[0]} = 0 || exit 1; done
	set -o pipefail; cd go-shim && $(GO) test -run '^$$' -bench 'Scrape100k' -benchtime 10x -count 5 ./internal/agent/aggregate | tee -a $(CURDIR)/target/bench/raw.txt
	set -o pipefail; cd go-shim && $(GO) test -run '^$$' -bench 'Agent1000' -benchtime 1x -count 5 -timeout 30m ./internal/agent | tee -a $(CURDIR)/target/bench/raw.txt
	set -o pipefail; cd go-shim && $(GO) test -run '^$$' -bench 'AgentScaling' -benchtime 1x -count 1 -timeout 30m ./internal/agent \
	  -args -scaling-report $(CURDIR)/target/bench/scaling.json | tee -a $(CURDIR)/target/bench/raw.txt
	set -o pipefail; cd go-shim && $(GO) test -run '^$$' -bench 'ModuleCommandHTTP' -count 5 ./internal/agent | tee -a $(CURDIR)/target/bench/raw.txt
	set -o pipefail; cd go-shim && $(GO) test -run '^$$' -bench . -count 5 ./modules | tee -a $(CURDIR)/target/bench/raw.txt
	set -o pipefail; cd examples/glupy && $(GO) test -run '^$$' -bench . -count 5 | tee -a $(CURDIR)/target/bench/raw.txt
	$(MAKE) --no-print-directory compare-run
	$(MAKE) --no-print-directory bench-report

# The three ways compared: the same workloads as a Go function, through
# pyhost, and in a Python worker process over a Unix socket (msgpack).
bench-compare: rust ## The comparison: Go vs pyhost vs a Python RPC worker, 1/8/64 callers; plots in docs/compare/
	$(MAKE) --no-print-directory compare-run
	@if [ -s target/bench/raw.txt ]; then $(MAKE) --no-print-directory bench-report; fi

compare-run:
	mkdir -p target/bench
	cd bench/compare && $(GO) run . -python $(VENV_PY) -out $(CURDIR)/target/bench/compare.json
	$(VENV_PY) bench/compare/plot.py target/bench/compare.json docs/compare target/bench/scaling.json

bench-report:
	cd go-shim && $(GO) run ./internal/benchreport -in $(CURDIR)/target/bench/raw.txt \
	  -compare $(CURDIR)/target/bench/compare.json \
	  -json $(CURDIR)/target/bench/results.json -md $(CURDIR)/docs/benchmarks.md -cmd "make bench"

clean: ## Remove build outputs (keeps .venv and .tools)
	cargo clean
	rm -rf bin
