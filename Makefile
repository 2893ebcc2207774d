# xsell: `make demo` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
STAMP := $(VENV)/.xsell-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-all e2e e2e-deps lint format typecheck bench clean

$(PY):
	@echo "make: creating the virtual environment $(VENV) ($(PYTHON) -m venv)"
	@$(PYTHON) -m venv $(VENV)

# Says what it does and how long it took: a first install downloads every wheel (minutes, not seconds).
$(STAMP): pyproject.toml constraints.txt | $(PY)
	@echo "make: installing xsell and its dependencies into $(VENV), pinned by constraints.txt"
	@echo "make: (minutes on a first run, while the wheels download; about 20 s when uv's cache has them)"
	@started=$$(date +%s); \
	  $(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip uv \
	  && $(UV) pip install --python $(PY) -c constraints.txt -e '.[dev]' \
	  && echo "make: installed in $$(( $$(date +%s) - started )) s"
	@touch $(STAMP)

install: $(STAMP) ## create .venv if needed and install xsell with dev extras

demo: install ## run the whole platform on the embedded defaults
	@echo "make: $(VENV)/bin/xsell demo (about 3 minutes on a quiet 2-core machine; each step's time is listed at the end)"
	@$(VENV)/bin/xsell demo

test: install ## lint, then the default test suite (slow and e2e tests excluded)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -m "not slow and not e2e" $(PYTEST_ARGS)

E2E_STAMP := $(VENV)/.xsell-e2e-installed
APT_PACKAGES := $(if $(wildcard /usr/lib/postgresql/*/bin/initdb),,postgresql) $(if $(wildcard /usr/bin/chromium),,chromium)

$(E2E_STAMP): $(STAMP)
	$(UV) pip install --python $(PY) --quiet -c constraints.txt -e '.[dev,e2e]'
	touch $(E2E_STAMP)

e2e-deps: $(E2E_STAMP) ## PostgreSQL and Chromium from Debian when missing, the e2e extras (Playwright, no browser download)
	@if [ -n "$(strip $(APT_PACKAGES))" ]; then \
	  echo "apt-get install -y $(APT_PACKAGES)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES); \
	fi

e2e: e2e-deps ## end-to-end tests against real services (PostgreSQL, MLflow, Prefect) and headless Chromium
	$(PY) -m pytest -m e2e tests/e2e $(PYTEST_ARGS)

test-all: install ## every test, slow end-to-end ones included
	$(PY) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy

bench: install ## benchmarks that print figures (BENCH_ARGS to pass options, e.g. --accounts 2000)
	$(PY) -m bench.consolidation $(BENCH_ARGS)
	$(PY) -m bench.features $(BENCH_ARGS)
	$(PY) -m bench.contention $(BENCH_ARGS)
	$(PY) -m bench.scale --out .xsell/bench/scale.json $(BENCH_ARGS)

clean:
	rm -rf .xsell .pytest_cache .ruff_cache .mypy_cache
