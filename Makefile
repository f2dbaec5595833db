# Opsbook's everyday commands. `make test` is what CI runs (see README.md).
GO      ?= go
TEMPL   := $(GO) run github.com/a-h/templ/cmd/templ@v0.3.1100

.PHONY: test test-postgres lint generate verify bench fuzz build run

build:
	$(GO) build -o bin/opsbook ./cmd/opsbook

run:
	$(GO) run ./cmd/opsbook serve

# test runs every package with -race on SQLite (the store suite and the
# tests about two processes on one PostgreSQL run there too) and, at the same
# time, the server package's whole suite again on PostgreSQL, without -race:
# that pass waits on the database, browsers and timers far more than it
# computes, so beside the -race pass it adds little to CI's time, where with
# -race it would add minutes.
test: lint
	@pg=$$(mktemp); \
	OPSBOOK_TEST_DB=postgres $(GO) test -count=1 -timeout 30m ./server/ >$$pg 2>&1 & pid=$$!; \
	OPSBOOK_TEST_DB=sqlite $(GO) test -race -count=1 -timeout 30m ./...; race=$$?; \
	wait $$pid; pgrc=$$?; \
	echo "== ./server on PostgreSQL (OPSBOOK_TEST_DB=postgres go test ./server/):"; \
	cat $$pg; rm -f $$pg; \
	[ $$race -eq 0 ] && [ $$pgrc -eq 0 ]

# test-postgres runs the server package's suite on PostgreSQL alone.
test-postgres:
	OPSBOOK_TEST_DB=postgres $(GO) test -count=1 -timeout 30m ./server/

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

generate:
	@if ls views/*.templ >/dev/null 2>&1; then $(TEMPL) generate -path views; fi
	@if [ -f static/package.json ]; then cd static && npm ci --no-audit --no-fund && cd .. && $(GO) run ./cmd/bundle; fi

# verify fails when generated files are stale or code is unformatted.
verify: lint
	@if ls views/*.templ >/dev/null 2>&1; then $(TEMPL) generate -path views -check; fi
	@if [ -f static/package.json ]; then cd static && npm ci --no-audit --no-fund >/dev/null && cd .. && $(GO) run ./cmd/bundle -check; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz runs each fuzz target for FUZZTIME (default 30s).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list 'Fuzz.*' $$pkg | grep ^Fuzz); do \
	    echo "$$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done
