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
# The same default settings.py uses; exported so manage.py, gunicorn and pytest agree on it.
VAR_DIR ?= $(CURDIR)/var
export VAR_DIR
TLS_DIR := $(VAR_DIR)/tls

.PHONY: help run test lint format clean

help:
	@echo "make run    - install, migrate, seed demo data and serve https://localhost:$(PORT)"
	@echo "              (PORT=9443 make run for another port)"
	@echo "make test   - install, lint, type-check and run the whole test suite"
	@echo "make lint   - ruff check, ruff format --check and mypy only"
	@echo "make format - ruff format and ruff check --fix"
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
	exec $(BIN)/gunicorn tokens_admin.wsgi \
	  --bind 127.0.0.1:$(PORT) \
	  --certfile $(TLS_DIR)/cert.pem --keyfile $(TLS_DIR)/key.pem \
	  --workers $(WORKERS) --timeout 60 --graceful-timeout 10 \
	  --no-control-socket --error-logfile -

# Fast checks first; pytest runs last so the output ends with its summary line.
test: lint
	$(PYTHON) manage.py makemigrations --check --dry-run -v 0
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# var/ stays: with DATABASE_URL pointing at PostgreSQL, losing var/dev-secrets.json would make
# every stored token undecryptable. `rm -rf var` is the deliberate way to start over.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis build *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
