# Pitstop: `make demo` and `make test` are the whole set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-unit lint locales catalogs services clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP) catalogs
	$(BIN)/pitstop demo

# Unit tests need nothing; integration tests use real PostgreSQL and Redis, which
# tests/services.py finds, starts, or explains how to install.
test: $(STAMP) catalogs
	$(BIN)/python -m tests.services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-unit: $(STAMP) catalogs
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Extract message ids, merge them into the four catalogs, compile the .mo files.
locales: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg -k N_ -k NP_:1,2 -k ngettext:2,3 -o locales/messages.pot \
		--project=Pitstop --no-location --sort-output core bot webhooks pitstop
	@for lang in en sw ru kk; do \
		if [ -f locales/$$lang/LC_MESSAGES/messages.po ]; then \
			$(BIN)/pybabel -q update --no-fuzzy-matching -i locales/messages.pot -d locales -l $$lang; \
		else \
			$(BIN)/pybabel -q init -i locales/messages.pot -d locales -l $$lang; \
		fi; \
	done
	$(BIN)/pybabel -q compile --use-fuzzy -d locales

# Compile the committed .po catalogs into the .mo files the program reads.
catalogs: $(STAMP)
	$(BIN)/pybabel -q compile --use-fuzzy -d locales

services:
	$(BIN)/python -m tests.services

# The virtualenv and the test caches; not var/, which holds the embedded database.
clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
