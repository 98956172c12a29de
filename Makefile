# irisknn: build, run and test. Every target uses the patched Go toolchain
# (fetched from the module proxy by the go command on first use).
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED ?= 0

GO      ?= go
BIN     := bin/irisd
PKGS    := ./...

.PHONY: all run build test vet fmt-check unit bench lint docker clean fuzz soak vuln

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

## bench: the benchmarks, with allocation counts
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## lint: go vet plus staticcheck
lint: vet
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 $(PKGS)

## fuzz: run each fuzz target for FUZZTIME (their seeds already run in make test)
FUZZTIME  ?= 30s
FUZZFLAGS ?=
FUZZ_TARGETS := FuzzPredict:./internal/httpapi FuzzSampleWrite:./internal/httpapi FuzzParseCSV:./internal/iris FuzzReplay:./internal/wal
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do name=$${t%%:*}; pkg=$${t#*:}; \
	  echo "== $$name ($$pkg) for $(FUZZTIME)"; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $(FUZZFLAGS) $$pkg; done

## soak: the long variants of the crash, load and shutdown tests against the real binary (race-enabled)
soak:
	CGO_ENABLED=1 IRISKNN_SOAK=1 $(GO) test -race -count=1 -timeout 30m -v -run 'Kill9|Load|Graceful|Slow' ./cmd/irisd

## docker: build the container image (needs a Docker engine)
docker:
	docker build -t irisknn .

clean:
	rm -rf bin
