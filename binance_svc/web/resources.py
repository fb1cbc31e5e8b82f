"""The five resources: how each parses its parameters and builds its Report.

A resource knows its query parameters (anything else is a 400), its form for the HTML page and
which tables and formats it has. `build` makes the upstream calls through `Market` and hands
the frames to the pure analysis function.
"""
from __future__ import annotations

import contextvars
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from ..analysis.correlation import correlation_report
from ..analysis.liquidity import liquidity_report
from ..analysis.report import Provenance, Report, utcnow
from ..analysis.statistics import statistics_report
from ..analysis.symbols import symbols_report
from ..analysis.technical import WARMUP_CANDLES, technical_report
from ..render.formats import FormField
from ..render.negotiate import FORMATS
from ..settings import INTERVALS
from . import params as p

# Parameters every analysis resource takes, whatever its analysis.
RENDER_PARAMS = ("format", "download", "bom", "width", "height")
DEFAULT_NOTIONALS = (10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class Resource:
    name: str                       # the analysis name, e.g. "technical"
    title: str
    path: str                       # Flask rule, e.g. /api/v1/analysis/technical/<symbol>
    query: tuple[str, ...]          # its own query parameters
    parse: Callable                 # (args, path_args, settings, now) -> params dict
    build: Callable                 # (market, params, now) -> Report
    form: Callable                  # (params, settings) -> tuple[FormField, ...]
    tables: tuple[str, ...] = ()
    formats: tuple[str, ...] = FORMATS
    description: str = ""

    @property
    def allowed_query(self) -> tuple[str, ...]:
        extra = ("table",) if len(self.tables) > 1 else ()
        render = RENDER_PARAMS if "png" in self.formats else ("format", "download", "bom")
        return self.query + extra + render


def _window(args, now: datetime) -> tuple[datetime | None, datetime | None]:
    start = p.timestamp("start", args.get("start"), now)
    end = p.timestamp("end", args.get("end"), now)
    if start is not None and end is not None and start >= end:
        raise p.bad("start", args.get("start"), f"a time before end={p.quote(args.get('end'))}")
    return start, end


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _finish(report: Report, provs: list[Provenance]) -> Report:
    return report.with_provenance(Provenance.combine(provs))


# -- technical --------------------------------------------------------------------------------
def _technical_parse(args, path_args, settings, now):
    start, end = _window(args, now)
    return {"symbol": p.symbol(path_args["symbol"]),
            "interval": p.interval(args.get("interval"), "1h"),
            "limit": p.integer("limit", args.get("limit"), 1, 1000, 200),
            "closed": p.boolean("closed", args.get("closed"), True),
            "start": _iso(start), "end": _iso(end)}


def _technical_build(market, params, now):
    market.require_symbols([params["symbol"]])
    start = _parse_iso(params["start"])
    end = _parse_iso(params["end"])
    klines, prov = market.klines(params["symbol"], params["interval"],
                                 params["limit"] + WARMUP_CANDLES, end=end,
                                 closed=params["closed"], trim=False)
    report = technical_report(klines, params=params, limit=params["limit"],
                              interval=params["interval"], start=start, now=end or now)
    return _finish(report, [prov])


def _technical_form(params, settings):
    return (FormField("symbol", "Symbol", params["symbol"]),
            FormField("interval", "Interval", params["interval"], "select", INTERVALS),
            FormField("limit", "Candles", str(params["limit"]), "number", (), 1, 1000))


# -- statistics -------------------------------------------------------------------------------
def _statistics_parse(args, path_args, settings, now):
    return {"symbols": p.symbol_list(args.get("symbols"), settings.watchlist, 1, 20)}


def _statistics_build(market, params, now):
    market.require_symbols(params["symbols"], param="symbols")
    tickers, prov = market.tickers(params["symbols"])
    return _finish(statistics_report(tickers, params=params, symbols=params["symbols"]), [prov])


def _statistics_form(params, settings):
    return (FormField("symbols", "Symbols", ",".join(params["symbols"])),)


# -- correlation ------------------------------------------------------------------------------
def _correlation_parse(args, path_args, settings, now):
    start, end = _window(args, now)
    symbols = p.symbol_list(args.get("symbols"), settings.watchlist, 2, 20)
    benchmark = args.get("benchmark")
    if benchmark is not None:
        benchmark = p.symbol(benchmark, "benchmark")
        if benchmark not in symbols:
            raise p.bad("benchmark", benchmark, "one of the symbols: " + ", ".join(symbols),
                        symbols)
    return {"symbols": symbols, "interval": p.interval(args.get("interval"), "1d"),
            "limit": p.integer("limit", args.get("limit"), 10, 1000, 90),
            "benchmark": benchmark or symbols[0],
            "closed": p.boolean("closed", args.get("closed"), True),
            "start": _iso(start), "end": _iso(end)}


def _correlation_build(market, params, now):
    market.require_symbols(params["symbols"], param="symbols")
    start, end = _parse_iso(params["start"]), _parse_iso(params["end"])

    def fetch(symbol):
        return market.klines(symbol, params["interval"], params["limit"] + 1, end=end,
                             closed=params["closed"])

    # One klines call per symbol: made concurrently, each in a copy of this request's context
    # so the per-request upstream accounting still sees them.
    with ThreadPoolExecutor(max_workers=min(8, len(params["symbols"]))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fetch, s)
                   for s in params["symbols"]]
        results = [f.result() for f in futures]
    frames, provs = {}, []
    for symbol, (klines, prov) in zip(params["symbols"], results):
        if start is not None:
            klines = klines[klines["open_time"] >= start].reset_index(drop=True)
        frames[symbol] = klines
        provs.append(prov)
    report = correlation_report(frames, params=params, interval=params["interval"],
                                limit=params["limit"], benchmark=params["benchmark"])
    return _finish(report, provs)


def _correlation_form(params, settings):
    return (FormField("symbols", "Symbols", ",".join(params["symbols"])),
            FormField("interval", "Interval", params["interval"], "select", INTERVALS),
            FormField("limit", "Returns", str(params["limit"]), "number", (), 10, 1000))


# -- liquidity --------------------------------------------------------------------------------
def _liquidity_parse(args, path_args, settings, now):
    return {"symbol": p.symbol(path_args["symbol"]),
            "depth": p.integer("depth", args.get("depth"), 5, 5000, 500),
            "notional": p.notionals(args.get("notional"), DEFAULT_NOTIONALS)}


def _liquidity_build(market, params, now):
    market.require_symbols([params["symbol"]])
    bids, asks, prov = market.depth(params["symbol"], params["depth"])
    report = liquidity_report(bids, asks, params=params, notionals=params["notional"])
    return _finish(report, [prov])


def _liquidity_form(params, settings):
    return (FormField("symbol", "Symbol", params["symbol"]),
            FormField("depth", "Levels per side", str(params["depth"]), "number", (), 5, 5000),
            FormField("notional", "Notionals", ",".join(str(n) for n in params["notional"])))


# -- symbols ----------------------------------------------------------------------------------
def _symbols_parse(args, path_args, settings, now):
    quote = args.get("quote")
    if quote is not None and not re.fullmatch(r"[A-Za-z0-9]{1,20}", quote):
        raise p.bad("quote", quote, "an asset code of letters and digits, e.g. USDT")
    status = p.choice("status", args.get("status"),
                      ("TRADING", "BREAK", "HALT", "END_OF_DAY", "PRE_TRADING", "POST_TRADING",
                       "AUCTION_MATCH", "all"), "TRADING")
    return {"quote": quote.upper() if quote else None, "status": status}


def _symbols_build(market, params, now):
    frame, prov = market.symbols()
    status = None if params["status"] == "all" else params["status"]
    return _finish(symbols_report(frame, params=params, quote=params["quote"], status=status),
                   [prov])


def _symbols_form(params, settings):
    return (FormField("quote", "Quote asset", params["quote"] or ""),)


def _parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


RESOURCES = {r.name: r for r in (
    Resource("statistics", "Market statistics", "/api/v1/market/statistics", ("symbols",),
             _statistics_parse, _statistics_build, _statistics_form, ("tickers",),
             description="24 h statistics and a sentiment label for a watch list."),
    Resource("technical", "Technical analysis", "/api/v1/analysis/technical/<symbol>",
             ("interval", "limit", "closed", "start", "end"),
             _technical_parse, _technical_build, _technical_form, ("candles",),
             description="Candles with SMA, EMA, RSI, MACD, Bollinger Bands and signals."),
    Resource("correlation", "Correlation and portfolio risk", "/api/v1/analysis/correlation",
             ("symbols", "interval", "limit", "benchmark", "closed", "start", "end"),
             _correlation_parse, _correlation_build, _correlation_form, ("matrix", "assets"),
             description="Return correlation matrix, per-asset and portfolio risk metrics."),
    Resource("liquidity", "Order-book liquidity", "/api/v1/market/liquidity/<symbol>",
             ("depth", "notional"), _liquidity_parse, _liquidity_build, _liquidity_form,
             ("levels",),
             description="Spread, depth bands, imbalance and slippage from the order book."),
    Resource("symbols", "Symbols", "/api/v1/symbols", ("quote", "status"),
             _symbols_parse, _symbols_build, _symbols_form, ("symbols",),
             formats=("json", "html", "csv", "xml"),
             description="Tradable symbols, for discovery and validation."),
)}

__all__ = ["RESOURCES", "Resource", "utcnow"]
