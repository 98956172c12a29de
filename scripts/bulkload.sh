#!/usr/bin/env bash
# make loadtest (third part): the training set at scale, against the real
# irisd over HTTP with -data-dir on the disk of this checkout, in one run:
#   - importing ROWS rows (CSV, mode=replace; durable before the answer),
#     with irisd's peak resident memory (VmHWM) during it;
#   - the same rows as NDJSON (mode=replace);
#   - exporting them (CSV and NDJSON);
#   - a page of 1000 by cursor (after_id) and by offset, shallow and deep;
#   - for reference, scikit-learn's KNeighborsClassifier.fit on the same
#     rows (Debian's python3-sklearn, /usr/bin/python3), when installed.
# Environment: ROWS (default 1000000), WALDIR (parent of the data dir).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export GOTOOLCHAIN=${GOTOOLCHAIN:-go1.27.3}
ROWS=${ROWS:-1000000}

work=$(mktemp -d -p "${WALDIR:-$PWD}" .bulkload.XXXXXX)
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "== building irisd and irisgen"
CGO_ENABLED=0 go build -trimpath -o "$work/irisd" ./cmd/irisd
CGO_ENABLED=0 go build -trimpath -o "$work/irisgen" ./cmd/irisgen
"$work/irisgen" -n "$ROWS" -o "$work/rows.csv"
awk -F, 'NR>1 {printf "{\"features\":[%s,%s,%s,%s],\"species\":\"%s\"}\n", $1, $2, $3, $4, $5}' "$work/rows.csv" >"$work/rows.ndjson"

serve "$work/irisd.log" "$work/irisd" -addr 127.0.0.1:0 -data-dir "$work/data"
pid=$PID
addr=$ADDR
base="http://$addr"
rss() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$pid/status"; }
hwm() { awk '/^VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status"; }

echo "== $ROWS rows ($(du -m "$work/rows.csv" | cut -f1) MB CSV, $(du -m "$work/rows.ndjson" | cut -f1) MB NDJSON); irisd -data-dir on $(df -T "$work" | awk 'NR==2 {print $2}'); $(nproc) CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "irisd before: RSS $(rss) MB"
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.3f", ($14+$15)/hz}' "/proc/$pid/stat"; }
timed() { # timed NAME curl-args...: prints NAME, wall seconds, irisd's CPU seconds, HTTP status
	local name=$1
	shift
	local out c0 c1
	c0=$(cpu_s)
	out=$(curl -sS -o "$work/out" -w '%{http_code} %{time_total}' "$@")
	c1=$(cpu_s)
	printf "%-34s %8.3f s wall %7.3f s irisd CPU   HTTP %s\n" "$name" "${out#* }" "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" "${out%% *}"
	[ "${out%% *}" = 200 ] || { echo "failed:"; head -c 600 "$work/out"; echo; exit 1; }
}
timed "import CSV (replace, durable)" -X POST "$base/dataset/import?mode=replace" -H 'Content-Type: text/csv' --data-binary @"$work/rows.csv"
echo "irisd peak RSS (VmHWM) so far: $(hwm) MB; RSS now $(rss) MB"
timed "import NDJSON (replace, durable)" -X POST "$base/dataset/import?mode=replace" -H 'Content-Type: application/x-ndjson' --data-binary @"$work/rows.ndjson"
echo "irisd peak RSS (VmHWM) so far: $(hwm) MB"
timed "export CSV" "$base/samples" -H 'Accept: text/csv'
echo "  $(wc -l <"$work/out") lines, X-Dataset-Version $(curl -sS -o /dev/null -D - -H 'Accept: text/csv' "$base/samples?species=setosa" | awk -F': ' 'tolower($1)=="x-dataset-version" {print $2}' | tr -d '\r')"
timed "export NDJSON" "$base/samples?format=ndjson"
echo "irisd peak RSS (VmHWM) after the exports: $(hwm) MB"
first=$(curl -sS "$base/samples?limit=1" | sed 's/.*"samples":\[{"id":\([0-9]*\).*/\1/')
last=$((first + ROWS - 1000 - 1))
mid=$((first + ROWS / 2))
for i in 1 2 3; do
	timed "page 1000, after_id (start) #$i" "$base/samples?limit=1000&after_id=0"
	timed "page 1000, after_id (end) #$i" "$base/samples?limit=1000&after_id=$last"
	timed "page 1000, offset 0 #$i" "$base/samples?limit=1000&offset=0"
	timed "page 1000, offset $((ROWS / 2)) #$i" "$base/samples?limit=1000&offset=$((ROWS / 2))"
	timed "page 1000, offset $((ROWS - 1000)) #$i" "$base/samples?limit=1000&offset=$((ROWS - 1000))"
done
: "$mid"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""

if /usr/bin/python3 -c 'import sklearn' 2>/dev/null; then
	/usr/bin/python3 - "$work/rows.csv" <<'PY'
import sys, time
import numpy as np
from sklearn.neighbors import KNeighborsClassifier
t0 = time.perf_counter()
data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, usecols=(0, 1, 2, 3))
labels = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, usecols=(4,), dtype=str)
t1, c1 = time.perf_counter(), time.process_time()
clf = KNeighborsClassifier(n_neighbors=5, algorithm="kd_tree").fit(data, labels)
t2, c2 = time.perf_counter(), time.process_time()
print(f"{'sklearn: read CSV (numpy.loadtxt)':34s} {t1 - t0:8.3f} s")
print(f"{'sklearn: KNeighborsClassifier.fit':34s} {t2 - t1:8.3f} s wall {c2 - c1:7.3f} s CPU   (kd_tree, {len(data)} rows)")
PY
else
	echo "scikit-learn not installed (/usr/bin/python3 -c 'import sklearn' failed): no reference"
fi
