# tokens-admin: `make run` serves the product on https://localhost:8443, `make test` proves it.
# Both work from a fresh clone with nothing but Python 3.12 and GNU make installed.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PORT ?= 8443
WORKERS ?= 2
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
# Reinstall only when pyproject.toml's content changes (not its mtime: a checkout touches it);
# the stamp lives (and dies) with the venv.
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)
# mpt-cli 6 pins mpt-api-client 5.4 while the tests use 7, so the CLI gets a venv of its own;
# the stamp names the requirement, so changing it reinstalls and a re-run installs nothing.
CLI_VENV := .venv-cli
CLI_REQUIREMENT := mpt-cli>=6,<7
CLI_STAMP := $(CLI_VENV)/.installed-$(shell printf '%s' '$(CLI_REQUIREMENT)' | cksum | cut -d' ' -f1)
# The same default settings.py uses; exported so manage.py, gunicorn and pytest agree on it.
VAR_DIR ?= $(CURDIR)/var
export VAR_DIR
TLS_DIR := $(VAR_DIR)/tls

.PHONY: help run test lint format clean cli screenshots bench notify

help:
	@echo "make run    - install, migrate, seed demo data and serve https://localhost:$(PORT)"
	@echo "              (PORT=9443 make run for another port)"
	@echo "make test   - install, lint, type-check and run the whole test suite"
	@echo "make lint   - ruff check, ruff format --check and mypy only"
	@echo "make cli    - the mpt-cli the tests drive, in its own venv ($(CLI_VENV))"
	@echo "make format - ruff format and ruff check --fix"
	@echo "make screenshots - docs/screenshots/ at 1440 and 375 px (needs Debian's chromium)"
	@echo "make bench  - the benchmark suite: results/ JSON and docs/performance.md (~13 min);"
	@echo "              make bench QUICK=1 for the short smoke run CI does"
	@echo "make notify - send the due expiry and rotation notices, printed to the terminal"
	@echo "make clean  - remove .venv and caches; keeps var/ (database, dev secrets, certificate)"

$(PYTHON):
	@interpreter="$$(scripts/find-python312)"; \
	echo "creating $(VENV) with $$interpreter"; \
	"$$interpreter" -m venv $(VENV)

$(STAMP): | $(PYTHON)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { \
	  echo "error: $(VENV) is not Python 3.12; run 'make clean' and try again" >&2; exit 1; }
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $@

$(CLI_VENV)/bin/python:
	@interpreter="$$(scripts/find-python312)"; \
	echo "creating $(CLI_VENV) with $$interpreter"; \
	"$$interpreter" -m venv $(CLI_VENV)

$(CLI_STAMP): | $(CLI_VENV)/bin/python
	$(CLI_VENV)/bin/python -m pip install --quiet --disable-pip-version-check '$(CLI_REQUIREMENT)'
	@rm -f $(CLI_VENV)/.installed-*
	@touch $@

cli: $(CLI_STAMP)

# The libraries the benchmark compares against: the bench extra, installed once per
# pyproject.toml like $(STAMP) (whose recipe also removes this stamp).
BENCH_STAMP := $(VENV)/.installed-bench-$(shell cksum < pyproject.toml | cut -d' ' -f1)

$(BENCH_STAMP): | $(STAMP)
	$(PYTHON) -m pip install --quiet --disable-pip-version-check -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-bench-*
	@touch $@

# Issue 5's measurements, end to end (docs/performance.md says how). QUICK=1: small data and
# short runs, written under $(VAR_DIR)/bench-quick/; BENCH_ARGS passes more options through.
bench: $(BENCH_STAMP)
	$(PYTHON) -m benchmarks.run $(if $(QUICK),--quick) $(BENCH_ARGS)

# The server's settings are in gunicorn.conf.py (bind 127.0.0.1:$PORT, TLS, workers, timeouts,
# which proxies are trusted), so make run, the tests and a production start-up share them.
run: $(STAMP)
	@$(PYTHON) manage.py migrate --no-input -v 0
	@$(PYTHON) manage.py devcert --dir $(TLS_DIR)
	@$(PYTHON) manage.py collectstatic --no-input -v 0
	@demo="$$($(PYTHON) manage.py seed_demo --url https://localhost:$(PORT))"; \
	echo "$$demo"; \
	echo "Serving https://localhost:$(PORT) (127.0.0.1, $(WORKERS) workers). Ctrl-C stops."; \
	echo "  certificate: $(TLS_DIR)/cert.pem (self-signed; trust it with --cacert/SSL_CERT_FILE)"; \
	echo "  health:      curl --cacert $(TLS_DIR)/cert.pem https://localhost:$(PORT)/healthz"; \
	echo; \
	exec env PORT=$(PORT) WORKERS=$(WORKERS) EMAIL_BACKEND=$${EMAIL_BACKEND:-console} \
	  APP_BASE_URL=$${APP_BASE_URL:-https://localhost:$(PORT)} \
	  TLS_CERTFILE=$(TLS_DIR)/cert.pem TLS_KEYFILE=$(TLS_DIR)/key.pem \
	  $(BIN)/gunicorn --config gunicorn.conf.py tokens_admin.wsgi

# The expiry and rotation notices that are due, printed to the terminal (EMAIL_BACKEND=smtp and
# the EMAIL_* variables send them; .env.example).
notify: $(STAMP)
	@EMAIL_BACKEND=$${EMAIL_BACKEND:-console} APP_BASE_URL=$${APP_BASE_URL:-https://localhost:$(PORT)} \
	  $(PYTHON) manage.py tokens notify

# Fast checks first; pytest runs last so the output ends with its summary line.
test: lint $(CLI_STAMP)
	$(PYTHON) manage.py makemigrations --check --dry-run -v 0
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The pictures in README.md and docs/screenshots/, made by the browser tests' own setup
# (Debian's Chromium through Playwright; `apt-get install chromium` first).
screenshots: $(STAMP)
	SCREENSHOTS_DIR=$(CURDIR)/docs/screenshots REQUIRE_BROWSER=1 \
	  $(BIN)/pytest -q -p no:cacheprovider tests/browser/test_screenshots.py

# var/ stays: with DATABASE_URL pointing at PostgreSQL, losing var/dev-secrets.json would make
# every stored token undecryptable. `rm -rf var` is the deliberate way to start over.
clean:
	rm -rf $(VENV) $(CLI_VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find . \( -path ./$(VENV) -o -path ./$(CLI_VENV) \) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
