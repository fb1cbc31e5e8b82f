# binance_svc — the two commands: `make demo` (serve the demo market) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 2

.PHONY: help demo run test install install-test system-deps clean lock test-deploy

help:
	@echo "make demo   serve http://$(HOST):$(PORT) on the bundled demo market (no network needed)"
	@echo "make run    the same against live Binance (MARKET_SOURCE=binance)"
	@echo "make test   install what the tests need and run the whole suite"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs from the lock files when they exist (exact, hash-checked versions), else from
# pyproject.toml; the stamp makes a second `make` instant.
$(VENV)/.installed: $(BIN)/python pyproject.toml $(wildcard requirements.lock)
	@if [ -f requirements.lock ]; then \
	  $(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock; fi
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@if [ ! -f requirements.lock ]; then $(BIN)/python -m pip install --quiet -e .; fi
	@touch $@

$(VENV)/.installed-test: $(VENV)/.installed $(wildcard requirements-test.lock)
	@if [ -f requirements-test.lock ]; then \
	  $(BIN)/python -m pip install --quiet --require-hashes -r requirements-test.lock; \
	else $(BIN)/python -m pip install --quiet -e '.[test]'; fi
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# Debian's nginx, chromium, redis-server and shellcheck for the tests that run the real thing;
# best effort (root only), a test skips with its reason where one cannot be had.
system-deps:
	@if [ -x scripts/install-system-deps.sh ]; then scripts/install-system-deps.sh; fi

demo: install
	@echo "binance_svc on the demo market (synthetic data, no network needed):"
	@echo "  http://$(HOST):$(PORT)/                                   index of every resource"
	@echo "  http://$(HOST):$(PORT)/api/v1/analysis/technical/BTCUSDT?format=html"
	@echo "  http://$(HOST):$(PORT)/docs                               interactive API docs"
	MARKET_SOURCE=demo GUNICORN_BIND=$(HOST):$(PORT) GUNICORN_WORKERS=$(WORKERS) \
	  $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

run: install
	@echo "binance_svc on live Binance: http://$(HOST):$(PORT)/"
	MARKET_SOURCE=binance GUNICORN_BIND=$(HOST):$(PORT) GUNICORN_WORKERS=$(WORKERS) \
	  $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

test: install-test system-deps
	$(BIN)/python -m pytest

# Re-pin requirements.lock (image) and requirements-test.lock (CI) after editing pyproject.toml.
UV_VENV ?= /tmp/uvenv
UV_COMPILE = $(UV_VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock"
lock:
	@test -x $(UV_VENV)/bin/uv || { $(PYTHON) -m venv $(UV_VENV) && $(UV_VENV)/bin/pip install --quiet uv; }
	$(UV_COMPILE) -o requirements.lock
	$(UV_COMPILE) --extra test -o requirements-test.lock

test-deploy: install-test system-deps
	$(BIN)/python -m pytest tests/deploy -q

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
