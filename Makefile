# The front door: `make run` for the demo, `make test` for the whole suite.
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
PG_URL ?= postgres://postgres@127.0.0.1:5432/feedbackportal

.PHONY: run install test test-sqlite test-postgres lint browser bench bench-scale chaos clean

$(VENV)/.installed: requirements.txt requirements-dev.txt .python-version
	@test -x $(PY) || "$$(bin/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed

run: install
	DEBUG=true $(PY) manage.py migrate --noinput
	DEBUG=true $(PY) manage.py seed_demo
	DEBUG=true HOST=$(HOST) PORT=$(PORT) bin/run-portal

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy feedbackportal tests
	DEBUG=true $(PY) manage.py makemigrations --check --dry-run

browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "Browser tests need Debian's Chromium: sudo apt-get install chromium" >&2; exit 1; fi; }

test: install lint browser test-sqlite test-postgres

test-sqlite: install
	$(VENV)/bin/pytest

# Runs when a PostgreSQL server answers at PG_URL; .ci/run makes sure one does.
test-postgres: install
	@if $(PY) -c "import psycopg,sys; psycopg.connect('$(PG_URL)'.rsplit('/',1)[0]+'/postgres', connect_timeout=3).close()" 2>/dev/null; then \
	  DATABASE_URL=$(PG_URL) $(VENV)/bin/pytest -m "not browser"; \
	else echo "PostgreSQL not reachable at $(PG_URL): PostgreSQL tests not run."; fi

bench: install
	DEBUG=true $(PY) -m bench
	DEBUG=true $(PY) -m bench --imports
	$(PY) -m bench.answer --database sqlite
	BENCH_PG=$(or $(BENCH_PG),$(PG_URL:/feedbackportal=)) $(PY) -m bench.answer --database postgres

# 1M leads + 1M feedbacks in a PostgreSQL database of its own (dropped afterwards), served by gunicorn.
bench-scale: install
	BENCH_PG=$(or $(BENCH_PG),$(patsubst %/,%,$(dir $(PG_URL)))) $(PY) -m bench.scale

# Submit 1,000 feedbacks while the target flaps and workers are SIGKILLed; DATABASE=postgres for PostgreSQL.
chaos: install
	$(PY) -m chaos --database $(or $(DATABASE),sqlite)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
