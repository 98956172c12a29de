# syntax=docker/dockerfile:1
#
# irisd in a distroless static image: no shell, non-root (uid 65532),
# a writable /data volume for IRIS_DATA_DIR.
#
#   docker build -t irisknn \
#     --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) .
#
# (`make docker` passes those three.) cmd/irisd/container_test.go reads this
# file and runs its build and its start the way the image does.
#
# Base images: given by tag, not by digest, because the digest of an image
# can only be read from its registry, which this project's build machines
# cannot reach: a digest written here unchecked could be wrong. To pin them,
# read the digests where a registry is reachable
# (`docker buildx imagetools inspect golang:1.27.3-bookworm`) and pass them:
#   --build-arg GO_IMAGE=golang:1.27.3-bookworm@sha256:... \
#   --build-arg RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:...
ARG GO_IMAGE=golang:1.27.3-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/static-debian12:nonroot

FROM ${GO_IMAGE} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=
ARG COMMIT=
ARG BUILD_DATE=
RUN VERSION="$VERSION" COMMIT="$COMMIT" BUILD_DATE="$BUILD_DATE" sh scripts/build.sh /out/irisd
RUN mkdir -p /out/data && /out/irisd -version

FROM ${RUNTIME_IMAGE}
ARG VERSION=
ARG COMMIT=
ARG BUILD_DATE=
LABEL org.opencontainers.image.title="irisknn" \
      org.opencontainers.image.description="k-nearest-neighbour predictions over REST (irisd)" \
      org.opencontainers.image.source="https://github.com/irisknn/irisknn" \
      org.opencontainers.image.documentation="https://github.com/irisknn/irisknn#readme" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${BUILD_DATE}"
COPY --from=build /out/irisd /irisd
# The directory for IRIS_DATA_DIR (-e IRIS_DATA_DIR=/data, or mount a volume
# there), owned by the user irisd runs as.
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME ["/data"]
EXPOSE 8080 8081
# The server writes the address it listens on to IRIS_ADDR_FILE, and
# -healthcheck reads it: `docker run irisknn -addr :9000` is checked on
# :9000. With --read-only, give /tmp a tmpfs (--tmpfs /tmp).
ENV IRIS_ADDR=:8080 IRIS_ADDR_FILE=/tmp/irisd.addr
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/irisd", "-healthcheck"]
ENTRYPOINT ["/irisd"]
