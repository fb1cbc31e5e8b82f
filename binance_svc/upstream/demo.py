"""The demo market: Binance-shaped JSON from a seeded generator, no network needed.

Each coin's log price is a sum of random-phase sines with a Brownian (1/f^2) spectrum from
eight years down to seconds: a continuous function of time, so every interval, every page and
every restart of the same seed agree, and a candle is computed without generating history.
A common market factor makes the coins correlate; cross pairs (ETHBTC) are ratios of their legs.

Reached through the same Spot client as Binance: `DemoAdapter` is a requests transport adapter
mounted on the client's session; `serve()` puts the same market on a loopback HTTP port (used
by tests that need a separate upstream, with fault injection and request counting).
"""
from __future__ import annotations

import json
import math
import threading
import time
import zlib
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import numpy as np
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

DAY = 86_400
INTERVAL_S = {"1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600,
              "2h": 7200, "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": DAY,
              "3d": 3 * DAY, "1w": 7 * DAY, "1M": 30 * DAY}


@dataclass(frozen=True)
class Coin:
    base: str
    quote: str
    price: float          # level the sines oscillate around
    beta: float           # exposure to the market factor
    idio: float           # daily volatility of its own part
    tick: float
    volume: float         # base volume per day
    listed: str = "2017-08-17"


COINS = {
    "BTCUSDT": Coin("BTC", "USDT", 92_000, 1.0, 0.012, 0.01, 18_000, "2017-08-17"),
    "ETHUSDT": Coin("ETH", "USDT", 3_300, 1.25, 0.018, 0.01, 420_000, "2017-08-17"),
    "BNBUSDT": Coin("BNB", "USDT", 880, 0.9, 0.016, 0.01, 300_000, "2017-11-06"),
    "SOLUSDT": Coin("SOL", "USDT", 185, 1.45, 0.028, 0.01, 2_500_000, "2020-08-11"),
    "XRPUSDT": Coin("XRP", "USDT", 2.2, 1.2, 0.03, 0.0001, 180_000_000, "2018-05-04"),
    "ADAUSDT": Coin("ADA", "USDT", 0.72, 1.3, 0.03, 0.0001, 250_000_000, "2018-04-17"),
    "DOGEUSDT": Coin("DOGE", "USDT", 0.21, 1.5, 0.04, 0.00001, 1_800_000_000, "2019-07-05"),
    "TRXUSDT": Coin("TRX", "USDT", 0.29, 0.55, 0.015, 0.00001, 600_000_000, "2018-06-11"),
    "LINKUSDT": Coin("LINK", "USDT", 19.5, 1.35, 0.03, 0.001, 9_000_000, "2019-01-16"),
    "AVAXUSDT": Coin("AVAX", "USDT", 31, 1.4, 0.032, 0.001, 5_000_000, "2020-09-22"),
    "DOTUSDT": Coin("DOT", "USDT", 5.8, 1.3, 0.03, 0.001, 12_000_000, "2020-08-18"),
    "LTCUSDT": Coin("LTC", "USDT", 98, 1.05, 0.022, 0.01, 700_000, "2017-12-13"),
}
CROSSES = {"ETHBTC": ("ETHUSDT", "BTCUSDT", 0.00001), "BNBBTC": ("BNBUSDT", "BTCUSDT", 0.000001),
           "SOLBTC": ("SOLUSDT", "BTCUSDT", 0.0000001)}
MARKET_DAILY_VOL = 0.025
WEIGHTS = {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20, "/api/v3/ping": 1,
           "/api/v3/time": 1}


class _Noise:
    """A Brownian-like path as a sum of sines: f(t) with Var[f(t+d) - f(t)] ~ vol^2 * d/DAY."""

    FREQS = np.geomspace(1 / (8 * 365 * DAY), 1 / 4.0, 120)

    def __init__(self, seed: int, daily_vol: float):
        rng = np.random.default_rng(seed)
        f = self.FREQS
        raw = f ** -0.5 * rng.uniform(0.6, 1.4, f.size)
        var_day = np.sum(raw ** 2 * (1 - np.cos(2 * np.pi * f * DAY)))
        self.amp = raw * daily_vol / math.sqrt(var_day)
        self.freq = f
        self.phase_cycles = rng.uniform(0, 1, f.size)

    def __call__(self, t: np.ndarray, min_period: float = 0.0) -> np.ndarray:
        t = np.asarray(t, dtype="float64")
        flat = t.reshape(-1)
        out = np.empty(flat.size)
        # Components much faster than the sampling only add noise between samples: skip them.
        keep = self.freq * min_period < 1.0
        freq, phase, amp = self.freq[keep], self.phase_cycles[keep], self.amp[keep]
        # Chunks of times keep the (times x components) matrix small.
        for i in range(0, flat.size, 4096):
            chunk = flat[i:i + 4096]
            # Reduce to [0, 1) cycles before sin: sin of arguments ~1e9 rad is many times slower.
            cycles = np.multiply.outer(chunk, freq) + phase
            cycles -= np.floor(cycles)
            out[i:i + 4096] = np.einsum("ij,j->i", np.sin(2 * np.pi * cycles), amp)
        return out.reshape(t.shape)


def _unit_hash(*parts) -> np.ndarray:
    """Deterministic pseudo-random numbers in [0, 1) from integer arrays (cheap, vectorised)."""
    x = np.zeros(np.broadcast(*parts).shape, dtype="uint64")
    for p in parts:
        x = (x ^ np.asarray(p, dtype="uint64")) * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(29)
    return (x >> np.uint64(11)).astype("float64") / float(1 << 53)


@dataclass
class Fault:
    kind: str                   # "status", "delay", "malformed", "truncated", "empty", "reset"
    status: int = 500
    retry_after: int | None = None
    delay: float = 0.0
    count: int = 1              # how many requests it hits; -1: until cleared
    path: str | None = None     # only requests whose path starts with this
    body: str | None = None


@dataclass
class Counters:
    requests: dict = field(default_factory=dict)
    weight_minute: int = 0
    weight_used: int = 0
    total_weight: int = 0


class DemoMarket:
    def __init__(self, seed: int = 7, latency_ms: int = 0, clock=time.time):
        self.seed = seed
        self.latency = latency_ms / 1000
        self.clock = clock
        self._market = _Noise(seed, MARKET_DAILY_VOL)
        self._idio = {s: _Noise(seed * 1_000 + zlib.crc32(s.encode()) % 997, c.idio)
                      for s, c in [*COINS.items(), ("NEWUSDT", NEW_COIN)]}
        self._sym_id = {s: zlib.crc32(s.encode()) for s in [*COINS, *CROSSES, "NEWUSDT"]}
        now = int(self.clock())
        # One young coin, listed 30 days before start-up, shows the "short history" warnings.
        self.young_listed = (now // DAY - 30) * DAY
        self.faults: list[Fault] = []
        self.counters = Counters()
        self._lock = threading.Lock()

    # -- prices ---------------------------------------------------------------------------
    def listed_s(self, symbol: str) -> int:
        if symbol in CROSSES:
            a, b, _ = CROSSES[symbol]
            return max(self.listed_s(a), self.listed_s(b))
        if symbol == "NEWUSDT":
            return self.young_listed
        return int(np.datetime64(COINS[symbol].listed, "s").astype("int64"))

    def log_price(self, symbol: str, t: np.ndarray, min_period: float = 0.0) -> np.ndarray:
        if symbol in CROSSES:
            a, b, _ = CROSSES[symbol]
            return self.log_price(a, t, min_period) - self.log_price(b, t, min_period)
        coin = self.coin(symbol)
        return (math.log(coin.price) + coin.beta * self._market(t, min_period)
                + self._idio[symbol](t, min_period))

    def coin(self, symbol: str) -> Coin:
        if symbol in CROSSES:
            a, b, tick = CROSSES[symbol]
            ca, cb = COINS[a], COINS[b]
            return Coin(ca.base, cb.base, ca.price / cb.price, 1.0, ca.idio, tick,
                        ca.volume * 0.05)
        return NEW_COIN if symbol == "NEWUSDT" else COINS[symbol]

    def symbols(self) -> list[str]:
        return list(COINS) + list(CROSSES) + ["NEWUSDT"]

    def _round(self, symbol, prices):
        tick = self.coin(symbol).tick
        return np.round(np.round(prices / tick) * tick, 10)

    # -- endpoints ------------------------------------------------------------------------
    def klines(self, symbol, interval, limit=500, start_ms=None, end_ms=None) -> list:
        step = INTERVAL_S[interval]
        now = self.clock()
        first = math.ceil(self.listed_s(symbol) / step) * step
        last = math.floor(now / step) * step            # the candle still forming
        if end_ms is not None:
            last = min(last, math.floor(end_ms / 1000 / step) * step)
        if start_ms is not None:
            begin = max(first, math.ceil(start_ms / 1000 / step) * step)
            opens = begin + step * np.arange(limit, dtype="int64")
            opens = opens[opens <= last]
        else:
            begin = max(first, last - step * (limit - 1))
            opens = np.arange(begin, last + 1, step, dtype="int64") if last >= begin else \
                np.array([], dtype="int64")
        if opens.size == 0:
            return []
        ends = np.minimum(opens + step, now)
        # Four points a candle (open, two inside, close); a close is the next candle's open.
        fracs = np.array([0.0, 1 / 3, 2 / 3])
        inner = opens[:, None] + (ends - opens)[:, None] * fracs[None, :]
        grid = np.concatenate([inner.reshape(-1), ends[-1:]])
        flat = self.log_price(symbol, grid, min_period=step / 8)
        logp = np.column_stack([flat[:-1].reshape(-1, 3), flat[3::3]])
        prices = np.exp(logp)
        sid = self._sym_id[symbol]
        u1, u2, u3 = (_unit_hash(opens, sid, k) for k in (1, 2, 3))
        o, c = prices[:, 0], prices[:, -1]
        wick = 0.0015 * math.sqrt(step / 3600)
        h = prices.max(axis=1) * (1 + wick * u1 * 0.5)
        lo = prices.min(axis=1) * (1 - wick * u2 * 0.5)
        coin = self.coin(symbol)
        move = np.abs(np.diff(logp, axis=1)).sum(axis=1)
        elapsed = (ends - opens) / step
        vol = coin.volume * step / DAY * (0.55 + 0.9 * u3) * (1 + 40 * move) * elapsed
        avg = (o + h + lo + c) / 4
        quote_vol = vol * avg
        trades = np.maximum(1, (quote_vol / np.maximum(50.0, avg * 0.02)).astype("int64"))
        taker = vol * (0.42 + 0.16 * u1)
        o, h, lo, c = (self._round(symbol, x) for x in (o, h, lo, c))
        h = np.maximum.reduce([h, o, c])
        lo = np.minimum.reduce([lo, o, c])
        def col(values, decimals=8):
            return [f"{v:.{decimals}f}" for v in np.asarray(values, dtype="float64").tolist()]

        open_ms = (opens * 1000).tolist()
        close_ms = ((opens + step) * 1000 - 1).tolist()
        zero = ["0"] * opens.size
        rows = [list(r) for r in zip(open_ms, col(o), col(h), col(lo), col(c), col(vol, 5),
                                     close_ms, col(quote_vol), trades.tolist(), col(taker, 5),
                                     col(taker * avg), zero)]
        return rows

    def ticker(self, symbol) -> dict:
        now = self.clock()
        t = now - DAY + np.linspace(0, DAY, 289)
        t = t[t >= self.listed_s(symbol)] if self.listed_s(symbol) > now - DAY else t
        prices = self._round(symbol, np.exp(self.log_price(symbol, t)))
        coin = self.coin(symbol)
        sid = self._sym_id[symbol]
        u = float(_unit_hash(np.array([int(now // 60)]), sid, 5)[0])
        volume = coin.volume * (0.7 + 0.6 * u)
        wavg = float(prices.mean())
        o, last = float(prices[0]), float(prices[-1])
        return {
            "symbol": symbol, "priceChange": _fmt(last - o),
            "priceChangePercent": f"{(last - o) / o * 100:.3f}", "weightedAvgPrice": _fmt(wavg),
            "prevClosePrice": _fmt(o), "lastPrice": _fmt(last), "lastQty": "1.00000000",
            "bidPrice": _fmt(last - coin.tick), "bidQty": "1.00000000", "askPrice": _fmt(last),
            "askQty": "1.00000000", "openPrice": _fmt(o), "highPrice": _fmt(prices.max()),
            "lowPrice": _fmt(prices.min()), "volume": _fmt(volume, 8),
            "quoteVolume": _fmt(volume * wavg, 8), "openTime": int((now - DAY) * 1000),
            "closeTime": int(now * 1000), "firstId": 1, "lastId": int(volume) + 1,
            "count": int(volume * wavg / max(50.0, wavg * 0.02)),
        }

    def depth(self, symbol, limit=100) -> dict:
        now = self.clock()
        coin = self.coin(symbol)
        mid = float(np.exp(self.log_price(symbol, np.array([now]))[0]))
        tick = coin.tick
        sid = self._sym_id[symbol]
        second = int(now)
        out = {"lastUpdateId": second * 10 + sid % 10}
        for side, sign, k in (("bids", -1, 11), ("asks", 1, 12)):
            idx = np.arange(limit, dtype="int64")
            # The same book whatever the limit: levels a tick apart near the touch, spreading
            # to about 4 % from mid at level 5,000, as on a liquid Binance book.
            rel = 1e-6 * idx + 0.04 * (idx / 5000) ** 2
            want = np.round(rel * mid / tick * (0.8 + 0.4 * _unit_hash(idx, sid, k)))
            offsets = np.maximum.accumulate(want - idx) + idx
            best = (math.floor(mid / tick) if sign < 0 else math.floor(mid / tick) + 1)
            prices = (best + sign * offsets) * tick
            prices = prices[prices > 0]
            n = prices.size
            # About $15-20 M within 10 bps of a BTC mid, as on Binance's deepest books.
            qty_scale = coin.volume / 24 / 4000
            qty = qty_scale * (0.2 + _unit_hash(idx[:n], sid, second, k + 10) * 1.6) \
                * (1 + idx[:n] / 200)
            out[side] = [[_fmt(p), _fmt(q, 5)] for p, q in zip(np.round(prices, 10), qty)]
        return out

    def exchange_info(self) -> dict:
        syms = []
        for s in self.symbols():
            c = self.coin(s)
            syms.append({"symbol": s, "status": "TRADING", "baseAsset": c.base,
                         "quoteAsset": c.quote, "baseAssetPrecision": 8,
                         "quotePrecision": 8, "isSpotTradingAllowed": True})
        syms.append({"symbol": "LUNAUSDT", "status": "BREAK", "baseAsset": "LUNA",
                     "quoteAsset": "USDT", "baseAssetPrecision": 8, "quotePrecision": 8,
                     "isSpotTradingAllowed": False})
        return {"timezone": "UTC", "serverTime": int(self.clock() * 1000),
                "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE",
                                "intervalNum": 1, "limit": 6000}],
                "exchangeFilters": [], "symbols": syms}

    # -- HTTP -----------------------------------------------------------------------------
    def inject(self, **kwargs) -> Fault:
        fault = Fault(**kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.path and not path.startswith(fault.path):
                    continue
                if fault.count == 0:
                    continue
                if fault.count > 0:
                    fault.count -= 1
                return fault
        return None

    def _weigh(self, path: str, query: dict) -> int:
        if path == "/api/v3/depth":
            limit = int(query.get("limit", ["100"])[0] or 100)
            return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
        if path == "/api/v3/ticker/24hr":
            n = len(json.loads(query["symbols"][0])) if "symbols" in query else 1
            return 2 if n <= 20 else 40 if n <= 100 else 80
        return WEIGHTS.get(path, 1)

    def handle(self, method: str, path: str, query: dict) -> tuple[int, dict, bytes, Fault | None]:
        """One request -> (status, headers, body, fault that applies or None)."""
        with self._lock:
            self.counters.requests[path] = self.counters.requests.get(path, 0) + 1
        fault = self._take_fault(path)
        if self.latency:
            time.sleep(self.latency)
        try:
            weight = self._weigh(path, query)
        except (ValueError, KeyError):
            weight = 1
        with self._lock:
            minute = int(self.clock() // 60)
            if self.counters.weight_minute != minute:
                self.counters.weight_minute, self.counters.weight_used = minute, 0
            self.counters.weight_used += weight
            self.counters.total_weight += weight
            used = self.counters.weight_used
        headers = {"Content-Type": "application/json;charset=UTF-8",
                   "X-MBX-USED-WEIGHT-1M": str(used)}
        if fault is not None and fault.kind == "status":
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            body = fault.body
            if body is None:
                body = json.dumps({"code": -1003 if fault.status in (418, 429) else -1000,
                                   "msg": "Injected failure."})
            return fault.status, headers, body.encode(), fault
        try:
            status, payload = self._route(path, query)
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            status, payload = 400, {"code": -1102, "msg": "A mandatory parameter was not sent, "
                                                          "was empty/null, or malformed."}
        body = json.dumps(payload, separators=(",", ":")).encode()
        if fault is not None and fault.kind == "malformed":
            body = b"<html><body>502 Bad Gateway</body></html>"
            headers["Content-Type"] = "text/html"
        elif fault is not None and fault.kind == "truncated":
            body = body[: max(1, len(body) // 2)]
        elif fault is not None and fault.kind == "empty":
            body = b"[]" if path == "/api/v3/klines" else b"{}"
        return status, headers, body, fault

    def _route(self, path, query):
        q = {k: v[0] for k, v in query.items()}
        listed = set(self.symbols())
        bad_symbol = (400, {"code": -1121, "msg": "Invalid symbol."})
        if path in ("/api/v3/ping",):
            return 200, {}
        if path == "/api/v3/time":
            return 200, {"serverTime": int(self.clock() * 1000)}
        if path == "/api/v3/exchangeInfo":
            return 200, self.exchange_info()
        if path == "/api/v3/klines":
            if q.get("symbol") not in listed:
                return bad_symbol
            if q.get("interval") not in INTERVAL_S:
                return 400, {"code": -1120, "msg": "Invalid interval."}
            limit = int(q.get("limit", 500))
            if not 1 <= limit <= 1000:
                return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
            start = int(q["startTime"]) if "startTime" in q else None
            end = int(q["endTime"]) if "endTime" in q else None
            return 200, self.klines(q["symbol"], q["interval"], limit, start, end)
        if path == "/api/v3/ticker/24hr":
            if "symbols" in q:
                wanted = json.loads(q["symbols"])
                if any(s not in listed for s in wanted):
                    return bad_symbol
                return 200, [self.ticker(s) for s in wanted]
            if q.get("symbol") not in listed:
                return bad_symbol
            return 200, self.ticker(q["symbol"])
        if path == "/api/v3/depth":
            if q.get("symbol") not in listed:
                return bad_symbol
            limit = int(q.get("limit", 100))
            if not 1 <= limit <= 5000:
                return 400, {"code": -1130, "msg": "Invalid data sent for a parameter."}
            return 200, self.depth(q["symbol"], limit)
        return 404, {"code": -1000, "msg": "Unknown endpoint."}


NEW_COIN = Coin("NEW", "USDT", 1.8, 1.6, 0.05, 0.0001, 40_000_000, "2026-01-01")


def _fmt(x: float, decimals: int = 8) -> str:
    return f"{float(x):.{decimals}f}"


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


if __name__ == "__main__":
    main()
