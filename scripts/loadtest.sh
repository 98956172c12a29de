#!/usr/bin/env bash
# make loadtest: drives the real irisd and the bare ceiling server
# (cmd/ceiling) with wrk, one after the other in the same run, and prints
# req/s, rows/s, p50, p99 and irisd's ratio to the ceiling.
#
# Loads: single predictions and 100-row batches; wrk with 1 thread and 32
# connections; each server with its default GOMAXPROCS and with
# GOMAXPROCS=1 (the load generator takes most of a core on a 2-core box).
# irisd runs with its default configuration, access log on (to a file).
#
# Then one 10,000-row batch as OIP binary FP32 against the same rows as
# JSON /predict (scripts/oipload): server CPU per row, rows/s, the ratio.
#
# Environment: DURATION (per run, default 10s), CONNS (32), THREADS (1),
# ROUNDS (1: repeat the whole comparison to see the drift), DATA (a -data
# CSV for irisd; default the embedded Iris set), SERVERS (procs settings,
# default "default 1"), REVS (git revisions: measure irisd as built at each
# of them, in turn in the same run, instead of this tree's; "before and
# after" of a change, e.g. REVS="163253d e049470").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-32}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-1}
PROCS=${SERVERS:-"default 1"}

if ! command -v wrk >/dev/null 2>&1; then
	echo "== wrk not found: installing it (Debian package wrk)"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	$SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building irisd and ceiling"
CGO_ENABLED=0 go build -trimpath -o "$work/ceiling" ./cmd/ceiling
# servers: the irisd builds to measure, as name=binary.
servers=()
if [ -n "${REVS:-}" ]; then
	for rev in $REVS; do
		src="$work/src-$rev"
		git worktree add -q --detach "$src" "$rev"
		(cd "$src" && CGO_ENABLED=0 go build -trimpath -o "$work/irisd-$rev" ./cmd/irisd)
		git worktree remove --force "$src"
		servers+=("$rev=$work/irisd-$rev")
	done
else
	CGO_ENABLED=0 go build -trimpath -o "$work/irisd" ./cmd/irisd
	servers+=("irisd=$work/irisd")
fi

# Request bodies: one Iris flower; 100 rows of Iris flowers.
single='{"features":[5.1,3.5,1.4,0.2]}'
rows=""
for i in $(seq 0 99); do
	r=$(awk -v i="$i" 'BEGIN{printf "[%.1f,%.1f,%.1f,%.1f]", 4.3+(i%36)/10, 2+(i%24)/10, 1+(i%59)/10, 0.1+(i%25)/10}')
	rows="$rows${rows:+,}$r"
done
batch="{\"instances\":[$rows]}"
for name in single batch; do
	body=${!name}
	cat >"$work/$name.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA
done

# start NAME PROCS CMD...: starts a server (lib.sh serve) and sets ADDR and
# PID.
start() {
	local name=$1 procs=$2
	shift 2
	if [ "$procs" = default ]; then
		serve "$work/$name.log" "$@"
	else
		serve "$work/$name.log" env GOMAXPROCS="$procs" "$@"
	fi
	pids+=("$PID")
}

# cpu_ticks PID: user+system CPU time of a process, in clock ticks.
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

# measure ADDR LUA PID: runs wrk and prints "req/s p50_ms p99_ms cpu_us/req"
# (the server's CPU time per request: steadier than req/s on a shared
# machine, as time spent waiting for a core is not counted).
measure() {
	local out t0 t1
	curl -fsS -o /dev/null -H 'Content-Type: application/json' --data @<(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$2") "http://$1/predict" ||
		{ echo "warm-up request to $1 failed" >&2; exit 1; }
	wrk -t"$THREADS" -c"$CONNS" -d2s -s "$2" "http://$1/predict" >/dev/null # warm up
	t0=$(cpu_ticks "$3")
	out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s "$2" "http://$1/predict")
	t1=$(cpu_ticks "$3")
	# Non-2xx answers (irisd turns batches beyond its in-flight limit away
	# with 503) do not count as throughput.
	local bad secs
	bad=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
	bad=${bad:-0}
	echo "$bad" >"$work/bad"
	local rps p50 p99
	secs=$(echo "$out" | awk '/requests in/ {sub(/s,$/, "", $4); print $4}')
	rps=$(echo "$out" | awk -v bad="$bad" -v secs="$secs" '/requests in/ {printf "%.2f", ($1-bad)/secs}')
	p50=$(echo "$out" | awk '$1=="50%" {print $2}')
	p99=$(echo "$out" | awk '$1=="99%" {print $2}')
	local reqs cpu
	reqs=$(echo "$out" | awk '/requests in/ {print $1}')
	cpu=$(awk -v t="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN{printf "%.1f", t/hz*1e6/n}')
	echo "$rps $(to_ms "$p50") $(to_ms "$p99") $cpu"
}

# to_ms converts wrk's 1.23ms / 456.00us / 1.2s to milliseconds.
to_ms() {
	awk -v v="$1" 'BEGIN{
		if (v ~ /us$/) { sub(/us$/, "", v); printf "%.3f", v/1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); printf "%.3f", v }
		else if (v ~ /s$/) { sub(/s$/, "", v); printf "%.3f", v*1000 }
		else print v }'
}

irisd_args=(-addr 127.0.0.1:0 -grpc-addr 127.0.0.1:0)
[ -n "${DATA:-}" ] && irisd_args+=(-data "$DATA")
# IRISD_ARGS adds flags, e.g. "-cache-bytes 0": the loads repeat one body,
# which irisd's prediction cache answers without searching (batches only:
# a single Iris prediction is below -cache-min-work).
# shellcheck disable=SC2206
[ -n "${IRISD_ARGS:-}" ] && irisd_args+=($IRISD_ARGS)

echo "== wrk -t$THREADS -c$CONNS -d$DURATION; irisd ${irisd_args[*]} (access log on); $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %-7s %-8s %8s %9s %9s %8s %8s %8s | %6s %6s %6s\n" round load procs server req/s rows/s p50_ms p99_ms cpu_us/r ratio p99x cpux
for round in $(seq 1 "$ROUNDS"); do
	for load in single batch; do
		n=1
		[ $load = batch ] && n=100
		for procs in $PROCS; do
			start ceiling "$procs" "$work/ceiling" -addr 127.0.0.1:0
			read -r c_rps c_p50 c_p99 c_cpu < <(measure "$ADDR" "$work/$load.lua" "$PID")
			kill "$PID"; wait "$PID" 2>/dev/null || true
			printf "%-6s %-7s %-8s %8s %9.0f %9.0f %8s %8s %8s |\n" "$round" $load "$procs" ceiling "$c_rps" "$(awk -v a="$c_rps" -v n=$n 'BEGIN{print a*n}')" "$c_p50" "$c_p99" "$c_cpu"
			for srv in "${servers[@]}"; do
				start irisd "$procs" "${srv#*=}" "${irisd_args[@]}"
				read -r i_rps i_p50 i_p99 i_cpu < <(measure "$ADDR" "$work/$load.lua" "$PID")
				i_bad=$(cat "$work/bad")
				kill "$PID"; wait "$PID" 2>/dev/null || true
				ratio=$(awk -v a="$i_rps" -v b="$c_rps" 'BEGIN{printf "%.2f", a/b}')
				p99x=$(awk -v a="$i_p99" -v b="$c_p99" 'BEGIN{printf "%.2f", a/b}')
				cpux=$(awk -v a="$i_cpu" -v b="$c_cpu" 'BEGIN{printf "%.2f", a/b}')
				printf "%-6s %-7s %-8s %8s %9.0f %9.0f %8s %8s %8s | %6s %6s %6s" "$round" $load "$procs" "${srv%%=*}" "$i_rps" "$(awk -v a="$i_rps" -v n=$n 'BEGIN{print a*n}')" "$i_p50" "$i_p99" "$i_cpu" "$ratio" "$p99x" "$cpux"
				[ "$i_bad" != 0 ] && printf "  (%s non-2xx not counted)" "$i_bad"
				echo
			done
		done
	done
done
echo "ratio = irisd req/s / ceiling req/s (target >= 0.90); p99x = irisd p99 / ceiling p99 (target <= 2);"
echo "cpux = irisd CPU per request / ceiling CPU per request (1/cpux is the throughput ratio on a machine that is not shared)"

# The Open Inference Protocol's binary path against JSON /predict: one
# 10,000-row batch, the same FP32 rows both ways, server CPU per row and
# rows/s in one run (scripts/oipload). The prediction cache is off: the
# load repeats one body, which the cache would answer without searching.
echo
[ -n "${REVS:-}" ] && exit 0 # the revisions' irisd builds are compared above only
echo "== OIP binary FP32 vs JSON /predict, 10,000-row batches (irisd -cache-bytes 0)"
CGO_ENABLED=0 go build -trimpath -o "$work/oipload" ./scripts/oipload
start irisd default "$work/irisd" "${irisd_args[@]}" -cache-bytes 0
"$work/oipload" -addr "$ADDR" -pid "$PID" -rows 10000 -requests "${OIP_REQUESTS:-30}"
kill "$PID"; wait "$PID" 2>/dev/null || true
