"""What the views ask of Binance: typed frames with their provenance, cached and polite.

Symbols are validated against exchangeInfo (cached an hour) before any other call, so an
unknown symbol costs no weight.

Klines come in aligned pages: page k of an interval holds the candles opening in
[k * 1000 * step, (k + 1) * 1000 * step), fetched with startTime/endTime and limit=1000 (weight
2 whatever its length). A page whose candles had all closed when it was fetched never changes:
it is cached by (symbol, interval, k) for CACHE_TTL_KLINES_HISTORY (hours), the page still
forming for the interval's CACHE_TTL_KLINES. Every window over the same history shares the
pages: n candles cost at most ceil(n / 1000) + 1 calls cold, and only the live page once the
others are cached. 1M (months differ in length) has no aligned pages; its whole history fits
one call.
"""
from __future__ import annotations

import contextvars
import time
from concurrent.futures import ThreadPoolExecutor
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
IRREGULAR = ("1M",)
# Where an interval's open times sit against the epoch: weekly candles open on Mondays (the
# epoch, 1970-01-01, was a Thursday; 1970-01-05 a Monday); every other fixed interval opens at
# whole multiples of itself.
PHASE_MS = {"1w": 4 * 86_400_000}
PAGE_THREADS = 4          # concurrent page calls of one request
EXTRA_PAGES = 2           # pages fetched past the window's own when history has holes
DEMO_WARNING = ("Demo market: synthetic prices from a seeded generator, not Binance. "
                "Set MARKET_SOURCE=binance for live data.")


class EmptyLivePage(UpstreamUnavailable):
    """The page holding the current candle came back empty: a fault, or a halted market."""

    page_start_ms = 0


class Market:
    def __init__(self, settings, client: BinanceClient, cache: UpstreamCache, source: str):
        self.settings = settings
        self.client = client
        self.cache = cache
        # (symbol, interval) -> until when its trading is known to be halted (no current
        # candle), so its klines come from one call backwards instead of the empty live page.
        self._halted: dict[tuple[str, str], float] = {}
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

        closed=True drops the candle still forming: a candle counts as closed if it had closed
        when its page was fetched, so a copy cached while it was forming never passes for
        closed later. Candles come in aligned pages (see module doc); trim=False returns every
        candle of the pages used (at least `count` where the market has them), so that
        indicators computed over them do not depend on `count`.
        """
        end_ms = None if end is None else int(end.timestamp() * 1000)
        if interval in IRREGULAR or self._halted.get((symbol, interval), 0) > time.time():
            return self._klines_one_call(symbol, interval, count, end_ms, closed, trim)
        try:
            return self._klines_paged(symbol, interval, count, end_ms, closed, trim)
        except EmptyLivePage as empty:
            # A halted market (status BREAK) has no current candle, but its history is data:
            # one call backwards from the end gives its last candles (a 502 when it has none),
            # and the technical report warns that trading may be halted. If that call finds
            # candles in the page that came back empty, the empty page was a fault: a 502.
            frame, prov = self._klines_one_call(symbol, interval, count, end_ms, closed, trim)
            last = frame["open_time"].iloc[-1].value // 1_000_000 if len(frame) else None
            if last is None or last >= empty.page_start_ms:
                raise
            self._halted[(symbol, interval)] = time.time() + \
                self.settings.cache_ttl_klines[interval]
            return frame, prov

    def _klines_paged(self, symbol, interval, count, end_ms, closed, trim):
        step = INTERVAL_MS[interval]
        span = PAGE * step
        now_ms = int(time.time() * 1000)
        until = now_ms if end_ms is None else min(end_ms, now_ms)
        # The open times the window can hold: up to the last candle ending by `until` (closed)
        # or opening by it, and `count` steps back from there.
        last = until - step if closed else until
        first = last - count * step + 1
        newest, oldest = max(0, last // span), max(0, first // span)
        # With no end, the newest page holds the latest candles of a listed market: empty, it
        # is a fault (or a halted market), never data, whether or not it has settled.
        current = newest if end_ms is None else None
        got = self._pages(symbol, interval, range(newest, oldest - 1, -1), now_ms, current)
        frame = _window(got, end_ms, closed)
        for _ in range(EXTRA_PAGES):
            # Short of `count` only where history has a hole (or the newest page's copy is a
            # little old); an empty page means the market had not opened yet: stop there.
            if len(frame) >= count or oldest == 0 or got[oldest].value.empty:
                break
            oldest -= 1
            got.update(self._pages(symbol, interval, [oldest], now_ms, current))
            frame = _window(got, end_ms, closed)
        frame = frame.tail(count) if trim else frame
        return frame.reset_index(drop=True), self._pages_provenance(got, newest)

    def _pages(self, symbol, interval, pages, now_ms, current=None) -> dict[int, Fetched]:
        """Page number -> its cached copy. The newest first and alone (a failure or a ban there
        stops the request before it spends more weight), then the others concurrently, each in
        a copy of this request's context so the per-request upstream accounting sees them."""
        pages = list(pages)
        got = {pages[0]: self._page(symbol, interval, pages[0], now_ms, pages[0] == current)}
        rest = pages[1:]
        if len(rest) == 1:
            got[rest[0]] = self._page(symbol, interval, rest[0], now_ms, rest[0] == current)
        elif rest:
            with ThreadPoolExecutor(max_workers=min(PAGE_THREADS, len(rest))) as pool:
                futures = {k: pool.submit(contextvars.copy_context().run, self._page, symbol,
                                          interval, k, now_ms, k == current) for k in rest}
                for k, future in futures.items():
                    got[k] = future.result()
        return got

    def _page(self, symbol, interval, k, now_ms, current: bool = False) -> Fetched:
        """Page k: the candles opening in [k * PAGE * step, (k + 1) * PAGE * step).
        `current`: the newest page of a window ending now, which a listed market fills."""
        step = INTERVAL_MS[interval]
        start, stop = k * PAGE * step, (k + 1) * PAGE * step
        # A candle opening before `stop` has closed by stop + step whatever the interval's
        # offset from the epoch (1w candles open on Mondays): settled from then on. (A step
        # earlier would do for most intervals, but then the newest page of a closed window
        # would be settled for the first step of every page and stop following the interval's
        # time to live.) It must hold a candle of a listed market once its first candle
        # (PHASE_MS) has opened.
        settled = stop + step <= now_ms
        first_open = start + (PHASE_MS.get(interval, 0) - start) % step
        if settled:
            key, ttl = f"klines:{symbol}:{interval}:{k}", self.settings.cache_ttl_klines_history
        else:
            key, ttl = f"klines:{symbol}:{interval}:{k}:live", \
                self.settings.cache_ttl_klines[interval]
        must_hold = (current or not settled) and now_ms >= first_open

        def fetch():
            raw = self._call("klines", KLINES_WEIGHT, symbol_param=True, symbol=symbol,
                             interval=interval, startTime=start, endTime=stop - 1, limit=PAGE)
            page = klines_frame(raw)
            if not page.empty:
                opens = page["open_time"].array.asi8 // 1_000_000
                inside = (opens >= start) & (opens < stop)
                if not inside.all():
                    page = page[inside].reset_index(drop=True)
            if page.empty and must_hold:
                # An empty answer here is a fault or a halted market, not data to cache (it
                # would replace a good copy): klines() asks once more, backwards.
                fault = EmptyLivePage("Binance sent no candles for a listed symbol.", status=502)
                fault.page_start_ms = start
                raise fault
            return page

        _, _, fetched = self._cached(key, ttl, fetch)
        return fetched

    def _pages_provenance(self, got: dict[int, Fetched], newest: int) -> Provenance:
        """As of the newest page: an old settled page is still true data and must not make the
        answer look hours old. Stale if any page is, and then expiring when the first stale
        page did, so that a stale answer is not kept as long as a fresh one."""
        head = got[newest]
        stale = [f for f in got.values() if f.stale]
        warnings: list[str] = []
        for fetched in sorted(got.values(), key=lambda f: -f.fetched_at):
            for w in self._provenance(fetched).warnings:
                if w not in warnings:
                    warnings.append(w)
        expires = min([head.expires_at] + [f.expires_at for f in stale])
        return Provenance(source=self.source, stale=bool(stale),
                          fetched_at=datetime.fromtimestamp(head.fetched_at, timezone.utc),
                          warnings=tuple(warnings),
                          expires_at=datetime.fromtimestamp(expires, timezone.utc))

    def _klines_one_call(self, symbol, interval, count, end_ms, closed, trim):
        """Intervals of uneven length: no aligned pages, but a whole history under 1,000
        candles, so one call of the newest 1,000 (ending at `end`) has them all."""
        now_ms = int(time.time() * 1000)
        historical = end_ms is not None and end_ms < now_ms - INTERVAL_MS[interval]
        ttl = (self.settings.cache_ttl_klines_history if historical
               else self.settings.cache_ttl_klines[interval])

        def fetch():
            kwargs = {} if end_ms is None else {"endTime": end_ms}
            page = klines_frame(self._call("klines", KLINES_WEIGHT, symbol_param=True,
                                           symbol=symbol, interval=interval, limit=PAGE,
                                           **kwargs))
            if page.empty and end_ms is None:
                raise UpstreamUnavailable("Binance sent no candles for a listed symbol.",
                                          status=502)
            return page

        frame, prov, fetched = self._cached(f"klines:{symbol}:{interval}:{end_ms}", ttl, fetch)
        frame = _closed_only(frame, fetched, end_ms) if closed else frame
        return (frame.tail(count) if trim else frame).reset_index(drop=True), prov


def _closed_only(frame: pd.DataFrame, fetched: Fetched, end_ms: int | None) -> pd.DataFrame:
    """The candles that had closed when `frame` was fetched (and by `end_ms`)."""
    if frame.empty:
        return frame
    as_of = int(fetched.fetched_at * 1000)
    cutoff = as_of if end_ms is None else min(as_of, end_ms)
    keep = frame["close_time"].array.asi8 < cutoff * 1_000_000
    return frame if keep.all() else frame[keep]


def _window(got: dict[int, Fetched], end_ms: int | None, closed: bool) -> pd.DataFrame:
    """The pages' candles, oldest first: only those closed when their page was fetched
    (closed=True), and none opening after `end_ms`."""
    parts = []
    for k in sorted(got):
        fetched = got[k]
        frame = fetched.value
        if closed:
            frame = _closed_only(frame, fetched, end_ms)
        elif end_ms is not None and not frame.empty:
            keep = frame["open_time"].array.asi8 <= end_ms * 1_000_000
            frame = frame if keep.all() else frame[keep]
        if not frame.empty:
            parts.append(frame)
    if not parts:
        return empty_klines()
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
