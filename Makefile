# aiobtclientapi — developer tasks. `make test` is what CI runs.
VENV ?= venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: venv test test-containers examples lint demo bench bench-smoke daemons docs clean

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev,bench,docs]'
	touch $@

# The four Debian 12 daemons (and nginx, openssl) the tests start.
daemons:
	scripts/install-daemons.sh

test: venv daemons
	$(BIN)/pytest --durations=15

# The newer client versions, in containers built from Debian's packages.
test-containers: venv daemons
	scripts/docker-engine.sh
	$(BIN)/python -m aiobtclientapi.testing.images
	BTC_CONTAINERS=1 $(BIN)/pytest tests/contract tests/cli tests/integration tests/plugin -m containers --durations=15

# The example project's tests, on real clients through the pytest plugin.
examples: venv daemons
	$(BIN)/pytest examples/uploader/tests --bt-clients=transmission,qbittorrent

lint: venv
	$(BIN)/ruff check aiobtclientapi tests scripts benchmarks examples
	$(BIN)/ruff format --check aiobtclientapi tests scripts benchmarks examples
	$(BIN)/mypy --strict aiobtclientapi tests benchmarks examples

demo: venv daemons
	$(BIN)/python scripts/demo.py

bench: venv daemons
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.chart
	$(BIN)/python -m benchmarks.cold_start

# The benchmark at a small count, nothing judged: proves every part still runs (CI).
bench-smoke: venv daemons
	$(BIN)/python -m benchmarks --counts 5 --runs 1 --per-client 2 --many-torrents 3 --comparator-count 2 --transfer-count 5 \
		--no-listing --no-judge --json $(VENV)/bench-smoke.json --profile $(VENV)/bench-profiles
	$(BIN)/python -m benchmarks.chart $(VENV)/bench-smoke.json --png $(VENV)/bench-smoke.png

# The documentation site, from docs/ and the docstrings; warnings are errors.
# NO_MKDOCS_2_WARNING: mkdocs-material's banner about its successor, on every build.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(VENV)/site

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
