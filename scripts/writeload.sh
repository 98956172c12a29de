#!/usr/bin/env bash
# make loadtest (second part): acknowledged durable writes per second
# against the real irisd over HTTP, with group commit (the default) and with
# one fsync per write (-group-commit=false), one after the other in the same
# run, at 1, 8 and 32 concurrent writers (wrk connections). Each write is a
# PUT /samples/{id} over ids 1..150 (the set keeps its size, so compaction
# costs the same in both modes); irisd runs with -data-dir on the disk of
# this checkout (not a tmpfs, where fsync is free) and the access log off.
# Only 2xx answers count. A third run per writer count, without -data-dir
# (no journal, no fsync: the same PUTs in memory), is the reference the
# other two are bounded by: the HTTP stack's own ceiling for these writes on
# this machine, and its ratio the best group commit could show here.
#
# Environment: DURATION (per run, default 5s), WRITERS (default "1 8 32"),
# ROUNDS (default 1: with more, the modes take turns round after round, so
# that a noisy neighbour shifts them alike, and the median ratio of each is
# printed at the end), WALDIR (parent of the data dirs; default this
# checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
DURATION=${DURATION:-5s}
WRITERS=${WRITERS:-"1 8 32"}
ROUNDS=${ROUNDS:-1}

if ! command -v wrk >/dev/null 2>&1; then
	echo "== wrk not found: installing it (Debian package wrk)"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d -p "${WALDIR:-$PWD}" .writeload.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building irisd"
CGO_ENABLED=0 go build -trimpath -o "$work/irisd" ./cmd/irisd
cat >"$work/put.lua" <<'LUA'
local n = 0
request = function()
	n = n + 1
	local id = n % 150 + 1
	local body = string.format('{"features":[5.1,3.5,1.4,%.1f],"species":"setosa"}', (n % 20) / 10 + 0.1)
	return wrk.format("PUT", "/samples/" .. id, {["Content-Type"] = "application/json"}, body)
end
LUA

# start GROUP: starts irisd on a fresh data dir (GROUP=memory: none) and
# sets ADDR.
start() {
	local dir="$work/data-$1-$RANDOM" log="$work/irisd.log"
	if [ "$1" = memory ]; then
		serve "$log" "$work/irisd" -addr 127.0.0.1:0 -grpc-addr off -log-level warn
	else
		serve "$log" "$work/irisd" -addr 127.0.0.1:0 -grpc-addr off -data-dir "$dir" -group-commit="$1" -log-level warn
	fi
	pid=$PID
}

# measure CONNS: prints acknowledged writes/s and p50/p99 in ms.
measure() {
	local out secs ok bad
	out=$(wrk -t1 -c"$1" -d"$DURATION" --latency -s "$work/put.lua" "http://$ADDR/")
	bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	secs=$(echo "$out" | awk '/requests in/ {sub(/s,$/, "", $4); print $4}')
	ok=$(echo "$out" | awk -v bad="${bad:-0}" -v secs="$secs" '/requests in/ {printf "%.0f", ($1-bad)/secs}')
	echo "$ok $(echo "$out" | awk '$1=="50%" {print $2}') $(echo "$out" | awk '$1=="99%" {print $2}') ${bad:-0}"
}

echo "== durable writes: wrk -t1 -d$DURATION PUT /samples/{id}; irisd -data-dir (on $(df -T "$work" | awk 'NR==2 {print $2}')); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-8s %-16s %10s %10s %10s %8s\n" round writers mode writes/s p50 p99 ratio
ratios=""
for round in $(seq "$ROUNDS"); do
	for w in $WRITERS; do
		declare -A rate=()
		for group in false true memory; do
			start "$group"
			read -r ok p50 p99 bad < <(measure "$w")
			kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
			[ "$bad" != 0 ] && { echo "irisd answered $bad writes with non-2xx"; exit 1; }
			rate[$group]=$ok
			mode=fsync-per-write
			[ "$group" = true ] && mode=group-commit
			[ "$group" = memory ] && mode="memory(ref)"
			ratio=""
			if [ "$group" != false ]; then
				ratio=$(awk -v a="$ok" -v b="${rate[false]}" 'BEGIN{printf "%.1fx", a/b}')
				ratios+="$w $mode ${ratio%x}"$'\n'
			fi
			printf "%-6s %-8s %-16s %10s %10s %10s %8s\n" "$round" "$w" "$mode" "$ok" "$p50" "$p99" "$ratio"
		done
	done
done
if [ "$ROUNDS" -gt 1 ]; then
	echo "== median ratio over $ROUNDS rounds (min-max)"
	for w in $WRITERS; do
		for mode in group-commit "memory(ref)"; do
			printf '%s' "$ratios" | awk -v w="$w" -v m="$mode" '$1==w && $2==m {print $3}' | sort -n |
				awk -v w="$w" -v m="$mode" '{v[NR]=$1} END {med = NR%2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "%-8s %-16s %.1fx (%.1f-%.1f)\n", w, m, med, v[1], v[NR]}'
		done
	done
fi
echo "ratio = writes/s / fsync-per-write writes/s at the same writers (group commit: target >= 10x at 32;"
echo "memory (ref): the same PUTs without -data-dir, no journal at all: the most any durable mode can reach here)"
