"""indicators= on the technical resource and the catalogue at /api/v1/indicators, as a client
sees them: column names, converged first rows (checked against TA-Lib on a longer history),
signals, 400s before any upstream call, the catalogue's tables."""
from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
import talib

from binance_svc.analysis import catalogue
from binance_svc.upstream.frames import klines_frame

TECH = "/api/v1/analysis/technical/BTCUSDT"
END = "2026-11-01T00:00:00Z"         # a fixed window, so the demo market's candles are known
TEN = "sma:20,sma:200,ema:9,rsi:14,macd:12:26:9,bbands:20:2,atr:14,stoch:14:3:3,adx:14,obv"


def test_requested_columns_follow_the_candles_in_the_order_asked(client):
    body = client.get(f"{TECH}?indicators={TEN}&limit=30&end={END}").get_json()
    assert body["columns"] == [
        "open_time", "close_time", "open", "high", "low", "close", "volume", "quote_volume",
        "trades", "sma_20", "sma_200", "ema_9", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9",
        "macd_hist_12_26_9", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "atr_14",
        "stoch_k_14_3_3", "stoch_d_14_3_3", "adx_14", "obv"]
    assert body["params"]["indicators"] == TEN.split(",")
    assert len(body["rows"]) == 30
    # Every row of every requested indicator is defined: the warm-up was fetched.
    assert all(row[c] is not None for row in body["rows"] for c in body["columns"])
    assert body["rows"][0]["obv"] == 0            # a running sum starts at the first row
    assert set(body["summary"]["last"]) == set(body["columns"][9:])


def test_absent_is_todays_default_set(client):
    body = client.get(f"{TECH}?limit=5&end={END}").get_json()
    assert body["columns"][9:] == ["sma_20", "sma_50", "ema_12", "ema_26", "rsi_14", "macd",
                                   "macd_signal", "macd_hist", "bb_middle", "bb_upper",
                                   "bb_lower", "bb_percent_b", "bb_bandwidth"]
    assert body["params"]["indicators"] is None
    assert set(body["summary"]["signals"]) == {"rsi", "macd", "bollinger", "trend"}


def test_missing_parameters_take_the_documented_defaults(client):
    body = client.get(f"{TECH}?indicators=rsi,macd,stoch&limit=3&end={END}").get_json()
    assert body["params"]["indicators"] == ["rsi:14", "macd:12:26:9", "stoch:14:3:3"]
    assert "rsi_14" in body["columns"] and "stoch_d_14_3_3" in body["columns"]


def test_the_first_row_is_converged(client, demo):
    """The first returned row equals TA-Lib over a far longer history of the same candles."""
    items = "ema:50,rsi:14,adx:14,kama:30,trix:30"
    body = client.get(f"{TECH}?indicators={items}&limit=20&end={END}&interval=1h").get_json()
    first = body["rows"][0]
    end_ms = int(pd.Timestamp(END).timestamp() * 1000)
    raw = []
    while len(raw) < 9000:       # 9,000 candles back from the same end, oldest first
        page = demo.klines("BTCUSDT", "1h", 1000,
                           end_ms=(raw[0][0] - 1) if raw else end_ms - 1)
        raw = page + raw
    frame = klines_frame(raw)
    at = frame.index[frame["open_time"] == pd.Timestamp(first["open_time"])][0]
    close, high, low = (frame[c].to_numpy(float) for c in ("close", "high", "low"))
    expected = {"ema_50": talib.EMA(close, 50), "rsi_14": talib.RSI(close, 14),
                "adx_14": talib.ADX(high, low, close, 14), "kama_30": talib.KAMA(close, 30),
                "trix_30": talib.TRIX(close, 30)}
    for column, series in expected.items():
        assert first[column] == pytest.approx(series[at], rel=1e-7), column


@pytest.mark.parametrize("raw,fragment", [
    ("foo", "unknown indicator"),
    ("sma:1", "sma"),                    # below the period's minimum
    ("sma:20:5", "sma"),                 # a parameter too many
    ("rsi:x", "rsi"),
    ("macd:26:12:9", "macd"),            # fast not shorter than slow
    (",".join(["sma:%d" % n for n in range(2, 33)]), "30"),
    ("rsi,rsi:14", "rsi_14"),            # the same column twice
])
def test_bad_indicators_are_a_400_naming_the_parameter_before_any_upstream_call(
        client, demo, raw, fragment):
    resp = client.get(f"{TECH}?indicators={raw}")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["param"] == "indicators" and fragment in error["message"]
    assert demo.counters.requests == {}


def test_a_warm_up_past_the_fetch_limit_is_a_400(client, demo):
    # VWAP resets each UTC day: on 1s candles its warm-up is a whole day, 86,399 candles.
    resp = client.get(f"{TECH}?indicators=vwap&limit=10&interval=1s")
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "indicators"
    assert "20,000" in resp.get_json()["error"]["message"]
    assert demo.counters.requests == {}


def test_signals_follow_the_requested_indicators(client):
    body = client.get(f"{TECH}?indicators=rsi:7,stoch,adx,vwap,sar,sma:9&end={END}").get_json()
    signals = body["summary"]["signals"]
    assert set(signals) == {"rsi_7", "stoch_k_14_3_3", "adx_14", "vwap", "sar_0.02_0.2"}
    last = body["rows"][-1]
    rsi = last["rsi_7"]
    assert signals["rsi_7"] == ("overbought" if rsi > 70 else "oversold" if rsi < 30
                                else "neutral")
    k = last["stoch_k_14_3_3"]
    assert signals["stoch_k_14_3_3"] == ("overbought" if k > 80 else "oversold" if k < 20
                                         else "neutral")
    assert signals["adx_14"] == ("trending" if last["adx_14"] > 25 else "ranging")
    assert signals["vwap"] == ("above" if last["close"] > last["vwap"] else "below")


def test_csv_of_a_request_reads_into_pandas(client):
    text = client.get(f"{TECH}?indicators=ichimoku,vwap&limit=60&end={END}&format=csv").data
    frame = pd.read_csv(io.BytesIO(text), parse_dates=["open_time"])
    assert "ichimoku_senkou_a_9_26_52" in frame.columns and len(frame) == 60
    assert frame["ichimoku_chikou_9_26_52"].isna().sum() == 26   # it looks 26 candles ahead


def test_the_html_form_carries_the_indicators(client):
    page = client.get(f"{TECH}?indicators=rsi,obv&format=html").data.decode()
    assert 'name="indicators"' in page and 'value="rsi:14,obv"' in page


# -- the catalogue -----------------------------------------------------------------------------
def test_the_catalogue_lists_every_indicator_with_its_parameters(client):
    body = client.get("/api/v1/indicators").get_json()
    names = [r["name"] for r in body["rows"]]
    assert len(names) >= 28 and names == sorted(names)
    for required in ("sma", "ema", "wma", "dema", "tema", "rsi", "macd", "bbands", "atr", "natr",
                     "stoch", "stochrsi", "adx", "plus_di", "minus_di", "cci", "willr", "mfi",
                     "obv", "roc", "mom", "aroon", "sar", "kama", "trix", "ultosc", "vwap",
                     "ichimoku"):
        assert required in names
    macd = next(r for r in body["rows"] if r["name"] == "macd")
    assert macd["defaults"] == "macd:12:26:9"
    assert macd["columns"] == "macd_12_26_9 macd_signal_12_26_9 macd_hist_12_26_9"
    params = [r for r in body["tables"]["parameters"]["rows"] if r["indicator"] == "macd"]
    assert [(p["parameter"], p["default"]) for p in params] == [("fast", 12), ("slow", 26),
                                                                 ("signal", 9)]
    assert body["summary"]["max_per_request"] == 30


def test_the_catalogue_by_family_and_as_csv_tables(client):
    rows = list(csv.DictReader(io.StringIO(
        client.get("/api/v1/indicators?family=adx&format=csv").data.decode())))
    assert {r["name"] for r in rows} == {"adx", "plus_di", "minus_di"}
    outputs = pd.read_csv(io.BytesIO(
        client.get("/api/v1/indicators?format=csv&table=outputs").data))
    assert "stoch_k_{fastk}_{slowk}_{slowd}" in set(outputs["column"]) or \
        any(c.startswith("stoch_k_") for c in outputs["column"])
    resp = client.get("/api/v1/indicators?format=png")
    assert resp.status_code == 400 and resp.get_json()["error"]["param"] == "format"


def test_the_catalogue_warm_ups_are_those_the_service_fetches(client):
    body = client.get("/api/v1/indicators").get_json()
    for row in body["rows"]:
        request = catalogue.parse_indicators(row["name"])
        assert row["warmup_1h"] == catalogue.max_warmup(request, "1h")


def test_the_index_and_openapi_link_the_catalogue(client):
    assert 'href="/api/v1/indicators?format=csv"' in client.get("/").data.decode()
    spec = client.get("/openapi.json").get_json()
    assert "/api/v1/indicators" in spec["paths"]
    params = {p["name"] for p in spec["paths"]["/api/v1/analysis/technical/{symbol}"]["get"]
              ["parameters"]}
    assert "indicators" in params
