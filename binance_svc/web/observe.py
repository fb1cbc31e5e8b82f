"""One structured (JSON) log line per request, and a request id echoed in X-Request-ID."""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid

from flask import g, request

from ..upstream import stats

access_log = logging.getLogger("binance_svc.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = getattr(record, "payload", None)
        if payload is None:
            payload = {"level": record.levelname.lower(), "logger": record.name,
                       "message": record.getMessage()}
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
        payload = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                   + f".{int(record.msecs):03d}Z", **payload}
        return json.dumps(payload, separators=(",", ":"), default=str)


def configure_logging(level: str) -> None:
    root = logging.getLogger("binance_svc")
    if not any(getattr(h, "_binance_svc", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._binance_svc = True
        root.addHandler(handler)
        root.propagate = False
    root.setLevel(level)


def register(app) -> None:
    @app.before_request
    def _begin():
        g.t0 = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        g.upstream = stats.begin()

    @app.after_request
    def _end(response):
        response.headers["X-Request-ID"] = getattr(g, "request_id", "")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if response.mimetype == "text/html":
            # The pages use only same-origin CSS, JS and images (data: for Swagger UI's icons).
            response.headers.setdefault(
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
        upstream = getattr(g, "upstream", None) or {}
        # A stale answer is rendered anew (response cache "miss"), but "stale" is what matters.
        cache = ("stale" if upstream.get("cache") == "stale" else
                 request.environ.get("binance_svc.response_cache") or upstream.get("cache"))
        access_log.info("request", extra={"payload": {
            "level": "info", "event": "request", "request_id": getattr(g, "request_id", None),
            "method": request.method, "path": request.path,
            "query": request.query_string.decode("latin-1")[:300] or None,
            "status": response.status_code,
            "duration_ms": round((time.perf_counter() - g.get("t0", time.perf_counter())) * 1000, 2),
            "format": request.environ.get("binance_svc.format"),
            "cache": cache, "upstream_calls": upstream.get("upstream_calls", 0),
            "upstream_weight": upstream.get("upstream_weight", 0),
            "bytes": response.calculate_content_length(),
        }})
        return response
