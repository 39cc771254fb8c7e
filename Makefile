# crmsync: run `make` (or `make help`) for the targets.
.DEFAULT_GOAL := help
SHELL := bash

GO          ?= go
BIN         ?= bin/crmsync
# The exact build the Dockerfile runs (it calls `make build`): static, reproducible.
BUILD_FLAGS := -trimpath -ldflags="-s -w"
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-18s %s\n", $$1, $$2}'

.PHONY: build
build: ## Build the static binary into bin/crmsync (what the Dockerfile ships)
	CGO_ENABLED=0 $(GO) build $(BUILD_FLAGS) -o $(BIN) ./cmd/crmsync

.PHONY: fmt
fmt: ## Format the code
	gofmt -w $$(git ls-files '*.go')

.PHONY: fmt/check
fmt/check: ## Fail if gofmt would change anything
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

.PHONY: vet
vet: ## go vet, including the integration-tagged tests (compiled, never run here)
	$(GO) vet ./...
	$(GO) vet -tags=integration ./...

.PHONY: lint
lint: fmt/check vet ## gofmt, go vet and staticcheck (pinned, built through the module proxy)
	$(GO) run $(STATICCHECK) ./...

.PHONY: test
test: fmt/check vet ## Every test, with the race detector, against a real PostgreSQL (throwaway cluster unless TEST_DATABASE_URL is set)
	$(GO) test -race -count=1 -timeout 20m ./...

.PHONY: test/short
test/short: ## Every test without the race detector (faster)
	$(GO) test -count=1 ./...

.PHONY: bench
bench: ## Run the issues' benchmarks in one go, print one table, write docs/benchmarks.md (BENCH_SCALE=small: quick run into bin/bench/). Refuses uncommitted changes unless BENCH_UNOFFICIAL=1 (report marked unofficial, into bin/bench/)
	$(GO) build -o bin/crmsync-bench ./cmd/crmsync-bench
	bin/crmsync-bench -scale=$(or $(BENCH_SCALE),full) -unofficial=$(if $(filter 1 true yes,$(BENCH_UNOFFICIAL)),true,false) -go=$(GO)

.PHONY: bench/smoke
bench/smoke: ## Every benchmark `make bench` runs, once at a tiny size, so a broken one fails (CI runs it); report into bin/bench/, never docs/
	$(GO) build -o bin/crmsync-bench ./cmd/crmsync-bench
	bin/crmsync-bench -scale=smoke -go=$(GO)

.PHONY: check-config
check-config: ## Validate jobs.yaml (set the variables it references first)
	$(GO) run ./cmd/crmsync check-config

.PHONY: demo
demo: build ## Run the whole pipeline on a throwaway PostgreSQL and the sandbox APIs, then print a summary (again: fast, nothing re-pushed)
	@if [ -z "$$DATABASE_URL" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	   ! { { command -v initdb >/dev/null || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; } && id postgres >/dev/null 2>&1; }; then \
	  echo "--- installing PostgreSQL from Debian's packages (the demo's throwaway database runs from its binaries)"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; \
	fi
	$(BIN) demo

.PHONY: demo/down
demo/down: build ## Stop the demo's PostgreSQL and remove its data folder (./.crmsync)
	$(BIN) demo --down

.PHONY: clean
clean: ## Remove build output
	rm -rf bin
