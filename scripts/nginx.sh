#!/usr/bin/env bash
# Runs NGINX in front of irisd replicas outside Docker, with deploy/nginx.conf
# as it is: it writes a whole nginx.conf around it into a directory of its
# own (pid, logs, temp files), puts the given replica addresses in place of
# the compose hostnames and the listen address in place of port 80, checks
# the config (nginx -t) and runs nginx in the foreground.
#
#   scripts/nginx.sh [-listen ADDR] [-dir DIR] [-t] REPLICA...
#
#   -listen ADDR  where NGINX listens (default 127.0.0.1:8080)
#   -dir DIR      directory for the generated config, logs and temp files
#                 (default: a new one under /tmp)
#   -t            only generate and test the config, then exit
#   REPLICA       host:port of each irisd replica (any number, at least one)
#
# Example, three replicas on loopback:
#   scripts/nginx.sh -listen 127.0.0.1:8080 127.0.0.1:8081 127.0.0.1:8082 127.0.0.1:8083
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
listen=127.0.0.1:8080
dir=""
test_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    -listen) listen="$2"; shift 2 ;;
    -dir) dir="$2"; shift 2 ;;
    -t) test_only=1; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) echo "nginx.sh: unknown flag $1 (see -h)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "nginx.sh: name at least one replica (host:port); see -h" >&2; exit 2; }
[ -n "$dir" ] || dir="$(mktemp -d /tmp/irisknn-nginx.XXXXXX)"
mkdir -p "$dir"
# nginx's workers run as nobody when started by root: they must reach dir.
chmod 755 "$dir"
bin="$(command -v nginx || echo /usr/sbin/nginx)"

# The upstream's server lines become one per given replica, each with the
# parameters deploy/nginx.conf gives its first one (but `resolve`, which only
# names need); port 80 becomes the listen address.
awk -v replicas="$*" -v listen="$listen" '
  /^[[:space:]]*server replica[0-9]+:8080/ {
    if (!done) {
      line = $0; sub(/server replica[0-9]+:8080/, "server @", line); sub(/ resolve/, "", line)
      n = split(replicas, r, " ")
      for (i = 1; i <= n; i++) { l = line; sub(/@/, r[i], l); print l }
      done = 1
    }
    next
  }
  /^[[:space:]]*listen 80;/ { sub(/listen 80;/, "listen " listen ";") }
  { print }
' "$here/deploy/nginx.conf" > "$dir/irisd.conf"
grep -q "listen $listen;" "$dir/irisd.conf" || { echo "nginx.sh: deploy/nginx.conf has no 'listen 80;' to replace" >&2; exit 1; }

cat > "$dir/nginx.conf" <<CONF
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_processes 2;
events { worker_connections 1024; }
http {
    access_log $dir/access.log;
    client_body_temp_path $dir/client_body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    include $dir/irisd.conf;
}
CONF
"$bin" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
if [ "$test_only" = 1 ]; then
  echo "nginx.sh: $dir/nginx.conf is valid (listen $listen, replicas: $*)"
  exit 0
fi
echo "nginx.sh: listening on $listen for $*; config, logs in $dir"
exec "$bin" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
