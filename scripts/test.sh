#!/usr/bin/env bash
# The whole test suite, as `make test` runs it (also CI's .ci/run):
#   deps     scripts/deps.sh: Debian packages the tests need
#   fmt      gofmt: every .go file formatted
#   vet      go vet ./...
#   build    static bin/cygnet; ike/... built and vetted for GOOS=darwin (the engine builds on every GOOS)
#   host     go test -race ./... on this machine's kernel; root-only tests must run (CYGNET_REQUIRE_ROOT=1),
#            tests that need ESP skip here (this kernel may lack it)
#   vm       packages whose tests call vmtest.Main, run again inside a stock Debian kernel under qemu
#            (CYGNET_VM=1), where tests that need ESP must pass (CYGNET_REQUIRE_VM=1)
#   dos      the 100,000 spoofed IKE_SA_INIT flood and half-open memory without -race, printing the numbers
#   norace   the tests that skip under -race (esp's zero allocations per packet), which must pass here
#   fuzz     every fuzz target for FUZZTIME (5s)
# Prints each phase's duration and ends with one summary line. Stops at the first failing phase.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

summary=()
suite_start=$(date +%s)

phase() {
	local name=$1
	shift
	local start rc
	start=$(date +%s)
	echo "=== $name"
	"$@"
	rc=$?
	local d=$(($(date +%s) - start))
	if [ $rc -ne 0 ]; then
		echo "=== $name FAILED after ${d}s"
		summary+=("$name FAILED ${d}s")
		echo "make test: FAIL in phase $name; phases: ${summary[*]}; total $(($(date +%s) - suite_start))s"
		exit 1
	fi
	echo "=== $name ok (${d}s)"
	summary+=("$name ${d}s")
}

go_files() { find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -not -path './bin/*'; }

check_fmt() {
	local bad
	bad=$(go_files | xargs -r gofmt -l)
	if [ -n "$bad" ]; then
		echo "gofmt: these files need formatting (run make fmt):"
		echo "$bad"
		return 1
	fi
}

# Packages with tests that run in the guest: those whose TestMain calls vmtest.Main.
vm_packages() {
	grep -rl --include='*_test.go' 'vmtest\.Main(' . | grep -v '/testdata/' | xargs -r -n1 dirname | sort -u
}

# build_all: the static binary, then the engine for a kernel without XFRM (issue 13: ike builds on every
# GOOS; vet compiles its tests too).
build_all() {
	make --no-print-directory build && GOOS=darwin go build ./ike/... && GOOS=darwin go vet ./ike/...
}

host_tests() {
	# CYGNET_VM=0: this pass is the host's, even if the caller exported CYGNET_VM=1.
	local log rc
	log=$(mktemp)
	CYGNET_VM=0 CYGNET_REQUIRE_ROOT=1 go test -race -count=1 -timeout 20m ./... 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	if [ "$rc" -ne 0 ]; then
		race_trailer "$log"
	fi
	rm -f "$log"
	return "$rc"
}

# race_trailer repeats the first data race report of a failed run at its end: a CI record often keeps
# only the tail, where the report's first half (the two conflicting accesses) is long gone.
race_trailer() {
	local first
	first=$(awk '/^WARNING: DATA RACE/{on=1} on{print; n++} on&&/^==================/&&n>1{exit}' "$1" | head -120)
	if [ -n "$first" ]; then
		echo "--- the first data race report again:"
		echo "$first"
	fi
}

vm_tests() {
	local pkgs
	mapfile -t pkgs < <(vm_packages)
	if [ ${#pkgs[@]} -eq 0 ]; then
		echo "no package calls vmtest.Main"
		return 0
	fi
	echo "in the guest: ${pkgs[*]}"
	# -p 1: one guest at a time, so each gets both CPUs and timing-sensitive exchanges are not starved.
	local report log rc
	report=$(mktemp)
	log=$(mktemp)
	# -v because go test shows a passing package's output (the interop tables with each case's result,
	# duration and the peer versions) only then; on success just those lines and each package's ok line
	# are printed, on failure everything.
	CYGNET_VM=1 CYGNET_REQUIRE_VM=1 CYGNET_VM_REPORT=$report go test -v -count=1 -p 1 -timeout 30m "${pkgs[@]}" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		grep -E '^(ok|== |\|[ -]|cygnet: |strongswan: |libreswan: |[0-9]+ of [0-9]+ passed)' "$log"
	else
		cat "$log"
		race_trailer "$log"
	fi
	cat "$report"
	rm -f "$report" "$log"
	return $rc
}

# dos_numbers reruns the denial-of-service measurements without the race
# detector (the host phase already ran them under it) and prints their lines.
dos_numbers() {
	# One process each, so that one's heap does not show in the other's peak.
	local t out rc
	for t in TestFloodUDP TestHalfOpenMemory; do
		out=$(CYGNET_VM=0 CYGNET_REQUIRE_ROOT=1 go test -count=1 -run "^$t\$" -v ./ike/ 2>&1)
		rc=$?
		grep -E 'flood:|flood details:|half-open SA|^(ok|FAIL|--- FAIL)' <<<"$out"
		if [ $rc -ne 0 ]; then
			echo "$out" | tail -50
			return $rc
		fi
		# A renamed or skipped test would pass the go test above without running.
		if ! grep -q "^--- PASS: $t " <<<"$out"; then
			echo "dos: $t did not run:"
			echo "$out" | tail -20
			return 1
		fi
	done
}

# norace_tests runs the tests that skip under the race detector, which the host phase ran them with
# (testing.AllocsPerRun counts nothing useful there: sync.Pool drops items on purpose), as PACKAGE:TEST,
# and fails unless each one passed.
norace_tests() {
	local pt pkg t out rc
	for pt in ./esp:TestAllocations; do
		pkg=${pt%%:*} t=${pt#*:}
		out=$(go test -count=1 -run "^$t\$" -v "$pkg" 2>&1)
		rc=$?
		grep -E '^(--- |ok|FAIL)' <<<"$out"
		if [ $rc -ne 0 ] || ! grep -q "^--- PASS: $t " <<<"$out"; then
			echo "norace: $pkg $t did not pass:"
			echo "$out" | tail -20
			return 1
		fi
	done
}

phase deps scripts/deps.sh
phase fmt check_fmt
phase vet go vet ./...
phase build build_all
phase host host_tests
phase vm vm_tests
phase dos dos_numbers
phase norace norace_tests
phase fuzz scripts/fuzz.sh
echo "make test: PASS; phases: ${summary[*]}; total $(($(date +%s) - suite_start))s"
