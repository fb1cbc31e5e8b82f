"""One structured (JSON) log line per request, and a request id echoed in X-Request-ID."""
from __future__ import annotations

import logging
import os
import re
import sys
import time

import orjson

from ..upstream import stats

access_log = logging.getLogger("binance_svc.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _timestamp(created: float) -> str:
    return (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            + f".{int(created * 1000) % 1000:03d}Z")


def _dumps(payload: dict) -> str:
    return orjson.dumps(payload, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = getattr(record, "payload", None)
        if payload is None:
            payload = {"level": record.levelname.lower(), "logger": record.name,
                       "message": record.getMessage()}
            if record.exc_info:
                payload["exc"] = self.formatException(record.exc_info)
        return _dumps({"ts": _timestamp(record.created), **payload})


class JsonHandler(logging.StreamHandler):
    """The service's own handler; the request log writes its lines to it directly."""

    def write_line(self, line: str) -> None:
        # As logging does (Handler.handleError): a log that cannot be written (closed or full
        # stream, an encoding the text does not fit) never fails the request it describes.
        try:
            with self.lock:
                self.stream.write(line + self.terminator)
                self.flush()
        except (OSError, ValueError, UnicodeError):
            pass


_root = logging.getLogger("binance_svc")


def configure_logging(level: str) -> None:
    if not any(isinstance(h, JsonHandler) for h in _root.handlers):
        handler = JsonHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        _root.addHandler(handler)
        _root.propagate = False
    _root.setLevel(level)


def _log_request(payload: dict) -> None:
    """One line per request. When the service's handler is the only one on the way (as
    deployed), the line is written to it directly: a LogRecord, its dispatch and a formatter
    cost more than the rest of a cached request. Any other set-up goes through logging."""
    if not access_log.isEnabledFor(logging.INFO):
        return
    handlers = _root.handlers
    if (not access_log.handlers and access_log.propagate and not access_log.filters
            and len(handlers) == 1 and type(handlers[0]) is JsonHandler
            and not handlers[0].filters and not _root.filters):
        handlers[0].write_line(_dumps({"ts": _timestamp(time.time()), **payload}))
    else:
        access_log.info("request", extra={"payload": payload})


_CSP = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'"


class RequestLog:
    """WSGI middleware around the Flask app: the request id, two security headers on every
    response, and the request log line.

    Outside Flask so that it sees every response (errors included) and costs a cached request
    a few list operations rather than two Flask hooks and a Werkzeug header map."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        t0 = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID")
        request_id = incoming if incoming and _REQUEST_ID.match(incoming) else os.urandom(16).hex()
        environ["binance_svc.request_id"] = request_id
        upstream = stats.begin()
        seen = []

        def _start_response(status, headers, exc_info=None):
            content_type = length = None
            nosniff = csp = False
            for name, value in headers:
                lower = name.lower()
                if lower == "content-type":
                    content_type = value
                elif lower == "content-length":
                    length = value
                elif lower == "x-content-type-options":
                    nosniff = True
                elif lower == "content-security-policy":
                    csp = True
            headers.append(("X-Request-ID", request_id))
            if not nosniff:
                headers.append(("X-Content-Type-Options", "nosniff"))
            if not csp and content_type and content_type.startswith("text/html"):
                # The pages use only same-origin CSS, JS and images (data: for Swagger UI's icons).
                headers.append(("Content-Security-Policy", _CSP))
            seen.append((status, length))
            return start_response(status, headers, exc_info)

        try:
            return self.wsgi_app(environ, _start_response)
        finally:
            status, length = seen[-1] if seen else ("500", None)
            # A stale answer is rendered anew (response cache "miss"), but "stale" is what matters.
            cache = ("stale" if upstream["cache"] == "stale" else
                     environ.get("binance_svc.response_cache") or upstream["cache"])
            _log_request({
                "level": "info", "event": "request", "request_id": request_id,
                "method": environ.get("REQUEST_METHOD"), "path": _path(environ),
                "query": environ.get("QUERY_STRING", "")[:300] or None,
                "status": int(status[:3]),
                "duration_ms": round((time.perf_counter() - t0) * 1000, 2),
                "format": environ.get("binance_svc.format"),
                "cache": cache, "upstream_calls": upstream["upstream_calls"],
                "upstream_weight": upstream["upstream_weight"],
                "bytes": int(length) if length and length.isdigit() else None,
                "pid": os.getpid(),   # which worker: queueing and caches are per worker
            })


def _path(environ) -> str:
    # PEP 3333 strings are bytes read as latin-1; the path was UTF-8 on the wire.
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return raw


def register(app) -> None:
    app.wsgi_app = RequestLog(app.wsgi_app)
