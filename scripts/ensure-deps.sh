#!/usr/bin/env bash
# Installs the real servers the tests run (redis-server, nginx, PostgreSQL),
# and curl (the README's curl lines are run as written), when they are
# missing; apt-get update only runs when something must be installed. The tests start their own instances (internal/redistest,
# internal/pgtest) in temp dirs on spare loopback ports, so the system
# services the packages start are stopped again.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# PostgreSQL: Debian's packages put initdb and postgres in /usr/lib/postgresql/N/bin.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
# scikit-learn: make bench compares the KNN index with it (scripts/bench_sklearn.py).
/usr/bin/python3 -c 'import sklearn' >/dev/null 2>&1 || missing+=(python3-sklearn)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  # The packages start system services; the tests use their own instances.
  for svc in redis-server nginx postgresql; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
