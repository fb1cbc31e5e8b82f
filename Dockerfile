# binance_svc image: gunicorn serving the Flask app, built for linux/amd64 and linux/arm64.
#
# Build:  docker build -t binance-svc .
# Run:    docker run --rm -p 8000:8000 --read-only --tmpfs /tmp -e MARKET_SOURCE=demo binance-svc
#
# Both stages use the same base so the venv's interpreter path (/usr/local/bin/python3.11)
# exists in the runtime stage. Pin the digest too (python:3.11-slim-bookworm@sha256:...)
# when you want byte-for-byte rebuilds; Dependabot/Renovate can keep it fresh.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------------------
# build: the virtualenv, from the hash-pinned lock only (wheels only, nothing compiled)
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

WORKDIR /build
COPY requirements.lock ./
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: --no-deps \
        -r requirements.lock \
 && /opt/venv/bin/pip check

# ---------------------------------------------------------------------------------------
# runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="binance-svc" \
      org.opencontainers.image.description="Binance public market data as four analyses, each at one URL in JSON, CSV, HTML, XML and PNG." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim-bookworm"

# MARKET_SOURCE: live Binance data by default; MARKET_SOURCE=demo for the bundled demo market.
# The root filesystem is read-only in production: MPLCONFIGDIR (matplotlib's config and font
# cache) lives on the /tmp tmpfs and gunicorn's worker heartbeat files on /dev/shm (a tmpfs in
# every container). MPL_FONTCACHE_SEED is the font cache built below, which gunicorn.conf.py
# copies into MPLCONFIGDIR at start.
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MARKET_SOURCE=binance \
    GUNICORN_BIND=0.0.0.0:8000 \
    GUNICORN_WORKER_TMP_DIR=/dev/shm \
    MPLCONFIGDIR=/tmp/matplotlib \
    MPLBACKEND=Agg \
    MPL_FONTCACHE_SEED=/opt/matplotlib

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
COPY binance_svc ./binance_svc
COPY wsgi.py gunicorn.conf.py ./

# Byte-compile now (the running container cannot write __pycache__), and build matplotlib's
# font cache at build time so no worker spends its first chart on it.
RUN python -m compileall -q /app \
 && MPLCONFIGDIR=/opt/matplotlib python -c "import matplotlib; matplotlib.use('Agg'); import matplotlib.font_manager" \
 && chmod -R a+rX /app /opt/matplotlib

USER 10001:10001
EXPOSE 8000

# No curl in the image: the interpreter checks /health (which never calls Binance).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', '0.0.0.0:8000').rsplit(':', 1)[-1]; urllib.request.urlopen('http://127.0.0.1:' + port + '/health', timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
