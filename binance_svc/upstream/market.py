"""What the views ask of Binance: typed frames with their provenance, cached and polite.

Symbols are validated against exchangeInfo (cached an hour) before any other call, so an
unknown symbol costs no weight. Klines are always fetched in whole pages of 1,000 (a page
costs weight 2 whatever its length), so every analysis of one symbol and interval shares one
cached call.
"""
from __future__ import annotations

import math
import time
from datetime import datetime, timezone

import pandas as pd

from ..report import Provenance
from ..errors import UnknownSymbol, UpstreamError, UpstreamTimeout, UpstreamUnavailable
from ..settings import INTERVAL_MS
from .cache import Fetched, UpstreamCache
from .client import (EXCHANGE_INFO_WEIGHT, KLINES_WEIGHT, BinanceClient, depth_weight,
                     ticker_weight)
from .frames import depth_frames, empty_klines, klines_frame, symbols_frame, tickers_frame

PAGE = 1000
DEMO_WARNING = ("Demo market: synthetic prices from a seeded generator, not Binance. "
                "Set MARKET_SOURCE=binance for live data.")


class Market:
    def __init__(self, settings, client: BinanceClient, cache: UpstreamCache, source: str):
        self.settings = settings
        self.client = client
        self.cache = cache
        self.source = source

    # -- plumbing ---------------------------------------------------------------------------
    def _call(self, method: str, weight: int, **kwargs):
        return self.client.call(method, weight, **kwargs)

    def _provenance(self, fetched: Fetched) -> Provenance:
        warnings = []
        if self.source == "demo":
            warnings.append(DEMO_WARNING)
        if fetched.stale:
            age = max(0, int(time.time() - fetched.fetched_at))
            warnings.append(f"Stale data: Binance could not be used ({fetched.error}) so this "
                            f"is the copy fetched {age} s ago.")
        return Provenance(source=self.source, stale=fetched.stale,
                          fetched_at=datetime.fromtimestamp(fetched.fetched_at, timezone.utc),
                          warnings=tuple(warnings),
                          expires_at=datetime.fromtimestamp(fetched.expires_at, timezone.utc))

    def _cached(self, key: str, ttl: int, fetch):
        fetched = self.cache.get_or_fetch(key, ttl, fetch)
        return fetched.value, self._provenance(fetched), fetched

    # -- resources --------------------------------------------------------------------------
    def symbols(self) -> tuple[pd.DataFrame, Provenance]:
        frame, prov, _ = self._cached(
            "exchangeInfo", self.settings.cache_ttl_exchange_info,
            lambda: symbols_frame(self._call("exchange_info", EXCHANGE_INFO_WEIGHT)))
        return frame, prov

    def require_symbols(self, symbols: list[str], param: str = "symbol") -> None:
        """404 for a symbol Binance does not list; no other call is made before this."""
        try:
            frame, _ = self.symbols()
        except UpstreamTimeout:
            raise   # Binance is stalled: waiting again on the analysis' own call helps nobody
        except UpstreamError:
            return  # cannot check now: Binance's own -1121 still maps to 404
        listed = set(frame["symbol"])
        for symbol in symbols:
            if symbol not in listed:
                raise UnknownSymbol(f"Binance does not list the symbol {symbol!r}. "
                                    "See /api/v1/symbols for the symbols it lists.",
                                    param=param)

    def tickers(self, symbols: list[str]) -> tuple[pd.DataFrame, Provenance]:
        key = "ticker24h:" + ",".join(sorted(symbols))
        frame, prov, _ = self._cached(
            key, self.settings.cache_ttl_ticker,
            lambda: tickers_frame(self._call("ticker_24hr", ticker_weight(len(symbols)),
                                             symbols=sorted(symbols))))
        return frame, prov

    def depth(self, symbol: str, limit: int):
        frames, prov, _ = self._cached(
            f"depth:{symbol}:{limit}", self.settings.cache_ttl_depth,
            lambda: depth_frames(self._call("depth", depth_weight(limit), symbol_param=True,
                                            symbol=symbol, limit=limit)))
        bids, asks = frames
        return bids, asks, prov

    def klines(self, symbol: str, interval: str, count: int, *, end: datetime | None = None,
               closed: bool = True, trim: bool = True) -> tuple[pd.DataFrame, Provenance]:
        """The last `count` candles ending at `end` (or now), oldest first.

        closed=True drops the candle still forming. Fetches whole pages (see module doc);
        trim=False returns every candle fetched (at least `count` where the market has them),
        so that indicators computed over them do not depend on `count`.
        """
        need = count + (1 if closed else 0)
        pages = max(1, math.ceil(need / PAGE))
        end_ms = None if end is None else int(end.timestamp() * 1000)
        step = INTERVAL_MS[interval]
        now_ms = int(time.time() * 1000)
        historical = end_ms is not None and end_ms < now_ms - step
        ttl = 3600 if historical else self.settings.cache_ttl_klines[interval]
        key = f"klines:{symbol}:{interval}:{pages}:{end_ms}"
        frame, prov, fetched = self._cached(
            key, ttl, lambda: self._fetch_klines(symbol, interval, pages * PAGE, end_ms))
        if closed and not frame.empty:
            # A candle is closed if it had closed when it was fetched: a copy cached while it
            # was forming must not pass for closed later.
            as_of = int(fetched.fetched_at * 1000)
            cutoff = pd.Timestamp(as_of if end_ms is None else min(as_of, end_ms), unit="ms",
                                  tz="UTC")
            frame = frame[frame["close_time"] < cutoff]
        return (frame.tail(count) if trim else frame).reset_index(drop=True), prov

    def _fetch_klines(self, symbol, interval, total, end_ms):
        chunks = []
        cursor = end_ms
        remaining = total
        while remaining > 0:
            ask = min(PAGE, remaining)
            kwargs = {"limit": ask}
            if cursor is not None:
                kwargs["endTime"] = cursor
            raw = self._call("klines", KLINES_WEIGHT, symbol_param=True, symbol=symbol,
                             interval=interval, **kwargs)
            page = klines_frame(raw)
            if page.empty:
                if not chunks and end_ms is None:
                    # A listed symbol always has a current candle: an empty answer is a fault,
                    # not data (cached, it would replace a good copy).
                    raise UpstreamUnavailable("Binance sent no candles for a listed symbol.",
                                              status=502)
                break
            chunks.append(page)
            remaining -= len(page)
            if len(page) < ask:
                break   # the market has no older history
            first_ms = int(page["open_time"].iloc[0].value // 1_000_000)
            cursor = first_ms - 1
        if not chunks:
            return empty_klines()
        frame = pd.concat(chunks[::-1], ignore_index=True)
        return frame.drop_duplicates("open_time").sort_values("open_time").reset_index(drop=True)

