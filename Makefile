# cygnet: `make demo` shows ESP over a real kernel, `make test` runs everything CI runs.
# Both need a Debian-family Linux host; scripts/deps.sh installs the packages (as root) on first use.

SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: all build test demo demo-pair bench deps fmt vet fuzz install clean

all: build

# A static binary: nodes get one file, no C library to match.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/cygnet ./cmd/cygnet

# Phases, their durations and a summary line: see scripts/test.sh.
test:
	scripts/test.sh

# The cluster story on a real kernel, inside a stock Debian kernel under qemu (internal/vm):
# 4 nodes form a cluster, enable, a 5th joins, kill -9, remove, disable (internal/e2e TestCluster).
demo: deps
	CYGNET_VM=1 CYGNET_REQUIRE_VM=1 $(GO) test -count=1 -v -timeout 30m -run "^TestCluster$$" ./internal/e2e/

# The single-pair daemon demo: moon and sun from strongSwan-style files.
demo-pair: deps
	CYGNET_VM=1 CYGNET_REQUIRE_VM=1 $(GO) test -count=1 -v -timeout 30m -run "^TestDaemonDemo$$" ./internal/e2e/

# cygnet against strongSwan's charon, side by side in one guest (internal/e2e TestSideBySide): setup
# rate, latency, responder CPU and RSS per SA, ratios; make test runs it with 60 SAs per run.
BENCH_N ?= 400
bench: deps
	CYGNET_VM=1 CYGNET_REQUIRE_VM=1 CYGNET_BENCH_N=$(BENCH_N) $(GO) test -count=1 -v -timeout 60m -run "^TestSideBySide$$" ./internal/e2e/

deps:
	scripts/deps.sh

fmt:
	find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './bin/*' | xargs -r gofmt -w

vet:
	$(GO) vet ./...

fuzz:
	scripts/fuzz.sh

# The binary, `ipsec`/`strongswan` links and systemd units (see scripts/install.sh; DESTDIR, FORCE=1).
install: build
	scripts/install.sh

clean:
	rm -rf bin
