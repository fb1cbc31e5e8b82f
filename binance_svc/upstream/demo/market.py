"""The demo market: Binance's endpoints answered from the price model (binance_svc.upstream.
demo.prices), with request weights, fault injection and counters for the tests."""
from __future__ import annotations

import json
import math
import threading
import time
import zlib
from dataclasses import dataclass, field

import numpy as np

from .prices import (COINS, CROSSES, DAY, INTERVAL_S, MARKET_DAILY_VOL, NEW_COIN, Coin, _Noise,
                     _unit_hash)

WEIGHTS = {"/api/v3/klines": 2, "/api/v3/exchangeInfo": 20, "/api/v3/ping": 1,
           "/api/v3/time": 1}


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


def _fmt(x: float, decimals: int = 8) -> str:
    return f"{float(x):.{decimals}f}"
