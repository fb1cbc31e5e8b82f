# binance_svc image: gunicorn serving the Flask app, built for linux/amd64 and linux/arm64.
#
# Build:  docker build -t binance-svc .
# Run:    docker run --rm -p 8000:8000 --read-only --tmpfs /tmp -e MARKET_SOURCE=demo binance-svc
#
# Both stages use the same base so the venv's interpreter path (/usr/local/bin/python3.11)
# exists in the runtime stage. The base is written out in each FROM (not through an ARG) so
# Dependabot (.github/dependabot.yml, package-ecosystem docker) can update it. To pin it by
# digest, run the pin-images workflow (it opens a pull request) or deploy/pin-images.sh where
# Docker can reach the registry: it writes python:3.11-slim-bookworm@sha256:... into both FROM
# lines, and Dependabot then moves the digest with each new base image. Until it is pinned in
# git, CI resolves the tag once per build and builds, scans and pushes from that one digest.

# ---------------------------------------------------------------------------------------
# build: the virtualenv, from the hash-pinned lock only (wheels only, nothing compiled)
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1

WORKDIR /build
COPY requirements.lock ./
# The venv gets no pip and no setuptools (neither is in the lock, both have had CVEs, and
# nothing at run time installs packages): the base image's pip installs into it (--python).
RUN python -m venv --without-pip /opt/venv \
 && python -m pip --python /opt/venv/bin/python install --no-cache-dir --require-hashes \
        --only-binary=:all: --no-deps -r requirements.lock \
 && python -m pip --python /opt/venv/bin/python check \
 && if /opt/venv/bin/python -c "import pip" 2>/dev/null \
       || /opt/venv/bin/python -c "import setuptools" 2>/dev/null; then \
        echo "pip or setuptools in the runtime venv" >&2; exit 1; fi

# ---------------------------------------------------------------------------------------
# runtime
FROM python:3.11-slim-bookworm AS runtime

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

# The base image's own pip, setuptools and wheel go too: the app runs from the venv and never
# installs anything, and a scanner would report their CVEs in every image.
# Byte-compile now (the running container cannot write __pycache__), and build matplotlib's
# font cache at build time so no worker spends its first chart on it.
RUN /usr/local/bin/python -m pip uninstall --yes --root-user-action=ignore pip setuptools wheel \
 && python -m compileall -q /app \
 && MPLCONFIGDIR=/opt/matplotlib python -c "import matplotlib; matplotlib.use('Agg'); import matplotlib.font_manager" \
 && chmod -R a+rX /app /opt/matplotlib

USER 10001:10001
EXPOSE 8000

# No curl in the image: the interpreter checks /health (which never calls Binance).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('GUNICORN_BIND', '0.0.0.0:8000').rsplit(':', 1)[-1]; urllib.request.urlopen('http://127.0.0.1:' + port + '/health', timeout=4)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
