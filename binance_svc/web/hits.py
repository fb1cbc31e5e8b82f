"""Cache hits answered before Flask: a WSGI middleware in front of the app.

A cached response needs no routing, no parameter validation and no Werkzeug request or
response object: the key (path, sorted query without `format`, format) exists only for a query
that passed validation when it was rendered (see respond.py). So for a GET of `/api/v1/...`
whose query is plain (letters, digits and `_ . , : -` around `=` and `&`, each parameter
once, no `download`), this looks the key up in the worker's rendered-response store and, on a
hit, sends the bytes with the headers `respond.serve` would send (the same function makes
them). Everything else, and every miss, goes to Flask unchanged; so does anything unusual (a
percent-escape, `+`, a repeated parameter, an Accept header that admits nothing, a Range
request): Flask then
answers it, from the same cache when it can, and with the error when there is one.

The request log (observe.RequestLog, outside this) logs these hits like any other request.
"""
from __future__ import annotations

import re

from ..errors import ApiError
from ..render.negotiate import FORMATS, choose_format
from ..upstream import stats
from .respond import not_modified, response_headers

_PLAIN_QUERY = re.compile(r"[A-Za-z0-9_.,:=&-]*")
_API = "/api/v1/"


class CachedHits:
    def __init__(self, wsgi_app, responses):
        self.wsgi_app = wsgi_app
        self.responses = responses

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if environ.get("REQUEST_METHOD") != "GET" or not path.startswith(_API) \
                or "HTTP_RANGE" in environ:
            return self.wsgi_app(environ, start_response)
        query = environ.get("QUERY_STRING", "")
        params: dict[str, str] = {}
        if query:
            if not _PLAIN_QUERY.fullmatch(query):
                return self.wsgi_app(environ, start_response)
            for item in query.split("&"):
                if item:
                    name, _, value = item.partition("=")
                    if name in params:
                        return self.wsgi_app(environ, start_response)
                    params[name] = value
            if "download" in params:
                return self.wsgi_app(environ, start_response)
        try:
            # Negotiated over every format: if the best of them is one this resource has, it
            # is also the best of the resource's own (and a key exists only for those).
            choice = choose_format(params.pop("format", None), environ.get("HTTP_ACCEPT"),
                                   FORMATS)
        except ApiError:
            return self.wsgi_app(environ, start_response)
        fmt = choice.format
        rendered = self.responses.get((path, tuple(sorted(params.items())), fmt))
        if rendered is None:
            return self.wsgi_app(environ, start_response)

        environ["binance_svc.format"] = fmt
        environ["binance_svc.response_cache"] = "hit"
        stats.note_cache("hit")
        headers = response_headers(rendered, choice.negotiated, fmt, False)
        if not_modified(environ, rendered):
            start_response("304 NOT MODIFIED", headers)
            return []
        headers.append(("Content-Type", rendered.content_type))
        headers.append(("Content-Length", str(len(rendered.body))))
        start_response("200 OK", headers)
        return [rendered.body]
