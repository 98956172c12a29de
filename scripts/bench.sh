#!/usr/bin/env bash
# make bench: runs the benchmarks of the KNN index (N = 150, 10k, 100k,
# 1M), the snapshot write path and the predict-body decoder, and prints
# them as one table. Every benchmark checks its result before timing.
#
# Then, when BenchmarkShapes ran (d = 4, 8, 13, 30, 64 at N = 150 to 1M),
# it times scikit-learn's KNeighborsClassifier (kd_tree and brute, Debian's
# python3-sklearn) on the very points and queries the Go benchmark wrote,
# checks that it finds the same neighbours, and prints both side by side.
#
# Environment: BENCH (regexp, default all), BENCHTIME (default 1s),
# COUNT (default 1), SHORT=1 (skip the 1M sizes; BenchmarkShapes stops at
# 10k), SKLEARN_SECONDS (time per scikit-learn measurement, default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
BENCH=${BENCH:-.}
BENCHTIME=${BENCHTIME:-1s}
COUNT=${COUNT:-1}
short=()
[ -n "${SHORT:-}" ] && short=(-short)

out=$(mktemp)
shapes=$(mktemp -d)
trap 'rm -rf "$out" "$shapes"' EXIT
echo "== go test -run '^\$' -bench '$BENCH' -benchmem -benchtime $BENCHTIME -count $COUNT ${short[*]:-} (load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs)"
KNN_SHAPES_DIR=$shapes go test -run '^$' -bench "$BENCH" -benchmem -benchtime "$BENCHTIME" -count "$COUNT" "${short[@]}" \
	./internal/knn ./internal/dataset ./internal/httpapi ./internal/wal | tee "$out" | grep -E '^(FAIL|panic|---)' || true
grep -q '^FAIL' "$out" && { cat "$out"; exit 1; }

# One row per benchmark line: the name, then every "value unit" pair.
awk '
/^Benchmark/ {
	name = $1; sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
	row = sprintf("%-44s", name)
	for (i = 3; i < NF; i += 2) {
		v = $i; u = $(i+1)
		if (u == "ns/op") key = "ns/op"
		else key = u
		vals[key] = v
	}
	printf "%-44s %12s %12s %10s %10s %10s %12s %12s %9s %10s %8s\n", name, vals["ns/op"], vals["cpu-ns/op"], vals["p50-ns"], vals["p99-ns"], vals["allocs/op"], vals["rows/s"], vals["rows/cpu-s"], vals["B/point"], vals["writes/s"], vals["fsyncs/write"]
	delete vals
}
BEGIN {
	printf "%-44s %12s %12s %10s %10s %10s %12s %12s %9s %10s %8s\n", "benchmark", "ns/op", "cpu-ns/op", "p50-ns", "p99-ns", "allocs/op", "rows/s", "rows/cpu-s", "B/point", "writes/s", "fsync/w"
}' "$out"
echo "cpu-ns/op: CPU time of the benchmark thread per op (time waiting for a core on a shared machine not counted);"
echo "rows/s: wall clock on all CPUs; rows/cpu-s: rows per CPU-second times GOMAXPROCS (what all CPUs would do if not shared)"

# scikit-learn on the same data as BenchmarkShapes (its sets are in $shapes).
if ls "$shapes"/*.points >/dev/null 2>&1; then
	if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
		echo
		/usr/bin/python3 scripts/bench_sklearn.py "$shapes" "$out" "${SKLEARN_SECONDS:-1}"
	elif [ -n "${CI:-}" ]; then
		echo "scikit-learn is missing (scripts/ensure-deps.sh installs python3-sklearn)"; exit 1
	else
		echo "(no scikit-learn comparison: /usr/bin/python3 cannot import sklearn; apt-get install python3-sklearn)"
	fi
fi
