# Tally: `make run` starts the service, `make test` runs every test. Both
# create a project-local PostgreSQL cluster under .data/ when they need one.
SHELL := /bin/bash
export PATH := $(PATH):/usr/local/go/bin
GO ?= go
BIN := bin/tally

.PHONY: help build run test vet deps lint-openapi axe screens fuzz bench chaos chaos-failover ha ha-stop mutation clean-db

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

build: ## build bin/tally
	$(GO) build -o $(BIN) ./cmd/tally

run: build ## serve at http://127.0.0.1:8080 (local PostgreSQL in .data/pg when DATABASE_URL is unset)
	./$(BIN) serve

vet: ## go vet and a gofmt check
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

test: build vet deps lint-openapi axe ## vet, lint openapi.yaml, every test (the pages' in headless Chromium) with the race detector against a throwaway cluster in .data/pgtest, short fuzz runs
	@rm -f .data/openapi-coverage.txt; status=0; $(GO) test -race -count=1 -timeout 45m ./... || status=$$?; \
	if [ -f .data/openapi-coverage.txt ]; then cat .data/openapi-coverage.txt; fi; \
	[ -n "$$TALLY_TEST_DATABASE_URL" ] || ./$(BIN) devdb stop --dir .data/pgtest; \
	[ $$status = 0 ] && $(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME) || status=1; exit $$status

# What the tests need beyond Go and PostgreSQL's server, from Debian's
# packages, installed when missing: npm (Spectral and axe-core), chromium and
# a CJK font (the pages' browser tests), pg_auto_failover for the cluster's
# PostgreSQL major (the failover chaos run, make ha). As root apt-get runs
# directly, otherwise through sudo -n; without either it says what to install.
PG_MAJOR := $(or $(shell ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1),15)
deps: ## install what the tests need from Debian's packages when it is missing
	@need=""; \
	command -v npm >/dev/null || need="$$need nodejs npm"; \
	command -v chromium >/dev/null || need="$$need chromium"; \
	command -v curl >/dev/null || need="$$need curl"; \
	command -v jq >/dev/null || need="$$need jq"; \
	[ -d /usr/share/fonts/opentype/noto ] || need="$$need fonts-noto-cjk"; \
	{ command -v pg_autoctl >/dev/null && [ -f /usr/share/postgresql/$(PG_MAJOR)/extension/pgautofailover.control ]; } \
		|| need="$$need postgresql-$(PG_MAJOR)-auto-failover"; \
	[ -z "$$need" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	else echo "make deps: install$$need (apt-get install -y$$need as root)"; exit 1; fi; \
	echo "make deps: apt-get install$$need"; \
	$$sudo apt-get update -qq && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$need >/dev/null

# Spectral (npm, pinned) lints openapi.yaml with its spectral:oas ruleset
# (.spectral.yaml); it is installed into .data/npm on first use.
SPECTRAL_VERSION := 6.15.0
SPECTRAL_STAMP := .data/npm/spectral-$(SPECTRAL_VERSION).installed
$(SPECTRAL_STAMP): | deps
	npm install --prefix .data/npm --no-save --no-audit --no-fund --loglevel=error @stoplight/spectral-cli@$(SPECTRAL_VERSION)
	touch $@

lint-openapi: $(SPECTRAL_STAMP) ## lint openapi.yaml with Spectral's OpenAPI ruleset; any error fails
	.data/npm/node_modules/.bin/spectral lint --ruleset .spectral.yaml --fail-severity error openapi.yaml

# axe-core (npm, pinned, MPL-2.0) is what the browser tests of web/ run on
# every page for accessibility; it is installed into .data/npm-axe (a prefix
# of its own: an npm install --no-save prunes what it did not install) and
# read by the tests from there, never served by the binary.
AXE_VERSION := 4.11.0
AXE_STAMP := .data/npm-axe/axe-core-$(AXE_VERSION).installed
$(AXE_STAMP): | deps
	npm install --prefix .data/npm-axe --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)
	touch $@

axe: $(AXE_STAMP) ## install axe-core for the browser tests (web/, in Debian's chromium)

screens: build deps axe ## screenshots of every page, phone and desktop, to docs/screens/ (needs chromium)
	$(GO) test ./web -count=1 -run '^TestScreens$$' -args -screens=$(CURDIR)/docs/screens
	@[ -n "$$TALLY_TEST_DATABASE_URL" ] || ./$(BIN) devdb stop --dir .data/pgtest >/dev/null 2>&1 || true

# A count, not a duration: Go 1.26's fuzz coordinator can report a bare
# "context deadline exceeded" failure when a -fuzztime duration ends while
# a worker is mid-input (go.dev/issue/75804, fixed in Go 1.27); a count has
# no deadline to race. 20000 inputs take a few seconds per target here.
FUZZTIME ?= 20000x
fuzz: ## each fuzz target for FUZZTIME (default 20000x: inputs, not seconds) from its committed corpus; crashes land in testdata/fuzz
	$(GO) test ./api -run '^$$' -fuzz '^FuzzAmount$$' -fuzztime $(FUZZTIME)
	$(GO) test ./api -run '^$$' -fuzz '^FuzzEvent$$' -fuzztime $(FUZZTIME)
	$(GO) test ./rules -run '^$$' -fuzz '^FuzzPricing$$' -fuzztime $(FUZZTIME)
	$(GO) test ./rules -run '^$$' -fuzz '^FuzzTakeBack$$' -fuzztime $(FUZZTIME)
	$(GO) test ./notify -run '^$$' -fuzz '^FuzzEnvelope$$' -fuzztime $(FUZZTIME)

BENCHFLAGS ?=
bench: build ## pgbench and the real server under load, 3 runs back to back -> docs/BENCHMARKS.md (BENCHFLAGS=-quick: a smoke run); then the Go benchmarks
	$(GO) run ./internal/loadgen -bin $(BIN) -out docs/BENCHMARKS.md $(BENCHFLAGS)
	@url=$$(./$(BIN) devdb start --dir .data/pgbench-go --db postgres) && export TALLY_TEST_DATABASE_URL=$$url && \
	status=0; \
	$(GO) test -run '^$$' -bench HotAccounts -benchtime 4000x ./ledger || status=$$?; \
	$(GO) test -run '^$$' -bench BalanceAsOf -benchtime 2s ./ledger || status=$$?; \
	$(GO) test -run '^$$' -bench ClosePeriod -benchtime 3x ./ledger || status=$$?; \
	$(GO) test -run '^$$' -bench 'APlatformStatementsPagesByDepth|SpentSinceOverALongAccount' -benchtime 5x ./ledger || status=$$?; \
	$(GO) test -run '^$$' -bench Expire1MLots -benchtime 1x -timeout 30m ./loyalty || status=$$?; \
	$(GO) test -run '^$$' -bench 'DepositsBesidePreviews|DepositsWithRetries|ChargesFromAClockBehind' -benchtime 3000x ./prepaid || status=$$?; \
	$(GO) test -run '^$$' -bench BackDatedChargesOverALongHistory -benchtime 5x ./prepaid || status=$$?; \
	./$(BIN) devdb stop --dir .data/pgbench-go; exit $$status

chaos: ## kill the server (SIGKILL, 3x) and crash PostgreSQL (1x) under load; check nothing acknowledged is lost or doubled
	set -o pipefail; $(GO) test ./internal/chaos -count=1 -run '^TestChaos$$' -timeout 15m -v -args -chaos.full | grep -E '^(ops acknowledged|--- |ok|FAIL)|chaos_test'

chaos-failover: deps ## under load, kill the primary PostgreSQL node (pg_auto_failover promotes a standby) and the server; check nothing acknowledged is lost or doubled, print how long writes were unavailable
	set -o pipefail; $(GO) test ./internal/chaos -count=1 -run '^TestChaosFailover$$' -timeout 10m -v -args -chaos.full | grep -E '^(ops acknowledged|writes unavailable|--- |ok|FAIL)|chaos_test|failover_test'

ha: build deps ## a local replicated cluster (pg_auto_failover: monitor, primary, two synchronous standbys) in .data/ha; prints the URLs to export
	@./$(BIN) devdb ha start
	@echo "# then: eval \"\$$(make -s ha)\" && make run; make ha-stop stops the cluster"

ha-stop: build ## stop the replicated cluster of make ha (its data is kept)
	./$(BIN) devdb ha stop

# Mutation testing (docs/TESTING.md): gremlins changes one operator at a time
# in a package and runs that package's own tests; a mutant the tests do not
# notice "lived". Gremlins copies the whole module root per worker, so it
# runs on a copy of the sources only (not .data and its clusters), with test
# caching off, and every test run uses one PostgreSQL cluster started here.
# internal/mutscore then corrects gremlins' counts and prints the scores.
GREMLINS_VERSION := v0.6.0
GREMLINS := .data/gremlins-$(GREMLINS_VERSION)/gremlins
MUTATION_PKGS ?= rules ledger finance prepaid catalog loyalty
MUTATION_WORKERS ?= 2
MUTATION_TIMEOUT ?= 3
MUTATION_MIN ?= 90
mutation: build ## mutation scores of MUTATION_PKGS (default: rules, ledger and the domain packages; hours); fails under 90% efficacy or coverage
	@test -x $(GREMLINS) || GOBIN=$(CURDIR)/$(dir $(GREMLINS)) $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	@$(GO) build -o .data/mutscore ./internal/mutscore
	@out=$(CURDIR)/.data/mutation; rm -rf $$out && mkdir -p $$out/src $$out/pristine $$out/bin && \
	git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf $$out/src.tar && \
	tar -xf $$out/src.tar -C $$out/src && tar -xf $$out/src.tar -C $$out/pristine && rm $$out/src.tar && \
	$(GO) build -o $$out/bin/go ./internal/mutselect && ln $$out/bin/go $$out/mutselect && \
	export MUTSELECT_GO=$$(command -v $(GO)) MUTSELECT_PRISTINE=$$out/pristine GOCACHE=$$out/gocache && \
	trap './$(BIN) devdb stop --dir .data/pgmutation >/dev/null' EXIT && \
	url=$$(./$(BIN) devdb start --dir .data/pgmutation --db postgres --fast) && export TALLY_TEST_DATABASE_URL=$$url && \
	status=0; for p in $(MUTATION_PKGS); do \
		start=$$(date +%s); \
		$$out/mutselect cover -dir $$out/pristine/$$p -out $$out/$$p.cover.json -j $(MUTATION_WORKERS) \
			|| { echo "mutation $$p: its tests fail without a mutant"; status=1; continue; }; \
		export MUTSELECT_COVER=$$out/$$p.cover.json MUTSELECT_LOG=$$out/$$p.selected; \
		(cd $$out/src && PATH=$$out/bin:$$PATH GOFLAGS=-count=1 $(CURDIR)/$(GREMLINS) unleash ./$$p --workers $(MUTATION_WORKERS) \
			--timeout-coefficient $(MUTATION_TIMEOUT) -o $$out/$$p.json) > $$out/$$p.log 2>&1 \
			|| { echo "mutation $$p: gremlins failed, see .data/mutation/$$p.log"; status=1; continue; }; \
		PATH=$$out/bin:$$PATH .data/mutscore -src $$out/src -pkg $$p -report $$out/$$p.json -min $(MUTATION_MIN) -started $$start || status=1; \
		rm -rf $$out/gocache; \
	done; exit $$status

clean-db: build ## stop and delete the local clusters (all local data is lost)
	-./$(BIN) devdb stop --dir .data/pg
	-./$(BIN) devdb stop --dir .data/pgtest
	-./$(BIN) devdb stop --dir .data/pgbench
	-./$(BIN) devdb stop --dir .data/pgbench-go
	-./$(BIN) devdb stop --dir .data/pgchaos
	-./$(BIN) devdb stop --dir .data/pgmutation
	-[ ! -d .data/ha ] || ./$(BIN) devdb ha stop
	-[ ! -d .data/hachaos ] || ./$(BIN) devdb ha stop --dir .data/hachaos
	rm -rf .data
