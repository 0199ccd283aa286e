# One task runner for people and CI. `make up` runs the demo; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := src/jobcast/browser/vendor

.PHONY: install up test test-fast bench bench-stream lint clean

install: $(BIN)/jobcast $(VENDOR)/socket.io.min.js

$(BIN)/jobcast: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# socket.io-client comes from npm, pinned by package-lock.json; the package build copies it
# into the client folder (git-ignored) so the page works with no internet.
$(VENDOR)/socket.io.min.js: package-lock.json setup.py
	$(BIN)/python -c "import runpy; runpy.run_path('setup.py', run_name='jobcast_build')['build_browser_client']()"

up: install
	$(BIN)/jobcast up

# The conformance oracle (Node BullMQ 6.7.0) and Bull Board, pinned by their lockfile.
ORACLE := tests/conformance/node/node_modules/.package-lock.json
$(ORACLE): tests/conformance/node/package-lock.json
	cd tests/conformance/node && npm ci --no-audit --no-fund --silent

test: install $(ORACLE)
	$(BIN)/pytest -q $(PYTEST_ARGS)

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
	rm -rf $(VENV) node_modules $(VENDOR) .jobcast build dist
