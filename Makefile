# One task runner for people and CI. `make up` runs the demo; `make test` runs the suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
VENDOR := src/jobcast/static/vendor

.PHONY: install up test bench lint clean

install: $(BIN)/jobcast $(VENDOR)/socket.io.min.js

$(BIN)/jobcast: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# socket.io-client comes from npm, pinned by package-lock.json; it is copied into the
# package's static folder (git-ignored) so the page works with no internet.
$(VENDOR)/socket.io.min.js: package-lock.json
	npm ci --no-audit --no-fund --silent
	mkdir -p $(VENDOR)
	cp node_modules/socket.io-client/dist/socket.io.min.js $(VENDOR)/
	cp node_modules/socket.io-client/dist/socket.io.min.js.map $(VENDOR)/ 2>/dev/null || true

up: install
	$(BIN)/jobcast up

test: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) node_modules $(VENDOR) .jobcast
