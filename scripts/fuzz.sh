#!/usr/bin/env bash
# Runs every Go fuzz target in the repository for a short while: FUZZTIME per target (default 5s).
# Targets are found by grepping *_test.go for `func FuzzXxx(`, so new ones join automatically.
# Exits non-zero if any target fails; a failing input is saved by go test under the package's
# testdata/fuzz/FuzzXxx/ and reproduces with a plain `go test`.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-5s}

mapfile -t targets < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(' . |
	grep -v '/testdata/' | sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]+)\($#\1 \2#' | sort -u)

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets"
	exit 0
fi
failed=()
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	start=$(date +%s)
	if out=$(go test -run='^$' -fuzz="^${name}\$" -fuzztime="$fuzztime" "$dir" 2>&1); then
		echo "fuzz: ok   $dir $name ($(($(date +%s) - start))s)"
	else
		echo "fuzz: FAIL $dir $name"
		echo "$out" | tail -40
		failed+=("$dir $name")
	fi
done
echo "fuzz: ${#targets[@]} targets, ${#failed[@]} failed"
[ ${#failed[@]} -eq 0 ]
