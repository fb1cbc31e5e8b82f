"""The demo market reached like Binance: `DemoAdapter` is a requests transport adapter mounted
on the Spot client's session (no socket, same client code); `make_server()` puts the same market
on a loopback HTTP port, with fault injection and request counting
(`python -m binance_svc.upstream.demo --port 0`)."""
from __future__ import annotations

import json
import time
from urllib.parse import parse_qs, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from .market import Counters, DemoMarket

class DemoAdapter(BaseAdapter):
    """A requests transport adapter answering from a DemoMarket: no socket, same client code."""

    def __init__(self, market: DemoMarket):
        super().__init__()
        self.market = market

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        parts = urlsplit(request.url)
        query = parse_qs(parts.query, keep_blank_values=True)
        status, headers, body, fault = self.market.handle(request.method, parts.path, query)
        if fault is not None and fault.kind in ("delay", "reset"):
            read_timeout = timeout[1] if isinstance(timeout, tuple) else timeout
            if fault.kind == "reset":
                raise requests.ConnectionError("Connection reset by peer", request=request)
            if read_timeout is not None and fault.delay >= read_timeout:
                time.sleep(read_timeout)
                raise requests.ReadTimeout("Read timed out.", request=request)
            time.sleep(fault.delay)
        resp = requests.Response()
        resp.status_code = status
        resp.headers = CaseInsensitiveDict(headers)
        resp._content = body
        resp.encoding = "utf-8"
        resp.url = request.url
        resp.request = request
        resp.reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "")
        return resp

    def close(self):
        pass


# -- the same market on a loopback port ------------------------------------------------------
def make_server(market: DemoMarket, host: str = "127.0.0.1", port: int = 0):
    """A threaded HTTP server answering Binance's paths from `market`, plus control paths:

    GET  /__demo/stats   request counts per path and weight used
    POST /__demo/faults  inject a fault (JSON body: Fault's fields)
    POST /__demo/reset   clear faults and counters
    """
    import socket
    import struct
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet: tests read /__demo/stats instead
            pass

        def _send(self, status, headers, body: bytes):
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = urlsplit(self.path)
            if parts.path == "/__demo/stats":
                with market._lock:
                    doc = {"requests": dict(market.counters.requests),
                           "total_weight": market.counters.total_weight,
                           "weight_used_1m": market.counters.weight_used}
                return self._send(200, {"Content-Type": "application/json"},
                                  json.dumps(doc).encode())
            status, headers, body, fault = market.handle(
                "GET", parts.path, parse_qs(parts.query, keep_blank_values=True))
            if fault is not None and fault.kind == "reset":
                # SO_LINGER 0 makes close() send a TCP RST: a real "connection reset by peer".
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()
                return
            if fault is not None and fault.kind == "delay":
                time.sleep(fault.delay)
            self._send(status, headers, body)

        def do_POST(self):
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            if parts.path == "/__demo/faults":
                fault = market.inject(**json.loads(raw or b"{}"))
                return self._send(200, {"Content-Type": "application/json"},
                                  json.dumps(fault.__dict__).encode())
            if parts.path == "/__demo/reset":
                market.clear_faults()
                with market._lock:
                    market.counters = Counters()
                return self._send(200, {"Content-Type": "application/json"}, b"{}")
            self._send(404, {"Content-Type": "application/json"}, b'{"code":-1000}')

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Serve the demo market on a loopback port.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args(argv)
    server = make_server(DemoMarket(args.seed, args.latency_ms), args.host, args.port)
    print(f"http://{server.server_address[0]}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass

