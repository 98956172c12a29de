# Shared by the load scripts (source it): one way to start a server and
# learn its address.

# serve LOG CMD...: starts CMD in the background with its output in LOG,
# waits until it listens, and sets PID and ADDR (host:port). The address is
# the one its "listening" log line names (irisd's HTTP address, when it
# also serves gRPC), else its only listening socket (a quieter log level).
serve() {
	local log=$1
	shift
	rm -f "$log" # never read the previous run's output
	"$@" >"$log" 2>&1 &
	PID=$!
	ADDR=""
	for _ in $(seq 1 200); do
		ADDR=$(grep -o '"addr":"[^"]*"' "$log" 2>/dev/null | head -1 | cut -d'"' -f4 || true)
		[ -n "$ADDR" ] && return 0
		if [ "$(ss -ltnpH 2>/dev/null | grep -c "pid=$PID,")" = 1 ]; then
			ADDR=$(ss -ltnpH 2>/dev/null | awk -v p="pid=$PID," '$0 ~ p {print $4; exit}')
			return 0
		fi
		kill -0 "$PID" 2>/dev/null || { echo "$1 exited:"; cat "$log"; exit 1; }
		sleep 0.05
	done
	echo "$1 did not start"
	cat "$log"
	exit 1
}
