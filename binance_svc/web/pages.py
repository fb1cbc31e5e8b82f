"""The HTML index, the interactive API docs (served offline), OpenAPI, and the health checks."""
from __future__ import annotations

import os

import swagger_ui_bundle
from flask import Blueprint, Response, current_app, jsonify, send_from_directory

from ..errors import NotFound, UpstreamError
from ..render.formats import RenderContext, formats_for
from ..render.html import render_docs_page, render_index
from .openapi import build_spec

bp = Blueprint("pages", __name__)
_DOCS_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                "favicon-32x32.png", "favicon-16x16.png")


def _html(body: bytes, max_age: int = 60) -> Response:
    return Response(body, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": f"public, max-age={max_age}"})


@bp.get("/")
def index():
    services = current_app.extensions["binance_svc"]
    entries = []
    for analysis in services.registry:
        path = analysis.example_path
        entries.append({"title": analysis.title, "description": analysis.description,
                        "path": path,
                        "formats": {f: f"{path}?format={f}" for f in formats_for(analysis)}})
    return _html(render_index(entries, RenderContext(path="/", version=services.version)))


@bp.get("/docs")
def docs():
    services = current_app.extensions["binance_svc"]
    return _html(render_docs_page(RenderContext(path="/docs", version=services.version)))


@bp.get("/docs/assets/<name>")
def docs_asset(name):
    if name not in _DOCS_ASSETS:
        raise NotFound("No such documentation asset.")
    resp = send_from_directory(swagger_ui_bundle.swagger_ui_path, name, max_age=86400)
    return resp


@bp.get("/openapi.json")
def openapi():
    services = current_app.extensions["binance_svc"]
    resp = jsonify(build_spec(services.registry, services.version))
    resp.headers["Cache-Control"] = "public, max-age=300"
    return resp


@bp.get("/health")
def health():
    services = current_app.extensions["binance_svc"]
    resp = jsonify({"status": "ok", "version": services.version,
                    "source": services.market.source, "pid": os.getpid()})
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _response_cache_stats(responses) -> dict | None:
    """This worker's rendered-response store: entries, bytes and its budget (None: off)."""
    stats = getattr(responses, "stats", None)
    return stats() if stats else None


@bp.get("/health/ready")
def ready():
    """Ready when Binance is reachable (a cached ping, weight 1) and not banning us."""
    services = current_app.extensions["binance_svc"]
    client = services.client
    state = client.state
    detail = {"source": services.market.source, "banned_for_s": client.ban_remaining(),
              "weight_used_1m": state.weight_used, "weight_budget_1m": client.weight_budget,
              "upstream_calls": state.calls, "last_error": state.last_error,
              "cache": services.cache_status(),
              "response_cache": _response_cache_stats(services.responses)}
    status, code, retry = "ready", 200, None
    if detail["banned_for_s"] > 0:
        status, code, retry = "rate_limited", 503, detail["banned_for_s"]
        detail["reason"] = f"Binance banned this IP; {retry} s left."
    else:
        try:
            fetched = services.market.cache.get_or_fetch(
                "ping", 10, lambda: client.call("ping", 1))
            if fetched.stale:
                raise UpstreamError(fetched.error or "upstream failed")
        except UpstreamError as exc:
            status, code, retry = "unavailable", 503, exc.retry_after or 5
            detail["reason"] = exc.message
    resp = jsonify({"status": status, **detail})
    resp.status_code = code
    resp.headers["Cache-Control"] = "no-store"
    if retry:
        resp.headers["Retry-After"] = str(retry)
    return resp
