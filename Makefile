# irisknn: build, run and test. Every target uses the patched Go toolchain
# (fetched from the module proxy by the go command on first use).
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED ?= 0

GO      ?= go
BIN     := bin/irisd
PKGS    := ./...

.PHONY: all run build test vet fmt-check unit bench lint docker clean e2e deps cluster-test

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

## e2e: the browser tests: headless Chromium against irisd through CORS
## (with CI set, installs Chromium first; UPDATE_SCREENSHOTS=1 rewrites docs/*.png)
e2e:
	@if [ -n "$$CI" ]; then .ci/ensure-chromium; fi
	$(GO) test -count=1 -timeout 10m -v ./internal/e2e/

## bench: the benchmarks, with allocation counts
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## lint: go vet plus staticcheck
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

## deps: install redis-server and nginx (Debian packages) when missing
deps:
	bash scripts/ensure-deps.sh

## cluster-test: redis + 3 replicas + worker + nginx on loopback (test/cluster)
cluster-test: deps
	$(GO) build -o bin/irisd-cluster ./cmd/irisd
	IRISD_BIN=$(CURDIR)/bin/irisd-cluster $(GO) test -tags cluster -count=1 -v -timeout 20m ./test/cluster

## docker: build the container image (needs a Docker engine)
docker:
	docker build -t irisknn .

clean:
	rm -rf bin
