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

# TradingView Lightweight Charts, vendored for the HTML pages (nothing is fetched at run time):
# `make vendor` fetches the pinned release from the npm registry, checks the tarball against its
# npm integrity and the file against its sha256 (both in render/static/vendor/VENDOR.md), and
# only then copies the file and its licence. A new version: change LWC_VERSION, run it, and put
# the new hashes printed by the failed check here and in VENDOR.md after reading the changes.
.PHONY: vendor
LWC_VERSION   := 5.3.0
LWC_INTEGRITY := sha512-w16fu2/FteUkIJdgc9G2tOCKs1fwFSqnqF8+kMgHGv0uGIfcfpEJhziSaQbML1yrkbeg4nQXV3msjmhBzhLNhw==
LWC_SHA256    := 338a625ece52c5b85fb026e222dad5d0f365f745060afbfae96bda91636142e9
LWC_FILE      := lightweight-charts.standalone.production.js
VENDOR_DIR    := $(CURDIR)/binance_svc/render/static/vendor
vendor:
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; cd "$$tmp"; \
	npm pack --silent lightweight-charts@$(LWC_VERSION) >/dev/null; \
	tgz=lightweight-charts-$(LWC_VERSION).tgz; \
	integrity=$$($(PYTHON) -c 'import base64,hashlib,sys; print("sha512-" + base64.b64encode(hashlib.sha512(open(sys.argv[1],"rb").read()).digest()).decode())' $$tgz); \
	if [ "$$integrity" != '$(LWC_INTEGRITY)' ]; then echo "integrity mismatch: $$integrity" >&2; exit 1; fi; \
	tar -xzf $$tgz package/dist/$(LWC_FILE) package/LICENSE; \
	sha=$$($(PYTHON) -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' package/dist/$(LWC_FILE)); \
	if [ "$$sha" != '$(LWC_SHA256)' ]; then echo "sha256 mismatch: $$sha" >&2; exit 1; fi; \
	mkdir -p $(VENDOR_DIR); \
	cp package/dist/$(LWC_FILE) $(VENDOR_DIR)/$(LWC_FILE); \
	cp package/LICENSE $(VENDOR_DIR)/LICENSE.lightweight-charts; \
	echo "lightweight-charts $(LWC_VERSION): integrity and sha256 match; copied to $(VENDOR_DIR)"
