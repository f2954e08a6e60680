# Two commands for a newcomer: `make run` (service with demo data) and `make test`.
VENV    ?= .venv
PYTHON  ?= python3
HOST    ?= 127.0.0.1
PORT    ?= 5000
WORKERS ?= 2
BIN      = $(VENV)/bin
STAMP    = $(VENV)/.installed

.PHONY: install run test test-fast test-slow lint bench bench-quick wrk nginx reliability reliability-quick writers websub-bench corpus

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

# Tiers: test-fast (no processes or servers of its own, about half a minute) while working; `make test`
# runs lint and every tier. Exit code 5 (no tests collected) fails like any other.
PYTEST = $(BIN)/python -m pytest -p no:cacheprovider

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

test-slow: $(STAMP)
	$(PYTEST) -m slow

test: $(STAMP) lint test-fast test-slow

# wrk comes from Debian's packages; without it the bench falls back to a Python load generator.
wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } || \
		echo "wrk could not be installed; the bench will use its Python load generator"

# nginx, for the tested front in deploy/: Debian's own `nginx` package, whose /etc/nginx (nginx.conf,
# sites-enabled/default) tests/test_deploy.py copies and installs the site into with deploy/install.sh,
# as on a server. The tests run their own nginx master processes on private ports.
nginx:
	@dpkg-query -W -f='$${Status}' nginx 2>/dev/null | grep -q 'install ok installed' || \
		{ apt-get update -qq && apt-get install -y -qq nginx; } || \
		echo "nginx could not be installed; tests/test_front.py and tests/test_deploy.py will skip"

bench: $(STAMP) wrk
	$(BIN)/python bench/run.py

bench-quick: $(STAMP) wrk
	$(BIN)/python bench/run.py --quick

# Fault injection on private PostgreSQL/Redis servers (needs the postgresql and redis-server packages).
reliability: $(STAMP)
	$(BIN)/python bench/reliability.py $(ARGS)

reliability-quick: $(STAMP)
	$(BIN)/python bench/reliability.py --quick $(ARGS)

writers: $(STAMP)
	$(BIN)/python bench/writers.py $(ARGS)

# WebSub: POST /api/posts → signed delivery latency (p50/p99) and fan-out to 1,000 local subscribers.
websub-bench: $(STAMP)
	cd bench && ../$(BIN)/python websub.py

# Every saved partner feed through the ingestion stages and the store: what is kept, what is lost.
# More folders: make corpus CORPUS_DIRS="path/to/feeds ..."; PostgreSQL too: CORPUS_DATABASE_URL=postgresql://…
corpus: $(STAMP)
	$(BIN)/python bench/corpus.py $(CORPUS_DIRS)
	@if [ -n "$(CORPUS_DATABASE_URL)" ]; then $(BIN)/python bench/corpus.py $(CORPUS_DIRS) --database-url "$(CORPUS_DATABASE_URL)"; fi
