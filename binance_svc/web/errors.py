"""Every error becomes docs/api.md's error document in the negotiated format: no HTML error pages
from Werkzeug, no tracebacks, no upstream internals."""
from __future__ import annotations

import logging

from flask import Response, request
from werkzeug.exceptions import HTTPException

from ..errors import ApiError, InternalError, MethodNotAllowed, NotFound
from ..render.formats import RenderContext, render_error
from ..render.negotiate import error_choice

log = logging.getLogger("binance_svc.errors")


def error_response(err: ApiError) -> Response:
    try:
        fmt_param = request.args.get("format")
    except Exception:  # a query string Werkzeug cannot decode
        fmt_param = None
    choice = error_choice(fmt_param, request.headers.get("Accept"))
    fmt = choice.format
    request.environ["binance_svc.format"] = fmt
    try:
        body, content_type = render_error(err, fmt, RenderContext(path=request.path))
    except Exception:
        log.exception("rendering an error failed")
        body, content_type = render_error(err, "json", RenderContext())
    resp = Response(body, status=err.status, content_type=content_type)
    resp.headers["Cache-Control"] = "no-store"
    if choice.negotiated:
        resp.vary.add("Accept")
    if err.retry_after:
        resp.headers["Retry-After"] = str(int(err.retry_after))
    if fmt == "csv":
        resp.headers["Content-Disposition"] = 'inline; filename="error.csv"'
    return resp


def register(app) -> None:
    @app.errorhandler(ApiError)
    def _api_error(err: ApiError):
        return error_response(err)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 404:
            err = NotFound(f"There is no resource at {request.path[:200]!r}. See / for the "
                           "resources and /docs for the API.", param=None)
        elif exc.code == 405:
            err = MethodNotAllowed(f"{request.method} is not allowed here; use GET.")
            resp = error_response(err)
            resp.headers["Allow"] = "GET, HEAD, OPTIONS"
            return resp
        else:
            err = ApiError(exc.description or exc.name, status=exc.code or 400)
            err.code = (exc.name or "error").lower().replace(" ", "_")
        return error_response(err)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(InternalError(
            "The service failed to answer this request; it has been logged."))
