#!/bin/sh
# Builds the static irisd binary, stamped with its version, commit and build
# date: the one build command of `make build`, the Dockerfile and the
# container test (cmd/irisd/container_test.go), so that all three build the
# same thing.
#
#   scripts/build.sh OUT            (default bin/irisd)
#   scripts/build.sh --docker-build-args   prints the same stamp as
#                                   --build-arg flags (make docker)
#
# VERSION, COMMIT and BUILD_DATE may be given in the environment (the
# Dockerfile passes them as build arguments, since .git is not in its
# context); otherwise they come from git: the nearest v* tag (git describe),
# HEAD, and now in UTC. SOURCE_DATE_EPOCH, when set, fixes the date for a
# reproducible build.
set -eu
out=${1:-bin/irisd}
pkg=github.com/irisknn/irisknn/internal/buildinfo
if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --match 'v*' --always --dirty 2>/dev/null || echo dev)
fi
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git rev-parse HEAD 2>/dev/null || echo unknown)
	if [ "$COMMIT" != unknown ] && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
		COMMIT="$COMMIT+dirty"
	fi
fi
if [ -z "${BUILD_DATE:-}" ]; then
	if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
		BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
	else
		BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	fi
fi
if [ "$out" = --docker-build-args ]; then
	echo "--build-arg VERSION=$VERSION --build-arg COMMIT=$COMMIT --build-arg BUILD_DATE=$BUILD_DATE"
	exit 0
fi
CGO_ENABLED=0 exec go build -trimpath \
	-ldflags="-s -w -X $pkg.version=$VERSION -X $pkg.commit=$COMMIT -X $pkg.date=$BUILD_DATE" \
	-o "$out" ./cmd/irisd
