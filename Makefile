# The Tasks service. `make run` serves it, `make test` tests it, `make stop` stops what
# `make run` left running; each sets up .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
export PORT
# Every background process `make run` starts writes its pid to $(RUN_DIR)/<name>.pid;
# `make stop` sends each one SIGTERM, waits for it, and removes the file.
RUN_DIR := .run
# How long `make stop` waits for one process to exit after SIGTERM (gunicorn's default
# graceful timeout is 30 s).
STOP_WAIT ?= 35
# The container image `make image` builds, and its base (any Debian-like image with python3).
IMAGE ?= tasks-service
PYTHON_BASE ?= docker.io/library/python:3.11-slim-bookworm

.PHONY: run stop test migrate rollback status devdb devdb-stop lint fmt clean image image-test

# The virtualenv itself, refusing a Python older than 3.11 in one line.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "the Tasks service needs Python 3.11 or newer; set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# What serving needs (requirements.txt) ...
$(BIN)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

# ... plus the embedded PostgreSQL, for `make run` without DATABASE_URL ...
$(BIN)/.devdb: requirements-devdb.txt | $(BIN)/.runtime
	$(BIN)/pip install --quiet -r requirements-devdb.txt
	touch $@

# ... plus everything the tests and tools need.
$(BIN)/.installed: requirements.txt requirements-devdb.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(BIN)/.runtime $(BIN)/.devdb

# The embedded server is needed only when DATABASE_URL is unset.
DEV_DB_DEPS := $(if $(DATABASE_URL),,$(BIN)/.devdb)

# Serve on gunicorn with the background worker beside it (webhooks, purges), on
# 127.0.0.1:$(PORT) unless HOST or BIND says otherwise; with DATABASE_URL unset, on the
# embedded PostgreSQL (shared by every `make run`). Ctrl-C (or SIGTERM to make) stops both;
# when gunicorn exits, the worker is stopped too. Both write their metrics to one directory,
# so /metrics shows the worker's as well (gunicorn removes it at exit). Each process started
# here writes its pid to $(RUN_DIR)/<name>.pid, so that `make stop` can stop a background run.
run: $(BIN)/.runtime $(DEV_DB_DEPS)
	@set -e; mkdir -p $(RUN_DIR); \
	DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}"; export DATABASE_URL; \
	$(BIN)/python -m service.server.migrate apply; \
	PROMETHEUS_MULTIPROC_DIR="$$(mktemp -d -t tasks-metrics-XXXXXX)"; \
	TASKS_OWN_METRICS_DIR="$$PROMETHEUS_MULTIPROC_DIR"; \
	export PROMETHEUS_MULTIPROC_DIR TASKS_OWN_METRICS_DIR; \
	set +e; \
	$(BIN)/python -m service.worker & worker=$$!; echo $$worker > $(RUN_DIR)/worker.pid; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker; rm -f $(RUN_DIR)/worker.pid' EXIT; \
	$(BIN)/gunicorn -c gunicorn.conf.py --pid $(RUN_DIR)/gunicorn.pid service.wsgi:app & gunicorn=$$!; \
	trap 'kill -TERM $$gunicorn $$worker 2>/dev/null' INT TERM; \
	wait $$gunicorn; status=$$?; wait $$gunicorn 2>/dev/null; exit $$status

# Stop what `make run` left running: every process with a pid file in $(RUN_DIR) (gunicorn
# when it runs in the background, the worker), then the embedded PostgreSQL.
stop:
	@alive() { [ -e /proc/"$$1" ] && ! grep -qs '^State:[[:space:]]*Z' /proc/"$$1"/status; }; \
	for pidfile in $(RUN_DIR)/*.pid; do \
	  [ -f "$$pidfile" ] || continue; \
	  pid=$$(cat "$$pidfile"); name=$$(basename "$$pidfile" .pid); \
	  cmdline=$$(cat /proc/"$$pid"/cmdline 2>/dev/null | tr '\0' ' '); \
	  if ! echo "$$cmdline" | grep -q 'gunicorn\|service'; then \
	    echo "$$name: pid $$pid is gone or not ours (stale pid file removed)"; \
	  elif kill -TERM "$$pid" 2>/dev/null; then \
	    echo "stopping $$name (pid $$pid)"; \
	    for _ in $$(seq $$(( $(STOP_WAIT) * 10 ))); do alive "$$pid" || break; sleep 0.1; done; \
	    if alive "$$pid"; then echo "$$name (pid $$pid) did not stop within $(STOP_WAIT) s"; exit 1; fi; \
	  fi; \
	  rm -f "$$pidfile"; \
	done
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m service.server.devdb stop; fi

# The whole test suite against the embedded PostgreSQL, or TEST_DATABASE_URL when set.
test: $(BIN)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

migrate: $(BIN)/.runtime $(DEV_DB_DEPS)
	@DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}" $(BIN)/python -m service.server.migrate apply

rollback: $(BIN)/.runtime $(DEV_DB_DEPS)
	@DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}" $(BIN)/python -m service.server.migrate rollback

status: $(BIN)/.runtime $(DEV_DB_DEPS)
	@DATABASE_URL="$${DATABASE_URL:-$$($(BIN)/python -m service.server.devdb)}" $(BIN)/python -m service.server.migrate status

devdb: $(BIN)/.devdb
	@$(BIN)/python -m service.server.devdb

devdb-stop:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m service.server.devdb stop; fi

# The production image (Containerfile), with podman or else docker. A CA bundle for pip
# (PIP_CERT, behind a TLS-inspecting proxy) goes in as a build secret, never into a layer.
image:
	@engine=$$(command -v podman || command -v docker) || { echo "make image needs podman or docker"; exit 1; }; \
	secret=""; if [ -s "$${PIP_CERT:-}" ]; then secret="--secret id=pip_cert,src=$$PIP_CERT"; fi; \
	echo "$$engine build -t $(IMAGE) --build-arg PYTHON_BASE=$(PYTHON_BASE) ."; \
	$$engine build -t $(IMAGE) --build-arg PYTHON_BASE=$(PYTHON_BASE) $$secret -f Containerfile .

# Build the image on a Debian base made here (debootstrap, cached in /var/tmp) and run it
# against the machine's PostgreSQL: migrations, /readyz, create, get, list, graceful stop.
image-test: $(BIN)/.runtime
	.ci/image-test

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

fmt: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache $(RUN_DIR)
