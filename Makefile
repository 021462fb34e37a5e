# modocr: `make demo` runs the whole pipeline embedded; `make test` runs everything CI runs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check unit integration fmt clean setup services migrations-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/modocr demo --once

check: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy pipeline workers schemas tests bench scripts migrations

services:
	bash scripts/ensure-services.sh
	bash scripts/ensure-chromium.sh

test: $(STAMP) services check migrations-check
	$(BIN)/pytest

# No drift between the models and the migrations (on a scratch SQLite database).
migrations-check: $(STAMP)
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && url="sqlite+aiosqlite:///$$tmp/check.db" \
	  && $(BIN)/alembic -x url="$$url" upgrade head && $(BIN)/alembic -x url="$$url" check

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP) services
	$(BIN)/pytest tests/integration

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
