#!/usr/bin/env bash
# Installs the real servers the tests run (redis-server, nginx), and curl
# (the README's curl lines are run as written), when they
# are missing; apt-get update only runs when something must be installed.
set -euo pipefail
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
  # The packages start system services; the tests use their own instances.
  for svc in redis-server nginx; do $SUDO service "$svc" stop >/dev/null 2>&1 || true; done
fi
