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

.PHONY: setup demo test test-deps lint collector bench bench-quick fuzz proto clean

setup:
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@$(UV) sync --locked --all-packages --python $(PYTHON) --quiet
	@echo "setup: $(VENV) ready ($$($(VENV)/bin/python --version))"

demo: setup
	$(VENV)/bin/python scripts/demo.py

test: setup lint collector test-deps
	$(VENV)/bin/python -m pytest

# The collector the e2e tests run (collector-config/build.sh): built once per machine into
# ~/.cache/genops/otelcol/<manifest hash> (minutes cold, then reused by every clone). A
# failed build does not stop the suite: the collector tests then fail in CI quoting its log.
collector:
	@start=$$SECONDS; binary="$$(collector-config/build.sh --print-path)"; \
	if collector-config/build.sh >/dev/null 2>&1; then \
	  echo "collector: $$binary ready in $$((SECONDS - start)) s"; \
	else \
	  echo "collector: build FAILED after $$((SECONDS - start)) s: $$(dirname "$$binary")/build.log"; \
	fi

# Debian packages the tests drive (Chromium, docker-compose, Prometheus, Alertmanager),
# installed with apt-get when missing (scripts/install_test_deps.sh).
test-deps:
	@scripts/install_test_deps.sh

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Every benchmark, then the README's fleet-scale table from bench/results (bench/README.md).
bench: setup
	$(VENV)/bin/python bench/run_all.py

# The fleet-scale benches only, short phases and a smaller seeded ledger (about 2 minutes).
bench-quick: setup
	$(VENV)/bin/python bench/run_all.py --quick

# The long mode of the property-based ingest test, one shard per CPU (CI runs a short one):
# FUZZ_EXAMPLES=N (default 100,000); figures in bench/results/fuzz.json.
fuzz: setup
	$(VENV)/bin/python scripts/fuzz.py $(if $(FUZZ_EXAMPLES),--examples $(FUZZ_EXAMPLES))

proto: setup
	$(VENV)/bin/python scripts/generate_proto.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache demo-output
