# Opsbook's everyday commands. `make test` is what CI runs (see README.md).
GO      ?= go
# templ and staticcheck are pinned by the tool directives in go.mod.
TEMPL   := $(GO) tool templ

.PHONY: test test-postgres lint staticcheck generate verify bench fuzz build run screenshots

# The version, commit and date `opsbook version` prints (the go command's
# own vcs stamp is missing in git worktrees and with -buildvcs=false).
LDFLAGS = -X main.version=$(shell git describe --tags --always --dirty 2>/dev/null || echo dev) \
	-X main.commit=$(shell git rev-parse HEAD 2>/dev/null) \
	-X main.date=$(shell git log -1 --format=%cI 2>/dev/null)

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/opsbook ./cmd/opsbook

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

lint: staticcheck
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

staticcheck:
	$(GO) tool staticcheck ./...

generate:
	@if ls views/*.templ >/dev/null 2>&1; then $(TEMPL) generate -path views; fi
	@if [ -f static/package.json ]; then cd static && npm ci --no-audit --no-fund && cd .. && $(GO) run ./cmd/bundle; fi

# verify fails when generated files are stale or code is unformatted.
verify: lint
	@if ls views/*.templ >/dev/null 2>&1; then $(TEMPL) generate -path views -check; fi
	@if [ -f static/package.json ]; then cd static && npm ci --no-audit --no-fund >/dev/null && cd .. && $(GO) run ./cmd/bundle -check; fi

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# fuzz runs each fuzz target (every func Fuzz… in a _test.go) for FUZZTIME.
FUZZTIME ?= 15s
fuzz:
	@for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$dir/*_test.go); do \
	    echo "$$dir $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$dir || exit 1; \
	  done; \
	done

# screenshots saves a PNG of every page, on a laptop and on a phone, from a
# realistic run into screenshots/ (gitignored), for a reviewer to look at.
screenshots:
	OPSBOOK_SCREENSHOTS=$(CURDIR)/screenshots $(GO) test -count=1 -run '^TestScreenshots$$' -v ./server/
