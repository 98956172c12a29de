# syntax=docker/dockerfile:1
# Build: a static binary with the patched Go toolchain.
FROM golang:1.27.3-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -ldflags='-s -w' -o /out/irisd ./cmd/irisd

# Run: distroless static, no shell, non-root.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/irisd /irisd
USER nonroot:nonroot
EXPOSE 8080
ENV IRIS_ADDR=:8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["/irisd", "-healthcheck"]
ENTRYPOINT ["/irisd"]
