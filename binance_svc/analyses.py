"""The spec registry: every resource the service answers, one `Analysis` record each.

A record names its path, its parameters (ranges and defaults live here and nowhere else), its
tables (columns come from the analysis module), its chart module and how it is built from the
Market. Routes, the query parser, OpenAPI, the index, the HTML form, PNG availability and the
worker's warm-up are all derived from `REGISTRY` (docs/extending.md walks through adding one).
"""
from __future__ import annotations

import contextvars
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import lru_cache

from .analysis import (catalogue, correlation, indicator_list, liquidity, statistics, symbols,
                       technical, watchlist)
from .report import Provenance, Report
from .settings import INTERVALS
from .spec import Analysis, Param, Registry, Table
from .web import params as p

SYMBOL = Param("symbol", "symbol", "A symbol Binance lists, e.g. BTCUSDT (upper-cased before use).",
               in_path=True, label="Symbol", example="BTCUSDT")
CLOSED = Param("closed", "bool", "true drops the candle still forming.", default=True)
START = Param("start", "time", "Window start: ISO-8601 UTC time or epoch milliseconds; before end, "
                               "not in the future.", example="2026-11-01T00:00:00Z")
END = Param("end", "time", "Window end (default now): ISO-8601 UTC time or epoch milliseconds.",
            example="2026-11-20T00:00:00Z")
STATUSES = ("TRADING", "BREAK", "HALT", "END_OF_DAY", "PRE_TRADING", "POST_TRADING",
            "AUCTION_MATCH", "all")


def _interval(default: str) -> Param:
    return Param("interval", "interval", "Kline interval (case-sensitive).", default=default,
                 options=INTERVALS, label="Interval")


def _symbols(lo: int, hi: int) -> Param:
    return Param("symbols", "symbols",
                 f"Comma-separated distinct symbols, {lo} to {hi}. Default: the WATCHLIST.",
                 lo=lo, hi=hi, label="Symbols", example="BTCUSDT,ETHUSDT,SOLUSDT")


def _window(params: dict, raw: dict, now: datetime) -> None:
    """start must be before end (each was checked on its own already)."""
    if params["start"] is not None and params["end"] is not None:
        start, end = p.timestamp("start", raw["start"], now), p.timestamp("end", raw["end"], now)
        if start >= end:
            raise p.bad("start", raw["start"], f"a time before end={p.quote(raw['end'])}")


def _finish(report: Report, provs: list[Provenance]) -> Report:
    return report.with_provenance(Provenance.combine(provs))


def _parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def _each(symbols: list[str], fetch) -> list:
    """fetch(symbol) for every symbol, concurrently, each in a copy of this request's context so
    the per-request upstream accounting still sees the calls; results in the order given."""
    with ThreadPoolExecutor(max_workers=min(8, len(symbols))) as pool:
        futures = [pool.submit(contextvars.copy_context().run, fetch, s) for s in symbols]
        return [f.result() for f in futures]


# -- technical --------------------------------------------------------------------------------
MAX_CANDLES = 10_000          # rows one technical request returns
MAX_FETCHED = 20_000          # candles one request may fetch, warm-up included (20 pages)


def _requests(params: dict):
    """The catalogue Requests of `indicators=` (None: the default set)."""
    specs = params.get("indicators")
    return None if specs is None else _parsed(tuple(specs))


@lru_cache(maxsize=256)
def _parsed(specs: tuple[str, ...]) -> tuple:
    # The check, the warm-up and the build of one request each need the Requests: parsed once
    # per distinct indicators= (Requests are frozen records, safe to share between threads).
    return tuple(catalogue.parse_indicators(",".join(specs)))


def _warmup(params: dict) -> int:
    requests = _requests(params)
    if requests is None:
        return technical.WARMUP_CANDLES
    return catalogue.max_warmup(requests, params["interval"])


def _technical_check(params: dict, raw: dict, now: datetime) -> None:
    _window(params, raw, now)
    warmup = _warmup(params)
    if params["limit"] + warmup > MAX_FETCHED:
        name = "indicators" if params.get("indicators") is not None else "limit"
        raise p.bad(name, raw.get(name), f"at most {MAX_FETCHED:,} candles fetched in all: "
                    f"limit={params['limit']} with a warm-up of {warmup:,} candles for "
                    f"{params['interval']} is {params['limit'] + warmup:,}; lower limit or "
                    "the indicators' periods, or use a longer interval (docs/indicators.md "
                    "gives each warm-up)")


def _technical_build(market, params, now):
    market.require_symbols([params["symbol"]])
    start, end = _parse_iso(params["start"]), _parse_iso(params["end"])
    klines, prov = market.klines(params["symbol"], params["interval"],
                                 params["limit"] + _warmup(params), end=end,
                                 closed=params["closed"], trim=False)
    report = technical.technical_report(klines, params=params, limit=params["limit"],
                                        interval=params["interval"], start=start,
                                        now=end or now, requests=_requests(params))
    return _finish(report, [prov])


TECHNICAL = Analysis(
    name="technical", title="Technical analysis", path="/api/v1/analysis/technical/<symbol>",
    description="Candles with indicators of your choice (default: SMA, EMA, RSI, MACD, "
                "Bollinger Bands) and their signals.",
    params=(SYMBOL, _interval("1h"),
            Param("limit", "int", "Candles returned.", default=200, lo=1, hi=MAX_CANDLES,
                  label="Candles"),
            CLOSED, START, END,
            Param("indicators", "indicators",
                  "Comma list of name[:param[:param...]] from GET /api/v1/indicators, at most "
                  f"{catalogue.MAX_INDICATORS}; absent: the default set (sma_20 ... "
                  "bb_bandwidth). Columns are named {name}_{params}, e.g. macd_12_26_9.",
                  label="Indicators", example="sma:20,sma:200,rsi:14,macd:12:26:9,atr:14")),
    tables=(Table("candles", technical.CANDLE_TABLE_COLUMNS + technical.INDICATOR_TABLE_COLUMNS,
                  "One row per candle, oldest first, with every indicator (with "
                  "indicators=, the requested columns instead of the default ones).",
                  open_columns=True,
                  open_meaning="with indicators=: the requested indicators' columns"),),
    build=_technical_build, check=_technical_check,
    chart="technical", example="/api/v1/analysis/technical/BTCUSDT", legacy=True,
    summary_keys=("last_close", "last", "signals"))


# -- technical, a watch list in one long table -------------------------------------------------
def _watchlist_build(market, params, now):
    market.require_symbols(params["symbols"], param="symbols")
    start, end = _parse_iso(params["start"]), _parse_iso(params["end"])
    requests, count = _requests(params), params["limit"] + _warmup(params)
    results = _each(params["symbols"], lambda s: market.klines(
        s, params["interval"], count, end=end, closed=params["closed"], trim=False))
    reports = {s: technical.technical_report(klines, params={**params, "symbol": s},
                                             limit=params["limit"],
                                             interval=params["interval"], start=start,
                                             now=end or now, requests=requests)
               for s, (klines, _) in zip(params["symbols"], results)}
    report = watchlist.watchlist_report(reports, params=params)
    return _finish(report, [prov for _, prov in results])


WATCHLIST = Analysis(
    name="watchlist", title="Technical analysis of a watch list",
    path="/api/v1/analysis/technical",
    description="The technical analysis of up to 10 symbols as one long table, symbol first.",
    params=(_symbols(1, 10),) + tuple(q for q in TECHNICAL.query if q.name != "limit") + (
        Param("limit", "int", "Candles returned per symbol.", default=200, lo=1, hi=1000,
              label="Candles"),),
    tables=(Table("candles", watchlist.SYMBOL_COLUMN + TECHNICAL.tables[0].columns,
                  "One row per symbol and candle: the symbols in the order asked, each "
                  "oldest first.", open_columns=True,
                  open_meaning="with indicators=: the requested indicators' columns"),),
    build=_watchlist_build, check=_technical_check, chart="watchlist",
    summary_keys=("symbols", "by_symbol"))


# -- statistics -------------------------------------------------------------------------------
def _statistics_build(market, params, now):
    market.require_symbols(params["symbols"], param="symbols")
    tickers, prov = market.tickers(params["symbols"])
    report = statistics.statistics_report(tickers, params=params, symbols=params["symbols"])
    return _finish(report, [prov])


STATISTICS = Analysis(
    name="statistics", title="Market statistics", path="/api/v1/market/statistics",
    description="24 h statistics and a sentiment label for a watch list.",
    params=(_symbols(1, 20),),
    tables=(Table("tickers", statistics.TICKER_COLUMNS, "One row per symbol, in the order asked."),),
    build=_statistics_build, chart="statistics", legacy=True,
    legacy_names=("market", "market_statistics"),
    summary_keys=("advancers", "decliners", "unchanged", "breadth", "mean_change_pct",
                  "weighted_change_pct", "top_gainer", "top_loser", "sentiment"))


# -- correlation ------------------------------------------------------------------------------
def _correlation_check(params: dict, raw: dict, now: datetime) -> None:
    _window(params, raw, now)
    benchmark = params["benchmark"]
    if benchmark is not None and benchmark not in params["symbols"]:
        raise p.bad("benchmark", benchmark, "one of the symbols: " + ", ".join(params["symbols"]),
                  params["symbols"])
    params["benchmark"] = benchmark or params["symbols"][0]


def _correlation_build(market, params, now):
    market.require_symbols(params["symbols"], param="symbols")
    start, end = _parse_iso(params["start"]), _parse_iso(params["end"])

    def fetch(symbol):
        return market.klines(symbol, params["interval"], params["limit"] + 1, end=end,
                             closed=params["closed"])

    results = _each(params["symbols"], fetch)
    frames, provs = {}, []
    for symbol, (klines, prov) in zip(params["symbols"], results):
        if start is not None:
            klines = klines[klines["open_time"] >= start].reset_index(drop=True)
        frames[symbol] = klines
        provs.append(prov)
    report = correlation.correlation_report(frames, params=params, interval=params["interval"],
                                            limit=params["limit"],
                                            benchmark=params["benchmark"])
    return _finish(report, provs)


CORRELATION = Analysis(
    name="correlation", title="Correlation and portfolio risk",
    path="/api/v1/analysis/correlation",
    description="Return correlation matrix, per-asset and portfolio risk metrics.",
    params=(_symbols(2, 20), _interval("1d"),
            Param("limit", "int", "Returns used.", default=90, lo=10, hi=1000, label="Returns"),
            Param("benchmark", "symbol", "One of symbols; beta is measured against it. "
                                         "Default: the first."),
            CLOSED, START, END),
    tables=(Table("matrix", correlation.MATRIX_COLUMNS,
                  "Pearson correlation of log returns, symbols as rows and columns.",
                  open_columns=True, open_meaning="correlation with that symbol, -1 to 1"),
            Table("assets", correlation.ASSET_TABLE_COLUMNS, "One row per symbol.")),
    build=_correlation_build, check=_correlation_check, chart="correlation", legacy=True,
    summary_keys=("portfolio_volatility", "diversification_ratio", "mean_correlation",
                  "most_correlated", "least_correlated", "observations"))


# -- order-book liquidity ---------------------------------------------------------------------
def _liquidity_build(market, params, now):
    market.require_symbols([params["symbol"]])
    bids, asks, prov = market.depth(params["symbol"], params["depth"])
    report = liquidity.liquidity_report(bids, asks, params=params, notionals=params["notional"])
    return _finish(report, [prov])


LIQUIDITY = Analysis(
    name="liquidity", title="Order-book liquidity", path="/api/v1/market/liquidity/<symbol>",
    description="Spread, depth bands, imbalance and slippage from the order book.",
    params=(SYMBOL,
            Param("depth", "int", "Order-book levels per side fetched.", default=500, lo=5,
                  hi=5000, label="Levels per side"),
            Param("notional", "notionals", "Comma-separated quote amounts (1 to 1e9, at most 10) "
                  "to walk the book with.", default=(10_000, 100_000, 1_000_000), lo=1, hi=1e9,
                  label="Notionals", example="10000,100000,1000000")),
    tables=(Table("levels", liquidity.LEVEL_COLUMNS,
                  "One row per price level, best first on each side, bids then asks."),),
    build=_liquidity_build, chart="liquidity", example="/api/v1/market/liquidity/BTCUSDT",
    legacy=True,
    summary_keys=("best_bid", "best_ask", "mid", "spread", "spread_bps", "bands", "slippage",
                  "levels"))


# -- symbols ----------------------------------------------------------------------------------
def _symbols_build(market, params, now):
    frame, prov = market.symbols()
    status = None if params["status"] == "all" else params["status"]
    report = symbols.symbols_report(frame, params=params, quote=params["quote"], status=status)
    return _finish(report, [prov])


SYMBOLS = Analysis(
    name="symbols", title="Symbols", path="/api/v1/symbols",
    description="Tradable symbols, for discovery and validation.",
    params=(Param("quote", "asset", "Only symbols of this quote asset.", label="Quote asset",
                  example="USDT"),
            Param("status", "choice", "Symbol status to list; `all` for every status.",
                  default="TRADING", options=STATUSES)),
    tables=(Table("symbols", symbols.SYMBOL_COLUMNS, "One row per symbol, sorted by symbol."),),
    build=_symbols_build, tag="reference", summary_keys=("count", "quote_assets", "status"))


# -- the indicator catalogue ------------------------------------------------------------------
CATALOGUE_TTL = timedelta(hours=1)     # changes only with a release


def _indicators_build(market, params, now):
    report = indicator_list.indicators_report(params=params, family=params["family"])
    return report.with_provenance(Provenance(source=market.source, fetched_at=now,
                                             expires_at=now + CATALOGUE_TTL))


INDICATORS = Analysis(
    name="indicators", title="Indicator catalogue", path="/api/v1/indicators",
    description="What indicators= of the technical analysis accepts: parameters with defaults "
                "and ranges, columns, warm-up, reference. No upstream call.",
    params=(Param("family", "choice", "Only the indicators a chart draws in this family.",
                  options=catalogue.FAMILIES, label="Family"),),
    tables=(Table("indicators", indicator_list.INDICATOR_COLUMNS, "One row per indicator."),
            Table("parameters", indicator_list.PARAMETER_COLUMNS,
                  "One row per parameter of each indicator, in item order."),
            Table("outputs", indicator_list.OUTPUT_COLUMNS,
                  "One row per column an indicator adds.")),
    build=_indicators_build, tag="reference", summary_keys=("count", "families",
                                                            "max_per_request", "syntax"))


REGISTRY = Registry((STATISTICS, TECHNICAL, WATCHLIST, CORRELATION, LIQUIDITY, SYMBOLS,
                     INDICATORS))

__all__ = ["REGISTRY"]
