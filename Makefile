# tokens-admin: `make run` serves the product on https://localhost:8443, `make test` proves it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PORT ?= 8443
VAR_DIR ?= $(CURDIR)/var
export VAR_DIR
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
WORKERS ?= 2

.PHONY: help run test lint format check-env clean screenshots bench

help:
	@echo "make run    - install, migrate, seed demo data and serve https://localhost:$(PORT)"
	@echo "make test   - install, lint, type-check and run the whole test suite"
	@echo "make lint   - ruff and mypy only"
	@echo "make clean  - remove the virtual environment and var/ (database, secrets, certificate)"

$(BIN)/python:
	@python=$$(scripts/find-python312) && echo "creating $(VENV) with $$python" && "$$python" -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

check-env: $(STAMP)

run: $(STAMP)
	$(BIN)/python manage.py migrate --no-input -v 0
	$(BIN)/python manage.py devcert
	$(BIN)/python manage.py collectstatic --no-input -v 0
	@$(BIN)/python manage.py seed_demo --url https://localhost:$(PORT)
	@echo "Serving https://localhost:$(PORT) (certificate: $(VAR_DIR)/tls/cert.pem). Ctrl-C stops."
	@echo "Try: curl --cacert $(VAR_DIR)/tls/cert.pem https://localhost:$(PORT)/healthz"
	exec $(BIN)/gunicorn tokens_admin.wsgi \
		--bind 127.0.0.1:$(PORT) \
		--certfile $(VAR_DIR)/tls/cert.pem --keyfile $(VAR_DIR)/tls/key.pem \
		--workers $(WORKERS) --timeout 60 --graceful-timeout 10

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	$(BIN)/python manage.py makemigrations --check --dry-run -v 0
	$(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
