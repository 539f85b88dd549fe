# Two commands do all set-up on a fresh machine: `make test` and `make demo`.
# The venv step is idempotent: it reruns only when pyproject.toml, requirements.lock or the C source change.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.tog-installed
OUT ?= demo-out
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

# Debian packages: espeak-ng (text-to-speech), a CJK font (rendering Chinese for OCR tests), and headless
# Chromium + its driver (the web console browser tests). Installed when missing and apt-get can run (root);
# elsewhere the tools and tests that need them report "unavailable" or skip.
SYSTEM_PACKAGES := espeak-ng fonts-wqy-microhei chromium chromium-driver
SYS_STAMP := $(VENV)/.tog-system

.PHONY: install system check test demo bench bench-quick lock clean

$(SYS_STAMP):
	@mkdir -p $(VENV)
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing $$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: not installed: $$missing (needs root and apt-get); tools that need them stay unavailable"; fi; \
	fi
	@touch $(SYS_STAMP)

system: $(SYS_STAMP)

$(STAMP): pyproject.toml requirements.lock vlm/_kernels.c | $(SYS_STAMP)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -r requirements.lock
	$(PIP) install --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# Quality gates: lint, formatting and types (configured in pyproject.toml), before any test runs.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: check
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest

demo: install
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/tog demo --out $(OUT)

bench: install
	$(BIN)/python benchmarks/planner.py

bench-quick: install
	$(BIN)/python benchmarks/planner.py --quick

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/' > requirements.lock.new
	@{ head -2 requirements.lock; cat requirements.lock.new; } > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock && rm requirements.lock.new

clean:
	rm -rf $(VENV) $(OUT) .pytest_cache .hypothesis
