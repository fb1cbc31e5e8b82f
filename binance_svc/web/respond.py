"""One request to one resource: negotiate, validate, fetch, analyse, render, cache, headers.

The rendered bytes are cached with the data (keyed by the canonical URL and format, never by
Accept), so within a time to live the same URL gives the same bytes and the same strong ETag.

A cache hit is the hot path (bench/throughput.py measures it against a bare Flask view sending
the same bytes): the query is checked for unknown and repeated parameters, the format is
negotiated, and the key is looked up. Only a miss parses and validates the parameters, builds
the report and renders it: an entry exists only for a query that passed validation, so a hit
needs no second check. The entry carries its finished headers (ETag, Link, file name).
"""
from __future__ import annotations

import hashlib
import time

from flask import Response, current_app, request

from ..errors import InvalidParameter
from ..render.formats import REGISTRY, FormField, RenderContext, filename, formats_for, render
from ..render.negotiate import choose_format
from ..report import utcnow
from ..spec import Analysis
from ..upstream import stats
from . import params as p
from .response_cache import Rendered, canonical_url

__all__ = ["Rendered", "serve", "allowed_query", "form_fields", "report_expiry",
           "response_headers", "not_modified"]

# Parameters every analysis takes, whatever its analysis; width and height only with a chart.
RENDER_PARAMS = ("format", "download", "bom")
CHART_PARAMS = ("width", "height")
WIDTH = p.IntRange(300, 3000, 1200)
HEIGHT = p.IntRange(300, 3000, 800)


def allowed_query(analysis: Analysis) -> tuple[str, ...]:
    """The query parameters a resource takes: its own, `table` when it has several tables, the
    format ones and, with a chart, the picture size."""
    extra = ("table",) if len(analysis.tables) > 1 else ()
    chart = CHART_PARAMS if analysis.chart else ()
    return tuple(q.name for q in analysis.query) + extra + RENDER_PARAMS + chart


def form_fields(analysis: Analysis, params: dict) -> tuple[FormField, ...]:
    """The HTML form: every parameter with a label, filled with the values in use."""
    fields = []
    for param in analysis.params:
        if param.label is None:
            continue
        value = params.get(param.name)
        text = ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) \
            else "" if value is None else str(value)
        if param.options:
            fields.append(FormField(param.name, param.label, text, "select", param.options))
        elif param.kind == "int":
            fields.append(FormField(param.name, param.label, text, "number", (), param.lo,
                                    param.hi))
        else:
            fields.append(FormField(param.name, param.label, text))
    return tuple(fields)


def _single(args, allowed: tuple[str, ...]) -> dict[str, str]:
    """The query as a plain dict: unknown or repeated parameters are a 400."""
    out = {}
    for key, values in args.lists():
        if key not in allowed:
            raise InvalidParameter(
                f"Unknown parameter {p.quote(key)}. This resource takes: {', '.join(allowed)}.",
                param=key, allowed=list(allowed))
        if len(values) > 1:
            raise InvalidParameter(f"The parameter {p.quote(key)} was given {len(values)} times; "
                                   "give it once.", param=key)
        out[key] = values[0]
    return out


def serve(analysis: Analysis, **path_args) -> Response:
    req = request._get_current_object()
    services = current_app.extensions["binance_svc"]
    args = _single(req.args, allowed_query(analysis))
    environ = req.environ
    formats = formats_for(analysis)
    choice = choose_format(args.get("format"), environ.get("HTTP_ACCEPT"), formats)
    fmt = choice.format
    environ["binance_svc.format"] = fmt
    download = p.boolean("download", args["download"], False) if "download" in args else False

    path = req.path
    # The canonical query: sorted, without `download` (a header, not the content) and `format`.
    query = sorted((k, v) for k, v in args.items() if k != "download" and k != "format")
    key = (path, tuple(query), fmt)       # hashable: a string only for a shared cache
    cached = services.responses.get(key)
    if cached is not None:
        stats.note_cache("hit")
        environ["binance_svc.response_cache"] = "hit"
        return _respond(environ, cached, choice.negotiated, fmt, download)

    for name in REGISTRY[fmt].rejects:
        if name in args:
            raise InvalidParameter(f"{name} does not apply to {fmt}; leave it out or ask for "
                                   "another format.", param=name)
    now = utcnow()
    params = p.parse_params(analysis, args, path_args, services.settings, now)
    table = None
    if "table" in args:
        table = p.choice("table", args["table"], analysis.table_names, None,
                         case_insensitive=False)
    width = p.integer("width", args.get("width"), *WIDTH)
    height = p.integer("height", args.get("height"), *HEIGHT)
    bom = p.boolean("bom", args.get("bom"), False)
    links = {f: canonical_url(path, query, f) for f in formats}
    report = analysis.build(services.market, params, now)
    ctx = RenderContext(path=path, query=dict(query), links=links, table=table, bom=bom,
                        width=width, height=height, form=form_fields(analysis, params),
                        form_action=analysis.form_action, version=services.version,
                        chart=analysis.chart)
    body = render(report, fmt, ctx)
    expires = report_expiry(report)
    rendered = Rendered(
        body=body, content_type=REGISTRY[fmt].content_type,
        filename=filename(report, fmt, table), expires_at=expires, stale=report.stale,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        link=", ".join(f'<{url}>; rel="alternate"; type="{REGISTRY[f].media_type}"'
                       for f, url in links.items() if f != fmt))
    ttl = int(expires - time.time())
    if ttl > 0 and not report.stale:
        rendered = services.responses.set(key, rendered, timeout=ttl)
    environ["binance_svc.response_cache"] = "miss"
    return _respond(environ, rendered, choice.negotiated, fmt, download)


def report_expiry(report) -> float:
    return report.expires_at.timestamp() if report.expires_at is not None else time.time()


def response_headers(rendered: Rendered, negotiated: bool, fmt: str,
                     download: bool) -> list[tuple[str, str]]:
    """The headers of a 200 or 304 for `rendered`, without Content-Type and Content-Length."""
    max_age = 0 if rendered.stale else max(0, int(rendered.expires_at - time.time()))
    headers = [("Cache-Control", f"public, max-age={max_age}"), ("ETag", rendered.etag),
               ("Link", rendered.link), ("Accept-Ranges", "bytes")]
    if negotiated:
        headers.append(("Vary", "Accept"))
    if rendered.stale:
        headers.append(("Warning", '110 - "Response is Stale"'))
    if fmt != "html" or download:
        disposition = "attachment" if download else "inline"
        headers.append(("Content-Disposition", f'{disposition}; filename="{rendered.filename}"'))
    return headers


def not_modified(environ, rendered: Rendered) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    return bool(if_none_match) and _etag_matches(if_none_match, rendered.etag)


def _respond(environ, rendered: Rendered, negotiated: bool, fmt: str, download: bool) -> Response:
    headers = response_headers(rendered, negotiated, fmt, download)
    if not_modified(environ, rendered):
        return Response(status=304, headers=headers)
    headers.append(("Content-Type", rendered.content_type))
    size = len(rendered.body)
    span = byte_range(environ, rendered.etag, size)
    if span is None:
        return Response(rendered.body, status=200, headers=headers)
    if span == UNSATISFIABLE:
        headers.append(("Content-Range", f"bytes */{size}"))
        return Response(b"", status=416, headers=headers)
    first, last = span
    headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    return Response(rendered.body[first:last + 1], status=206, headers=headers)


UNSATISFIABLE = (-1, -1)


def byte_range(environ, etag: str, size: int) -> tuple[int, int] | None:
    """The one byte range a `Range` header asks for, as (first, last) inclusive; None for the
    whole body (no Range, an If-Range for another version, several ranges, or a header this
    does not read, which RFC 9110 lets a server ignore); UNSATISFIABLE for a range wholly past
    the end. Readers of Parquet over HTTP (polars, DuckDB) fetch the footer this way."""
    header = environ.get("HTTP_RANGE")
    if not header:
        return None
    if_range = environ.get("HTTP_IF_RANGE")
    if if_range is not None and if_range.strip() != etag:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()) \
            or (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:                                   # bytes=-N: the last N bytes
        n = int(last)
        return (max(0, size - n), size - 1) if n and size else UNSATISFIABLE
    lo = int(first)
    hi = min(int(last), size - 1) if last else size - 1
    if lo >= size:
        return UNSATISFIABLE
    return None if hi < lo else (lo, hi)


def _etag_matches(header: str, etag: str) -> bool:
    tags = [t.strip() for t in header.split(",")]
    return "*" in tags or etag in tags or ("W/" + etag) in tags
