"""One request to one resource: negotiate, validate, fetch, analyse, render, cache, headers.

The rendered bytes are cached with the data (keyed by the canonical URL and format, never by
Accept), so within a time to live the same URL gives the same bytes and the same strong ETag.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from flask import Response, current_app, request

from ..analysis.report import utcnow
from ..errors import InvalidParameter
from ..render.formats import REGISTRY, RenderContext, filename, render
from ..render.negotiate import choose_format
from ..upstream import stats
from . import params as p
from .resources import Resource

STALE_MAX_AGE = 0


@dataclass
class Rendered:
    body: bytes
    content_type: str
    filename: str
    expires_at: float
    stale: bool
    etag: str


def _single(args, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query as a plain dict: unknown or repeated parameters are a 400."""
    out = {}
    for key in args.keys():
        values = args.getlist(key)
        if key not in allowed:
            raise InvalidParameter(
                f"Unknown parameter {p.quote(key)}. This resource takes: {', '.join(allowed)}.",
                param=key, allowed=list(allowed))
        if len(values) > 1:
            raise InvalidParameter(f"The parameter {p.quote(key)} was given {len(values)} times; "
                                   "give it once.", param=key)
        out[key] = values[0]
    return out


def serve(resource: Resource, **path_args) -> Response:
    services = current_app.extensions["binance_svc"]
    args = _single(request.args, resource.allowed_query)
    choice = choose_format(args.get("format"), request.headers.get("Accept"), resource.formats)
    fmt = choice.format
    request.environ["binance_svc.format"] = fmt
    now = utcnow()
    params = resource.parse(args, path_args, services.settings, now)
    table = None
    if "table" in args:
        table = p.choice("table", args["table"], resource.tables, None, case_insensitive=False)
    width = p.integer("width", args.get("width"), 300, 3000, 1200)
    height = p.integer("height", args.get("height"), 300, 3000, 800)
    download = p.boolean("download", args.get("download"), False)
    bom = p.boolean("bom", args.get("bom"), False)

    path = request.path
    canonical = {k: v for k, v in sorted(args.items()) if k not in ("download",)}
    links = {f: _url(path, {**{k: v for k, v in canonical.items() if k != "format"},
                            "format": f}) for f in resource.formats}
    key = "response:" + _url(path, {**canonical, "format": fmt})
    cached = services.responses.get(key)
    if cached is not None and cached.expires_at > time.time():
        stats.note_cache("hit")
        rendered = cached
        request.environ["binance_svc.response_cache"] = "hit"
    else:
        report = resource.build(services.market, params, now)
        ctx = RenderContext(path=path, query={k: v for k, v in canonical.items() if k != "format"},
                            links=links, table=table, bom=bom, width=width, height=height,
                            form=resource.form(params, services.settings),
                            form_action=_form_action(resource), version=services.version)
        if fmt == "png" and report.analysis not in ("technical", "statistics", "correlation",
                                                       "liquidity"):
            raise InvalidParameter("This resource has no chart.", param="format")
        body = render(report, fmt, ctx)
        expires = report_expiry(report)
        rendered = Rendered(body=body, content_type=REGISTRY[fmt].content_type,
                            filename=filename(report, fmt, table), expires_at=expires,
                            stale=report.stale, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        ttl = int(expires - time.time())
        if ttl > 0 and not report.stale:
            services.responses.set(key, rendered, timeout=ttl)
        request.environ["binance_svc.response_cache"] = "miss"
    return _respond(rendered, choice.negotiated, links, fmt, download)


def report_expiry(report) -> float:
    return report.expires_at.timestamp() if report.expires_at is not None else time.time()


def _respond(rendered: Rendered, negotiated: bool, links: dict, fmt: str, download: bool):
    max_age = 0 if rendered.stale else max(0, int(rendered.expires_at - time.time()))
    headers = {
        "Cache-Control": f"public, max-age={max_age}",
        "ETag": rendered.etag,
        "Link": ", ".join(f'<{url}>; rel="alternate"; type="{REGISTRY[f].media_type}"'
                          for f, url in links.items() if f != fmt),
    }
    if negotiated:
        headers["Vary"] = "Accept"
    if rendered.stale:
        headers["Warning"] = '110 - "Response is Stale"'
    if fmt != "html" or download:
        disposition = "attachment" if download else "inline"
        headers["Content-Disposition"] = f'{disposition}; filename="{rendered.filename}"'
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match and _etag_matches(if_none_match, rendered.etag):
        return Response(status=304, headers=headers)
    return Response(rendered.body, status=200, headers=headers,
                    content_type=rendered.content_type)


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or ("W/" + etag) in tags


def _url(path: str, query: dict) -> str:
    return path + ("?" + urlencode(query) if query else "")


def _form_action(resource: Resource) -> str:
    return resource.path.split("/<")[0]

