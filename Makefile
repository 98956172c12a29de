# irisknn: build, run and test. Every target uses the patched Go toolchain
# (fetched from the module proxy by the go command on first use).
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED ?= 0

GO      ?= go
BIN     := bin/irisd
PKGS    := ./...

.PHONY: all run build test vet fmt-check unit bench loadtest lint docker clean

all: test build

## run: serve on :8080 with the embedded Iris data (flags via ARGS=...)
run:
	$(GO) run ./cmd/irisd $(ARGS)

## build: a static binary in bin/irisd, built exactly as the Dockerfile does
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/irisd

## test: everything CI runs: vet, gofmt check, the race-enabled test suite
test: vet fmt-check unit

vet:
	$(GO) vet $(PKGS)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needs to be run on:"; echo "$$out"; exit 1; fi

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m $(PKGS)

## bench: the benchmarks (KNN index at N=150..1M, write path, decoder) as a table
bench:
	scripts/bench.sh

## loadtest: irisd against the bare net/http ceiling server under wrk (a measurement, not a test)
loadtest:
	scripts/loadtest.sh

## lint: go vet plus staticcheck
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

## docker: build the container image (needs a Docker engine)
docker:
	docker build -t irisknn .

clean:
	rm -rf bin
