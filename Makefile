# genops-wandb: the two commands of the README are `make demo` and `make test`.
# Both run `make setup` first; it is idempotent and leaves a ready .venv.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

# uv from PATH, else installed with pip into the user's site (no root needed)
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := $(PYTHON) -m uv
endif

.PHONY: setup demo test test-deps lint bench bench-quick fuzz proto clean

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --all-packages --python $(PYTHON) --quiet
	@echo "setup: $(VENV) ready ($$($(VENV)/bin/python --version))"

demo: setup
	$(VENV)/bin/python scripts/demo.py

test: setup lint test-deps
	$(VENV)/bin/python -m pytest

# Debian packages the tests drive: headless Chromium renders the HTML report
# (tests/e2e/test_report_html.py fails without it). Installed once, with apt-get.
test-deps:
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; } \
	  || { echo "test-deps: cannot install the Debian package chromium"; exit 1; }

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every benchmark, then the README's fleet-scale table from bench/results (bench/README.md).
bench: setup
	$(VENV)/bin/python bench/run_all.py

# The fleet-scale benches only, short phases and a smaller seeded ledger (about 2 minutes).
bench-quick: setup
	$(VENV)/bin/python bench/run_all.py --quick

# The long mode of the property-based ingest test, one shard per CPU (CI runs a short one).
fuzz: setup
	$(VENV)/bin/python scripts/fuzz.py

proto: setup
	$(VENV)/bin/python scripts/generate_proto.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output
