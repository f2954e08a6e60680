# Two commands for a newcomer: `make run` (service with demo data) and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
HOST    ?= 127.0.0.1
PORT    ?= 5000
WORKERS ?= 2
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed

.PHONY: install run test lint bench bench-quick wrk corpus

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/feedsvc init-db
	$(BIN)/feedsvc demo --if-empty
	$(BIN)/gunicorn --workers $(WORKERS) --bind $(HOST):$(PORT) --access-logfile - wsgi:app

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP) lint
	$(BIN)/python -m pytest

# wrk comes from Debian's packages; without it the bench falls back to a Python load generator.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } || \
		echo "wrk could not be installed; the bench will use its Python load generator"

bench: $(STAMP) wrk
	$(BIN)/python bench/run.py

bench-quick: $(STAMP) wrk
	$(BIN)/python bench/run.py --quick

# Every saved partner feed through the ingestion stages and the store: what is kept, what is lost.
# More folders: make corpus CORPUS_DIRS="path/to/feeds ..."; PostgreSQL too: CORPUS_DATABASE_URL=postgresql://…
corpus: $(STAMP)
	$(BIN)/python bench/corpus.py $(CORPUS_DIRS)
	@if [ -n "$(CORPUS_DATABASE_URL)" ]; then $(BIN)/python bench/corpus.py $(CORPUS_DIRS) --database-url "$(CORPUS_DATABASE_URL)"; fi
