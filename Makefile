# The Tasks service. `make run` serves it, `make test` tests it; both set up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT

.PHONY: run stop test migrate rollback status devdb devdb-stop lint fmt clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Serve on gunicorn with the background worker beside it (webhooks, purges); with DATABASE_URL
# unset, on the embedded PostgreSQL (shared by every `make run`). Ctrl-C (or SIGTERM to make)
# stops both; when gunicorn exits, the worker is stopped too. Both write their metrics to one
# directory, so /metrics shows the worker's as well (gunicorn removes it at exit).
run: $(BIN)/.installed
	@set -e; \
	DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}"; export DATABASE_URL; \
	$(BIN)/python -m service.server.migrate apply; \
	PROMETHEUS_MULTIPROC_DIR="$$(mktemp -d -t tasks-metrics-XXXXXX)"; \
	TASKS_OWN_METRICS_DIR="$$PROMETHEUS_MULTIPROC_DIR"; \
	export PROMETHEUS_MULTIPROC_DIR TASKS_OWN_METRICS_DIR; \
	set +e; \
	$(BIN)/python -m service.worker & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker' EXIT; \
	$(BIN)/gunicorn -c gunicorn.conf.py service.wsgi:app & gunicorn=$$!; \
	trap 'kill -TERM $$gunicorn $$worker 2>/dev/null' INT TERM; \
	wait $$gunicorn; status=$$?; wait $$gunicorn 2>/dev/null; exit $$status

# The whole test suite against the embedded PostgreSQL, or TEST_DATABASE_URL when set.
test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: $(BIN)/.installed
	@DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}" $(BIN)/python -m service.server.migrate apply

rollback: $(BIN)/.installed
	@DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}" $(BIN)/python -m service.server.migrate rollback

status: $(BIN)/.installed
	@DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}" $(BIN)/python -m service.server.migrate status

devdb: $(BIN)/.installed
	@$(BIN)/python -m service.server.devdb

devdb-stop: $(BIN)/.installed
	@$(BIN)/python -m service.server.devdb stop

# Stop what `make run` left running: the embedded PostgreSQL (gunicorn and the worker stop with Ctrl-C).
stop: devdb-stop

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache
