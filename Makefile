# flyte-webhook: `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
BIN := bin/flyte-webhook
CONFIG ?= examples/local.yaml
# nomsgpack leaves gin's MessagePack codec (ugorji/go, 3 MB of code) out of every build and
# test; the binary is also static (no cgo: pure-Go SQLite, DNS and user lookups) and
# stripped. Both cut idle RSS (bench/README.md). `go build` without them works too.
export GOFLAGS := $(strip $(GOFLAGS) -tags=nomsgpack)
BUILDFLAGS := -trimpath -ldflags='-s -w'

.PHONY: help generate check-generate build test test-go test-ts test-integration browser builder example-base lint bench bench-load bench-flyte bench-lists bench-watch run clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

generate: ## Regenerate gen/ and both clients from openapi.yaml
	$(GO) generate ./gen ./clients/go
	cd clients/ts && npm ci --no-audit --no-fund >/dev/null && npm run --silent generate

check-generate: generate ## Fail when generated code differs from openapi.yaml
	@if [ -n "$$(git status --porcelain -- gen clients/go clients/ts/src)" ]; then \
	  echo "generated code is out of date with openapi.yaml (run make generate and commit):"; \
	  git status --porcelain -- gen clients/go clients/ts/src; git --no-pager diff --stat -- gen clients; exit 1; fi
	@echo "generated code matches openapi.yaml"

# Without bin/ this is most likely the first build: Go then downloads the modules and compiles
# everything once, silently (2m17s measured on two cores). Say so before, not after.
build: ## Build the binary into bin/
	@if [ ! -e $(BIN) ]; then echo "first build of $(BIN): Go downloads the modules and compiles everything once;" \
	  "this takes a couple of minutes and prints nothing meanwhile (later builds take seconds)"; fi
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(BIN) ./cmd/flyte-webhook

lint: ## go vet and gofmt
	$(GO) vet ./...
	@bad=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/' | grep -v '\.gen\.go$$')); \
	  if [ -n "$$bad" ]; then echo "gofmt would change: $$bad"; exit 1; fi

test-go: builder ## Go tests with the race detector
	$(GO) test -race -count=1 ./...

# The tags on the command line replace those of GOFLAGS, so nomsgpack is repeated.
test-integration: ## The flyte backend against a real Flyte 2 control plane (FLYTE_WEBHOOK_IT_*: README)
	$(GO) test -tags=nomsgpack,integration -count=1 ./controlplane/flyte/...
	@if [ -z "$${FLYTE_WEBHOOK_IT_ENDPOINT:-}" ]; then echo "note: FLYTE_WEBHOOK_IT_ENDPOINT is not set, so TestIntegration skipped:" \
	  "only the tests against the in-test control plane ran (README: Running in front of Flyte 2)"; fi

# Only chromium and what it depends on (25 packages instead of 131 on the Debian 12 machine
# measured; more on a bare image, still far fewer): headless needs none of the recommended
# desktop packages, and fontconfig's dependencies bring a font.
browser: ## Make sure Debian's chromium is there for the browser check (installs it as root)
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's chromium (without recommended packages) for the /docs browser check"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "the /docs browser check needs Debian's chromium: sudo apt-get install -y --no-install-recommends chromium"; exit 1; fi; fi

# buildah for the image build tests against a real builder (daemonless: vfs storage, chroot
# isolation, so no OCI runtime is needed and recommended packages are left out), and
# busybox-static for their base image (examples/builds/make-base.sh). Debian's
# docker-registry for the push test is unpacked into $(REGISTRY_DIR), not installed, so no
# registry service is started on the machine (the test starts its own on 127.0.0.1). Without
# root and without them, those tests skip, saying why.
REGISTRY_DIR := .cache/docker-registry
builder: ## Make sure Debian's buildah, busybox-static (installed as root) and docker-registry (unpacked) are there for the image build tests
	@if ! command -v buildah >/dev/null || [ ! -x /bin/busybox ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's buildah and busybox-static (without recommended packages) for the image build tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends buildah busybox-static >/dev/null; \
	  else echo "note: the image build tests against buildah will skip: sudo apt-get install -y --no-install-recommends buildah busybox-static"; fi; fi
	@if [ ! -x $(REGISTRY_DIR)/usr/bin/docker-registry ] && command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then \
	  echo "unpacking Debian's docker-registry into $(REGISTRY_DIR) for the image push test"; \
	  tmp=$$(mktemp -d); \
	  if (cd $$tmp && apt-get download -qq docker-registry >log 2>&1 || \
	      { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download -qq docker-registry >log 2>&1; }); then \
	    mkdir -p $(REGISTRY_DIR) && dpkg-deb -x $$tmp/docker-registry_*.deb $(REGISTRY_DIR); \
	  else echo "note: the image push test will skip: apt-get download docker-registry failed:"; cat $$tmp/log; fi; \
	  rm -rf $$tmp; fi

BASE_IMAGE ?= localhost/flyte-webhook-example-base:1
example-base: ## Build the example base image for build_image (needs buildah; see examples/builds/)
	@if ! command -v buildah >/dev/null; then \
	  echo "note: no buildah, so no example base image: build_image runs will fail saying no builder is installed (make builder installs one)"; \
	elif buildah images --quiet $(BASE_IMAGE) >/dev/null 2>&1; then :; \
	else echo "building the example base image $(BASE_IMAGE) (examples/builds/make-base.sh)"; \
	  BASE_IMAGE=$(BASE_IMAGE) examples/builds/make-base.sh --quiet; fi

test-ts: build browser ## TypeScript client tests and the Swagger UI browser check against the real binary
	cd clients/ts && npm ci --no-audit --no-fund >/dev/null && npm run --silent build && \
	  FLYTE_WEBHOOK_BIN=$(CURDIR)/$(BIN) npm test && FLYTE_WEBHOOK_BIN=$(CURDIR)/$(BIN) npm run --silent test:browser

test: lint test-go test-ts ## Everything: lint, Go tests (-race), TS client and browser tests

bench: ## Go benchmarks (HTTP stack, local backend)
	$(GO) test -run '^$$' -bench . -benchmem ./...

bench-load: build ## Load test of the real binary with wrk (bench/README.md)
	bench/load.sh

ROUNDS ?= 3
bench-flyte: build ## The flyte backend: what the webhook adds per call, and scale-out (bench/README.md)
	$(GO) run ./bench/flyte/added -rounds $(ROUNDS)
	$(GO) run ./bench/flyte/added -rounds $(ROUNDS) -binary $(BIN)
	ROUNDS=$(ROUNDS) bench/flyte-scale.sh

RUNS ?= 1000000
bench-lists: build ## The local backend with a million runs stored: list_runs, get_run, run_task, start-up, size (bench/README.md)
	$(GO) run ./bench/lists -binary $(BIN) -runs $(RUNS) -rounds $(ROUNDS)

WATCHERS ?= 10000
bench-watch: build ## 10,000 SSE watchers on one server: RSS per idle watcher, phase change → event delay (bench/README.md)
	$(GO) run ./bench/watch -binary $(BIN) -watchers $(WATCHERS) -rounds $(ROUNDS)

run: build example-base ## Start the server on the example workspace with a fresh development token
	$(BIN) serve --config $(CONFIG) --dev-token

clean: ## Remove build output and local state
	rm -rf bin .flyte-webhook .cache
