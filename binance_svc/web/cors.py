"""CORS for the read-only API: notebooks and dashboards on other origins may fetch its URLs.

A WSGI middleware around the cache hits and Flask (inside the request log), so that every API
response gets the same headers whoever made it: a cache hit (web/hits.py), a miss
(web/respond.py), a 304, an error (web/errors.py), a 404 of a path that does not exist. Only
GET and HEAD are offered; nothing is state-changing and no credentials are used, so `*` is
safe and is the default (CORS_ORIGINS).

With a list of origins the answer depends on the request's Origin, so every API response then
carries `Vary: Origin` (for caches in between), whether or not the origin is listed.
"""
from __future__ import annotations

# Headers a script on another origin may read (the CORS-safelisted ones need no mention).
EXPOSE = "ETag, Link, Warning, Retry-After, Content-Disposition, Content-Range, X-Request-ID"
# Headers clients send: negotiation, revalidation, byte ranges (Parquet readers), request id.
ALLOW_HEADERS = "Accept, If-None-Match, Range, If-Range, X-Request-ID"
ALLOW_METHODS = "GET, HEAD"
# Chromium caps a preflight's lifetime at 2 h; asking for more would read as a promise.
MAX_AGE = "7200"


def applies(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


class Cors:
    def __init__(self, wsgi_app, origins: tuple[str, ...]):
        self.wsgi_app = wsgi_app
        self.any = origins == ("*",)
        self.origins = frozenset(origins)

    def allowed(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from `origin`, else None."""
        if self.any:
            return "*"
        return origin if origin and origin in self.origins else None

    def __call__(self, environ, start_response):
        if not self.origins or not applies(environ.get("PATH_INFO", "")):
            return self.wsgi_app(environ, start_response)
        origin = environ.get("HTTP_ORIGIN")
        allow = self.allowed(origin)
        if (allow and environ.get("REQUEST_METHOD") == "OPTIONS"
                and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ):
            headers = [("Access-Control-Allow-Origin", allow),
                       ("Access-Control-Allow-Methods", ALLOW_METHODS),
                       ("Access-Control-Allow-Headers", ALLOW_HEADERS),
                       ("Access-Control-Max-Age", MAX_AGE),
                       ("Allow", "GET, HEAD, OPTIONS")]
            if not self.any:
                headers.append(("Vary", "Origin"))
            start_response("204 No Content", headers)
            return []
        extra = [("Access-Control-Allow-Origin", allow),
                 ("Access-Control-Expose-Headers", EXPOSE)] if allow else []
        vary = not self.any

        def _start_response(status, headers, exc_info=None):
            headers.extend(extra)
            if vary:
                _add_vary(headers, "Origin")
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, _start_response)


def _add_vary(headers: list, name: str) -> None:
    for i, (key, value) in enumerate(headers):
        if key.lower() == "vary":
            if name.lower() not in (v.strip().lower() for v in value.split(",")):
                headers[i] = (key, f"{value}, {name}")
            return
    headers.append(("Vary", name))
