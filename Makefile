# One task runner for people and CI. `make up` runs the demo; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := src/jobcast/browser/vendor
DASH_VENDOR := src/jobcast/dashboard/static/vendor
# The browser client: clients/js (the jobcast-client package) built for a script tag.
BROWSER_JS := src/jobcast/browser/jobcast.js
CLIENT_SOURCES := $(wildcard clients/js/src/*.ts clients/js/src/react/*.ts) \
                  clients/js/package.json clients/js/tsconfig.json clients/js/tsup.browser.config.ts
NODE_MODULES := node_modules/.package-lock.json

.PHONY: install up test test-fast test-client bench bench-stream lint clean

install: $(BIN)/jobcast $(BROWSER_JS) $(DASH_VENDOR)/uPlot.iife.min.js

$(BIN)/jobcast: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The repository's JavaScript (the client package's tools, socket.io-client, uPlot), pinned by
# package-lock.json.
$(NODE_MODULES): package-lock.json package.json clients/js/package.json
	npm ci --no-audit --no-fund --silent

# The browser client is built from clients/js and copied, with socket.io-client's own build
# (vendor/), into the package (both git-ignored) so the page works with no internet; again
# whenever a source of it changes.
$(BROWSER_JS): $(NODE_MODULES) setup.py $(CLIENT_SOURCES) | $(BIN)/jobcast
	$(BIN)/python -c "import runpy; runpy.run_path('setup.py', run_name='jobcast_build')['build_browser_client'](force=True)"

# The dashboard's chart library (uPlot), from npm the same way (git-ignored too).
$(DASH_VENDOR)/uPlot.iife.min.js: package-lock.json setup.py
	$(BIN)/python -c "import runpy; runpy.run_path('setup.py', run_name='jobcast_build')['build_dashboard_assets'](force=True)"

up: install
	$(BIN)/jobcast up

# The conformance oracle (Node BullMQ 6.7.0) and Bull Board, pinned by their lockfile.
ORACLE := tests/conformance/node/node_modules/.package-lock.json
$(ORACLE): tests/conformance/node/package-lock.json
	cd tests/conformance/node && npm ci --no-audit --no-fund --silent

test: install $(ORACLE)
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The client package alone (also part of `make test`, tests/e2e/test_client_js.py): its build,
# vitest against a real `jobcast up`, tsc; and the Next.js example end to end.
test-client: install
	$(BIN)/pytest -q tests/e2e/test_client_js.py tests/e2e/test_nextjs.py $(PYTEST_ARGS)

# The fast tier: no real processes beyond one redis-server (under a minute).
test-fast: install
	$(BIN)/pytest -q -m "not e2e" $(PYTEST_ARGS)

# The benchmark matrix (issue 14, bench/README.md): W1-W5, jobcast and the Node peer alternating
# on one Redis, ratio table on stdout, progress on stderr, raw JSON in bench/results/.
#   make bench BENCH_ARGS="--quick"            smoke run (1 short round of each)
#   make bench BENCH_ARGS="--workload W3"      some workloads only
#   make bench BENCH_ARGS="--commit HEAD"      measure a commit of src/, not the work tree
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-stream: install
	$(BIN)/python bench/stream.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) node_modules $(VENDOR) $(BROWSER_JS) $(BROWSER_JS).map clients/js/dist \
	       examples/nextjs/node_modules examples/nextjs/.next .jobcast build dist $(DASH_VENDOR)
