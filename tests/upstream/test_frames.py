"""Raw Binance JSON -> typed frames: the schemas `analysis/` relies on.

The recorded responses are read from tests/fixtures/binance (see its README.md); the other
tests build their own bodies.
"""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest

from binance_svc.errors import UpstreamUnavailable
from binance_svc.upstream.frames import (KLINE_COLUMNS, SYMBOL_COLUMNS, TICKER_COLUMNS,
                                         depth_frames, empty_klines, klines_frame, symbols_frame,
                                         tickers_frame)

UTC_NS = "datetime64[ns, UTC]"
KLINE_FLOATS = ["open", "high", "low", "close", "volume", "quote_volume", "taker_buy_base",
                "taker_buy_quote"]
JUNE = ["BTCUSDT", "ETHUSDT", "DOGEUSDT", "ETHBTC"]


def ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def assert_kline_schema(frame):
    assert list(frame.columns) == KLINE_COLUMNS
    assert str(frame["open_time"].dtype) == UTC_NS
    assert str(frame["close_time"].dtype) == UTC_NS
    for col in KLINE_FLOATS:
        assert frame[col].dtype == np.float64, col
    assert frame["trades"].dtype == np.int64


# -- recorded responses ----------------------------------------------------------------------

def test_recorded_klines_parse_with_types_and_values(load_fixture):
    raw = load_fixture("rest/http_spot_market_klines.json")
    frame = klines_frame(raw)
    assert_kline_schema(frame)
    assert len(frame) == len(raw) == 10
    first = raw[0]
    row = frame.iloc[0]
    assert ms(row["open_time"]) == first[0]
    assert row["open_time"] == pd.Timestamp(first[0], unit="ms", tz="UTC")
    assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == tuple(
        float(x) for x in first[1:6])
    assert ms(row["close_time"]) == first[6]
    assert row["quote_volume"] == float(first[7])
    assert row["trades"] == first[8]
    assert (row["taker_buy_base"], row["taker_buy_quote"]) == (float(first[9]), float(first[10]))
    assert frame["open_time"].is_monotonic_increasing and frame["open_time"].is_unique
    assert ms(frame["open_time"].iloc[-1]) == raw[-1][0]


def test_recorded_ticker_parses_with_types_and_values(load_fixture):
    raw = load_fixture("rest/spot_market_ticker_24hr.json")
    frame = tickers_frame(raw)
    assert list(frame.columns) == TICKER_COLUMNS
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["symbol"] == "BTCUSDT"
    assert row["last_price"] == float(raw["lastPrice"])
    assert row["open_price"] == float(raw["openPrice"])
    assert (row["high"], row["low"]) == (float(raw["highPrice"]), float(raw["lowPrice"]))
    assert row["price_change"] == float(raw["priceChange"])
    assert row["price_change_pct"] == -3.003
    assert row["weighted_avg_price"] == float(raw["weightedAvgPrice"])
    assert row["quote_volume"] / row["volume"] == pytest.approx(row["weighted_avg_price"],
                                                                rel=1e-9)
    assert row["trades"] == raw["count"]
    assert ms(row["open_time"]) == raw["openTime"] and ms(row["close_time"]) == raw["closeTime"]
    for col in TICKER_COLUMNS[1:11]:
        assert frame[col].dtype == (np.int64 if col == "trades" else np.float64), col
    assert str(frame["open_time"].dtype) == UTC_NS


def test_recorded_depth_parses_best_first(load_fixture):
    raw = load_fixture("rest/http_spot_market_depth.json")
    bids, asks = depth_frames(raw)
    assert list(bids.columns) == list(asks.columns) == ["price", "quantity"]
    assert (bids.dtypes == np.float64).all() and (asks.dtypes == np.float64).all()
    assert len(bids) == len(raw["bids"]) == 10 and len(asks) == len(raw["asks"]) == 10
    assert bids["price"].is_monotonic_decreasing and asks["price"].is_monotonic_increasing
    assert bids["price"].iloc[0] == 60650.00 and asks["price"].iloc[0] == 60650.01
    assert bids["price"].iloc[0] < asks["price"].iloc[0]
    assert bids["quantity"].iloc[0] == float(raw["bids"][0][1])
    assert asks["quantity"].sum() == pytest.approx(sum(float(q) for _, q in raw["asks"]))


def test_recorded_exchange_info_gives_the_symbols_frame(load_fixture):
    raw = load_fixture("rest/http_spot_market_exchange_info.json")
    frame = symbols_frame(raw)
    assert list(frame.columns) == SYMBOL_COLUMNS
    assert frame.to_dict("records") == [
        {"symbol": "BTCUSDT", "base_asset": "BTC", "quote_asset": "USDT", "status": "TRADING"},
        {"symbol": "ETHUSDT", "base_asset": "ETH", "quote_asset": "USDT", "status": "TRADING"}]


@pytest.mark.parametrize("symbol", JUNE)
def test_a_month_of_recorded_hourly_klines_is_720_whole_hours(load_fixture, symbol):
    raw = load_fixture(f"klines_api_1h_2023-06/klines_{symbol}_1h_2023-06_720.json.gz")
    frame = klines_frame(raw)
    assert_kline_schema(frame)
    assert len(frame) == 720
    assert frame["open_time"].iloc[0] == pd.Timestamp("2023-06-01T00:00Z")
    assert frame["open_time"].iloc[-1] == pd.Timestamp("2023-06-30T23:00Z")
    assert (frame["close_time"] - frame["open_time"] == pd.Timedelta(milliseconds=3_599_999)).all()
    assert (frame["open_time"].diff().dropna() == pd.Timedelta(hours=1)).all()
    assert (frame["high"] >= frame[["open", "close"]].max(axis=1)).all()
    assert (frame["low"] <= frame[["open", "close"]].min(axis=1)).all()


def test_the_api_json_and_the_csv_dump_of_june_agree(fixture_text, load_fixture):
    # The same BTCUSDT month from two sources: /api/v3/klines JSON parsed by klines_frame, and
    # data.binance.vision's CSV read with float() and int().
    raw = load_fixture("klines_api_1h_2023-06/klines_BTCUSDT_1h_2023-06_720.json.gz")
    frame = klines_frame(raw)
    dump = fixture_text("klines_1h_2023-06/BTCUSDT-1h-2023-06.csv.gz")
    rows = list(csv.reader(io.StringIO(dump)))
    assert len(rows) == 720
    assert [int(r[0]) for r in rows] == [ms(t) for t in frame["open_time"]]
    assert [float(r[4]) for r in rows] == frame["close"].tolist()
    assert [int(r[8]) for r in rows] == frame["trades"].tolist()


# -- bodies built here -------------------------------------------------------------------------

def row(open_ms, close="1.5", trades=3):
    return [open_ms, "1.0", "2.0", "0.5", close, "10.0", open_ms + 59_999, "15.0", trades, "4.0",
            "6.0", "0"]


def test_klines_come_out_oldest_first_and_unique():
    frame = klines_frame([row(180_000), row(60_000), row(120_000), row(60_000)])
    assert [ms(t) for t in frame["open_time"]] == [60_000, 120_000, 180_000]
    assert frame.index.tolist() == [0, 1, 2]


def test_klines_rows_with_more_or_fewer_trailing_fields_still_parse():
    longer = klines_frame([row(60_000) + ["a future field"]])
    shorter = klines_frame([row(60_000)[:11]])
    assert_kline_schema(longer)
    assert_kline_schema(shorter)
    pd.testing.assert_frame_equal(longer, shorter)


def test_no_klines_is_an_empty_frame_with_the_schema():
    for frame in (klines_frame([]), empty_klines()):
        assert frame.empty
        assert_kline_schema(frame)


@pytest.mark.parametrize("raw", [
    None, {}, "[]", [[1, 2, 3]],
    pytest.param([row(60_000), row(120_000)[:10]], marks=pytest.mark.filterwarnings(
        "ignore:Constructing a DataFrame from a list of sequences with mismatched lengths")),
    [row(60_000, close="abc")],
    [row(60_000, close="NaN")], [row(60_000, close="Infinity")], [row(60_000, trades="many")],
    [{"open_time": 1}],
], ids=["none", "object", "text", "short", "ragged", "text-price", "nan", "inf", "text-count",
        "dict-row"])
def test_klines_that_cannot_be_read_are_a_502(raw):
    with pytest.raises(UpstreamUnavailable) as info:
        klines_frame(raw)
    assert info.value.status == 502 and info.value.code == "upstream_unavailable"


def test_one_ticker_object_or_a_list_of_them():
    one = {"symbol": "BTCUSDT", "lastPrice": "2", "openPrice": "1", "highPrice": "3",
           "lowPrice": "0.5", "priceChange": "1", "priceChangePercent": "100.000",
           "weightedAvgPrice": "1.5", "volume": "10", "quoteVolume": "15", "count": 4,
           "openTime": 0, "closeTime": 86_400_000, "bidPrice": "1.9"}
    frame = tickers_frame([one, {**one, "symbol": "ETHUSDT"}])
    assert frame["symbol"].tolist() == ["BTCUSDT", "ETHUSDT"]
    pd.testing.assert_frame_equal(tickers_frame(one), frame.head(1))
    assert frame["close_time"].iloc[0] == pd.Timestamp("1970-01-02T00:00Z")


@pytest.mark.parametrize("raw", [{}, [{}]], ids=["object", "list-of-empty-object"])
def test_an_object_that_is_not_a_ticker_is_a_502(raw):
    with pytest.raises(UpstreamUnavailable):
        tickers_frame(raw)


def test_no_tickers_is_an_empty_frame_with_the_columns():
    frame = tickers_frame([])
    assert frame.empty and list(frame.columns) == TICKER_COLUMNS


@pytest.mark.parametrize("raw", [None, "text", {"code": -1121, "msg": "Invalid symbol."},
                                 [{"symbol": "BTCUSDT"}],
                                 [{"symbol": "BTCUSDT", "lastPrice": "x"}]],
                         ids=["none", "text", "error-body", "missing-fields", "text-price"])
def test_tickers_that_cannot_be_read_are_a_502(raw):
    if isinstance(raw, list) and len(raw[0]) == 2:
        raw = [{**dict.fromkeys(["openPrice", "highPrice", "lowPrice", "priceChange",
                                 "priceChangePercent", "weightedAvgPrice", "volume",
                                 "quoteVolume"], "1"), "count": 1, "openTime": 0,
                "closeTime": 1, **raw[0]}]
    with pytest.raises(UpstreamUnavailable):
        tickers_frame(raw)


def test_depth_levels_are_sorted_best_first_whatever_order_they_came_in():
    bids, asks = depth_frames({"bids": [["99", "1"], ["100", "2"], ["98", "3", []]],
                               "asks": [["102", "1"], ["101", "2"]]})
    assert bids.values.tolist() == [[100.0, 2.0], [99.0, 1.0], [98.0, 3.0]]
    assert asks.values.tolist() == [[101.0, 2.0], [102.0, 1.0]]


def test_an_empty_book_side_is_an_empty_frame():
    bids, asks = depth_frames({"lastUpdateId": 1, "bids": [], "asks": [["1", "1"]]})
    assert bids.empty and list(bids.columns) == ["price", "quantity"]
    assert bids["price"].dtype == np.float64
    assert len(asks) == 1


@pytest.mark.parametrize("raw", [None, [], {}, {"bids": []}, {"bids": [["x", "1"]], "asks": []},
                                 {"bids": [["1"]], "asks": []},
                                 {"bids": [["NaN", "1"]], "asks": []}],
                         ids=["none", "list", "empty", "no-asks", "text-price", "short-level",
                              "nan"])
def test_depth_that_cannot_be_read_is_a_502(raw):
    with pytest.raises(UpstreamUnavailable):
        depth_frames(raw)


@pytest.mark.parametrize("raw", [None, {}, {"symbols": [{"symbol": "BTCUSDT"}]}, "text"])
def test_exchange_info_that_cannot_be_read_is_a_502(raw):
    with pytest.raises(UpstreamUnavailable):
        symbols_frame(raw)
