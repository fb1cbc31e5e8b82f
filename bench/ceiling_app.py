"""The stack's ceiling: a bare Flask app that answers each URL with bytes captured beforehand.

`bench/throughput.py` fetches every URL from the service once the service has cached it, writes
a manifest (JSON: {"path?query": {"body_file": ..., "headers": [[name, value], ...]}}) and
starts this app under the same gunicorn settings:

    CEILING_MANIFEST=/tmp/x/manifest.json gunicorn -c gunicorn.conf.py \
        --pythonpath bench ceiling_app:app

One view, one dict lookup, one Response: whatever gunicorn + Werkzeug + Flask cost to send these
exact bytes (with the same Content-Type and, by default, the same static headers) is the most
the service could reach. No logging, no hooks, no parameter parsing.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from flask import Flask, Response, request


def load(manifest_path: str) -> dict[str, tuple[bytes, list[tuple[str, str]]]]:
    manifest = json.loads(Path(manifest_path).read_text())
    base = Path(manifest_path).parent
    out = {}
    for url, entry in manifest.items():
        body = (base / entry["body_file"]).read_bytes()
        out[url] = (body, [tuple(h) for h in entry["headers"]])
    return out


def create_app(manifest_path: str | None = None) -> Flask:
    manifest_path = manifest_path or os.environ["CEILING_MANIFEST"]
    responses = load(manifest_path)
    app = Flask(__name__)

    @app.route("/", defaults={"path": ""})
    @app.route("/<path:path>")
    def view(path):
        qs = request.query_string.decode("latin-1")
        key = request.path + ("?" + qs if qs else "")
        try:
            body, headers = responses[key]
        except KeyError:
            return Response(b"not in the manifest\n", status=404, content_type="text/plain")
        # headers holds Content-Type (and, unless --ceiling-headers=content-type, the service's
        # other static headers: ETag, Cache-Control, Link, Content-Disposition, ...).
        return Response(body, status=200, headers=headers)

    return app


app = create_app() if os.environ.get("CEILING_MANIFEST") else None
