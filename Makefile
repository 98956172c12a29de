# irisknn: build, run and test. Every target uses the patched Go toolchain
# (fetched from the module proxy by the go command on first use).
export GOTOOLCHAIN := go1.27.3
export CGO_ENABLED ?= 0

GO      ?= go
BIN     := bin/irisd
PKGS    := ./...

.PHONY: all run build test vet fmt-check unit kserve-check k8s-test bench loadtest lint docker clean e2e deps cluster-test write-bench fuzz soak vuln proto

all: test build

## run: serve on :8080 with the embedded Iris data (flags via ARGS=...);
## the "listening" log line gives the URL to open
run:
	@echo "irisd: starting; open the URL in the \"listening\" line (http://localhost:8080/ by default). Ctrl-C stops it."
	$(GO) run ./cmd/irisd $(ARGS)

## build: a static binary in bin/irisd, stamped with version, commit and
## build date (irisd -version), built exactly as the Dockerfile does (scripts/build.sh)
build:
	sh scripts/build.sh $(BIN)

## test: everything CI runs: vet, gofmt check, the race-enabled test suite, the KServe manifests check
test: vet fmt-check unit kserve-check

## kserve-check: decode deploy/kserve's manifests strictly against KServe's API types
## (a module of its own: deploy/kserve/check, so Kubernetes' modules stay out of go.mod)
kserve-check:
	cd deploy/kserve/check && $(GO) vet . && $(GO) test -count=1 .

vet:
	$(GO) vet $(PKGS)
	cd test/k8s && $(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needs to be run on:"; echo "$$out"; exit 1; fi

unit:
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -tags purego -short -count=1 ./internal/knn ./internal/dataset
	$(MAKE) k8s-test

## k8s-test: render deploy/k8s's overlays (kustomize as a library), decode every
## object strictly into the Kubernetes API types and check them against irisd
## (test/k8s, a module of its own so that its dependencies stay out of go.mod)
k8s-test:
	cd test/k8s && $(GO) test -count=1 ./...

## e2e: the browser tests: headless Chromium against irisd through CORS
## (with CI set, installs Chromium first; UPDATE_SCREENSHOTS=1 rewrites docs/*.png)
e2e:
	@if [ -n "$$CI" ]; then .ci/ensure-chromium; fi
	$(GO) test -count=1 -timeout 10m -v ./internal/e2e/

## bench: the benchmarks (KNN index at N=150..1M, write path, decoder) as a table
bench:
	scripts/bench.sh

## loadtest: irisd against the bare net/http ceiling server under wrk, then durable writes/s
## with group commit against fsync-per-write at 1, 8 and 32 writers, then 1M-row import,
## export and paging with scikit-learn's fit for reference (a measurement, not a test)
loadtest:
	scripts/loadtest.sh
	scripts/writeload.sh
	scripts/bulkload.sh

# Developer tools, pinned in tools/go.mod (a module of their own, so that
# their dependencies never mix with the service's).
TOOLS_BIN := $(CURDIR)/bin/tools
VULNDB    := $(CURDIR)/bin/vulndb

## proto: regenerate internal/oip/inferencepb from its .proto (pure Go: tools/protogen,
## protocompile + protoc-gen-go + protoc-gen-go-grpc pinned in tools/go.mod; no protoc)
proto:
	cd internal/oip/inferencepb && $(GO) generate .

## lint: go vet plus staticcheck (pinned in tools/go.mod)
lint: vet
	cd tools && $(GO) build -o $(TOOLS_BIN)/ honnef.co/go/tools/cmd/staticcheck
	$(TOOLS_BIN)/staticcheck $(PKGS)

## vuln: govulncheck (pinned) against an offline database built from the pinned golang.org/x/vulndb module
vuln:
	cd tools && $(GO) mod download golang.org/x/vulndb && \
	  $(GO) build -o $(TOOLS_BIN)/ golang.org/x/vuln/cmd/govulncheck golang.org/x/vulndb/cmd/indexdb
	rm -rf $(VULNDB)
	osv="$$(cd tools && $(GO) list -m -f '{{.Dir}}' golang.org/x/vulndb)/data/osv" && \
	  $(TOOLS_BIN)/indexdb -vulns "$$osv" -out $(VULNDB)
	@n=$$(ls $(VULNDB)/ID | grep -c '\.json$$'); echo "vulnerability database: $$n entries from golang.org/x/vulndb@$$(cd tools && $(GO) list -m -f '{{.Version}}' golang.org/x/vulndb)"; \
	  test "$$n" -gt 1000 || { echo "the vulnerability database is suspiciously small"; exit 1; }
	$(TOOLS_BIN)/govulncheck -db file://$(VULNDB) $(PKGS)

## fuzz: run every fuzz target of the module for FUZZTIME (their seeds already run in make test);
## the targets are found by go test -list, so a new one is never left out
FUZZTIME  ?= 30s
FUZZFLAGS ?=
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for name in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$name ($$pkg) for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $(FUZZFLAGS) $$pkg; \
	  done; done

## soak: the long variants of the crash, load and shutdown tests against the real binary (race-enabled)
soak:
	CGO_ENABLED=1 IRISKNN_SOAK=1 $(GO) test -race -count=1 -timeout 30m -v -run 'Kill9|Load|Graceful|Slow' ./cmd/irisd

## deps: install redis-server, nginx and PostgreSQL (Debian packages) when missing
deps:
	bash scripts/ensure-deps.sh

## cluster-test: PostgreSQL + redis + 3 replicas (one in a network namespace) + worker + nginx (test/cluster)
cluster-test: deps
	$(GO) build -o bin/irisd-cluster ./cmd/irisd
	IRISD_BIN=$(CURDIR)/bin/irisd-cluster $(GO) test -tags cluster -count=1 -v -timeout 15m -run 'TestCluster|TestWriteThroughput' ./test/cluster

## write-bench: durable writes/s through 3 replicas at 32 writers: PostgreSQL against the
## former Redis store (built from $(REDIS_STORE_COMMIT), main's last commit with it), one run;
## without that commit (a shallow clone) the comparison is skipped, and says so
REDIS_STORE_COMMIT := a37d07b0b5b85b1b7cd3c6a6f65773b56a81e8cd
write-bench: deps
	$(GO) build -o bin/irisd-cluster ./cmd/irisd
	rm -rf bin/redis-store-src bin/irisd-redis-store && mkdir -p bin/redis-store-src
	if git cat-file -e $(REDIS_STORE_COMMIT)^{commit} 2>/dev/null; then \
	  git archive $(REDIS_STORE_COMMIT) | tar -x -C bin/redis-store-src && \
	  (cd bin/redis-store-src && $(GO) build -o ../irisd-redis-store ./cmd/irisd); \
	else echo "write-bench: commit $(REDIS_STORE_COMMIT) is not in this clone: no comparison with the former Redis store"; fi
	IRISD_BIN=$(CURDIR)/bin/irisd-cluster IRISD_REDIS_STORE_BIN=$$(test -x bin/irisd-redis-store && echo $(CURDIR)/bin/irisd-redis-store) \
	  $(GO) test -tags cluster -count=1 -v -timeout 10m -run TestWriteThroughput ./test/cluster

## docker: build the container image (needs a Docker engine)
docker:
	docker build -t irisknn $$(sh scripts/build.sh --docker-build-args) .

clean:
	rm -rf bin
