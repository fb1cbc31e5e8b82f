"""The catalogue's records, the `indicators=` parser, column names and compute_requests."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from binance_svc.analysis import technical
from binance_svc.analysis.catalogue import (CATALOGUE, FAMILIES, MAX_INDICATORS, NAMES,
                                            Request, compute_requests, describe,
                                            format_value, max_warmup, parse_indicators,
                                            with_requests)
from binance_svc.errors import InvalidParameter
from binance_svc.upstream.frames import klines_frame

ISSUE_EXAMPLE = ("sma:20,sma:200,ema:9,rsi:14,macd:12:26:9,bbands:20:2,atr:14,stoch:14:3:3,"
                 "adx:14,obv")


def columns(raw: str) -> list[str]:
    return [c for r in parse_indicators(raw) for c in r.columns]


# --- column names and defaults --------------------------------------------------------------

def test_issue_example_columns():
    assert columns(ISSUE_EXAMPLE) == [
        "sma_20", "sma_200", "ema_9", "rsi_14", "macd_12_26_9", "macd_signal_12_26_9",
        "macd_hist_12_26_9", "bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2", "atr_14",
        "stoch_k_14_3_3", "stoch_d_14_3_3", "adx_14", "obv"]


def test_issue_named_columns():
    assert columns("cci:20,willr:14,mfi:14,sma:100") == ["cci_20", "willr_14", "mfi_14",
                                                          "sma_100"]


@pytest.mark.parametrize("raw,expected", [
    ("rsi", ["rsi_14"]),
    ("macd", ["macd_12_26_9", "macd_signal_12_26_9", "macd_hist_12_26_9"]),
    ("macd:5", ["macd_5_26_9", "macd_signal_5_26_9", "macd_hist_5_26_9"]),
    ("bbands", ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"]),
    ("bbands:20:2.0", ["bb_upper_20_2", "bb_middle_20_2", "bb_lower_20_2"]),
    ("bbands:10:2.5", ["bb_upper_10_2.5", "bb_middle_10_2.5", "bb_lower_10_2.5"]),
    ("bbands:10:1e0", ["bb_upper_10_1", "bb_middle_10_1", "bb_lower_10_1"]),
    ("sar", ["sar_0.02_0.2"]),
    ("sar:.01:0.1", ["sar_0.01_0.1"]),
    ("stoch", ["stoch_k_14_3_3", "stoch_d_14_3_3"]),
    ("stochrsi", ["stochrsi_k_14_14_3", "stochrsi_d_14_14_3"]),
    ("aroon:25", ["aroon_up_25", "aroon_down_25"]),
    ("ultosc", ["ultosc_7_14_28"]),
    ("plus_di,minus_di", ["plus_di_14", "minus_di_14"]),
    ("vwap,obv", ["vwap", "obv"]),
    ("ichimoku", ["ichimoku_tenkan_9_26_52", "ichimoku_kijun_9_26_52",
                  "ichimoku_senkou_a_9_26_52", "ichimoku_senkou_b_9_26_52",
                  "ichimoku_chikou_9_26_52"]),
    (" SMA:20 , Rsi , sma: 50 ", ["sma_20", "rsi_14", "sma_50"]),
    ("sma:+20", ["sma_20"]),
])
def test_columns_and_defaults(raw, expected):
    assert columns(raw) == expected


def test_absent_means_the_default_set():
    assert parse_indicators(None) is None


def test_request_spec_label_and_order_kept():
    reqs = parse_indicators("rsi,bbands:10:2.5,obv,sma:5")
    assert [r.spec for r in reqs] == ["rsi:14", "bbands:10:2.5", "obv", "sma:5"]
    assert [r.label for r in reqs] == ["RSI(14)", "BBANDS(10, 2.5)", "OBV", "SMA(5)"]
    assert repr(reqs[0]) == "Request('rsi:14')"
    assert reqs[0] == Request(CATALOGUE["rsi"], (14,))


@pytest.mark.parametrize("value,text", [(20, "20"), (2.0, "2"), (2.5, "2.5"), (0.02, "0.02"),
                                        (np.int64(7), "7"), (1e-3, "0.001")])
def test_format_value(value, text):
    assert format_value(value) == text


def test_thirty_indicators_are_allowed():
    raw = ",".join(f"sma:{p}" for p in range(2, 2 + MAX_INDICATORS))
    assert len(parse_indicators(raw)) == MAX_INDICATORS


# --- errors ---------------------------------------------------------------------------------

def error(raw: str) -> InvalidParameter:
    with pytest.raises(InvalidParameter) as info:
        parse_indicators(raw)
    err = info.value
    assert err.status == 400 and err.param == "indicators"
    assert err.message.startswith("indicators=") and "is not valid" in err.message
    body = err.to_dict()["error"]
    assert body["code"] == "invalid_parameter" and body["param"] == "indicators"
    return err


def test_unknown_indicator():
    err = error("sma:20,foo:3")
    assert '"foo"' in err.message and "unknown indicator" in err.message
    assert err.allowed == list(NAMES) and "sma" in err.message and "ichimoku" in err.message


@pytest.mark.parametrize("raw,fragment", [
    ("sma:abc", "period: a whole number from 2 to 1000, default 20"),
    ("sma:20.5", "period: a whole number from 2 to 1000"),
    ("sma:1", "period: a whole number from 2 to 1000"),
    ("sma:1001", "period: a whole number from 2 to 1000"),
    ("sma:-5", "period: a whole number from 2 to 1000"),
    ("sma:", "period: a whole number from 2 to 1000"),
    ("rsi:101", "period: a whole number from 2 to 100, default 14"),
    ("bbands:20:nan", "k: a number from 0.1 to 10, default 2"),
    ("bbands:20:inf", "k: a number from 0.1 to 10"),
    ("bbands:20:11", "k: a number from 0.1 to 10"),
    ("sar:0.001", "acceleration: a number from 0.005 to 0.5"),
    ("stoch:14:0", "slowk: a whole number from 1 to 100"),
])
def test_bad_or_out_of_range_parameter(raw, fragment):
    err = error(raw)
    name = raw.split(":")[0]
    assert f"{name}'s " in err.message and fragment in err.message
    assert err.allowed == [p.allowed() for p in CATALOGUE[name].params]


@pytest.mark.parametrize("raw,fragment", [
    ("macd:26:12", "fast period must be shorter than its slow period"),
    ("macd:12:12", "fast period must be shorter than its slow period"),
    ("sar:0.3:0.2", "acceleration must not exceed its maximum"),
])
def test_inconsistent_parameters(raw, fragment):
    assert fragment in error(raw).message


@pytest.mark.parametrize("raw,fragment", [
    ("rsi:14:3", "rsi takes at most 1 parameter (period); usage rsi[:period]"),
    ("macd:1:2:3:4", "macd takes at most 3 parameters (fast, slow, signal)"),
    ("obv:1", "obv takes no parameters"),
    ("sma:20:", "sma takes at most 1 parameter"),
])
def test_too_many_parameters(raw, fragment):
    assert fragment in error(raw).message


def test_more_than_thirty_indicators():
    raw = ",".join(f"sma:{p}" for p in range(2, 3 + MAX_INDICATORS))
    err = error(raw)
    assert f"at most {MAX_INDICATORS} indicators (got {MAX_INDICATORS + 1})" in err.message


@pytest.mark.parametrize("raw,column", [
    ("sma:20,sma:20", "sma_20"),
    ("rsi,rsi:14", "rsi_14"),
    ("bbands:20:2,bbands:20:2.0", "bb_upper_20_2"),
    ("obv,OBV", "obv"),
])
def test_duplicate_column(raw, column):
    err = error(raw)
    assert f"both give the column {column}" in err.message


@pytest.mark.parametrize("raw", ["", ",", "sma:20,,rsi", "sma:20,", " "])
def test_empty_items(raw):
    assert "is empty" in error(raw).message


def test_error_message_is_printable_and_bounded():
    err = error("sma:20,\x00evil" + "x" * 200)
    assert "\x00" not in err.message and "…" in err.message


# --- records --------------------------------------------------------------------------------

def test_catalogue_has_the_issue_indicators():
    required = {"sma", "ema", "wma", "dema", "tema", "rsi", "macd", "bbands", "atr", "natr",
                "stoch", "stochrsi", "adx", "plus_di", "minus_di", "cci", "willr", "mfi",
                "obv", "roc", "mom", "aroon", "sar", "kama", "trix", "ultosc", "vwap",
                "ichimoku"}
    assert required <= set(CATALOGUE) and len(CATALOGUE) >= 24


@pytest.mark.parametrize("name", NAMES)
def test_record_is_consistent(name):
    ind = CATALOGUE[name]
    assert ind.name == name and name == name.lower() and ind.family in FAMILIES
    assert ind.title and ind.warmup_rule and ind.reference and ind.outputs
    assert set(ind.inputs) <= {"open_time", "open", "high", "low", "close", "volume",
                               "quote_volume"}
    for p in ind.params:
        assert p.kind in (int, float) and p.min <= p.default <= p.max and p.description
        assert isinstance(p.default, p.kind)
    assert ind.resolve() == tuple(p.default for p in ind.params)
    # Every default column is unique across the whole catalogue, and not a candle column.
    assert len(set(ind.columns())) == len(ind.outputs)


def test_default_columns_do_not_collide():
    every = [c for name in NAMES for c in CATALOGUE[name].columns()]
    assert len(every) == len(set(every))
    assert not set(every) & set(technical.CANDLE_COLUMNS)


def test_describe_is_plain_data():
    data = describe()
    assert [d["name"] for d in data] == list(NAMES)
    json.dumps(data)                      # numbers, strings, lists, None only
    macd = next(d for d in data if d["name"] == "macd")
    assert macd["usage"] == "macd[:fast[:slow[:signal]]]"
    assert [o["column"] for o in macd["outputs"]] == ["macd_{fast}_{slow}_{signal}",
                                                      "macd_signal_{fast}_{slow}_{signal}",
                                                      "macd_hist_{fast}_{slow}_{signal}"]
    assert macd["parameters"][1] == {"name": "slow", "type": "int", "default": 26, "min": 3,
                                     "max": 500, "description": "slow EMA period"}


def test_resolve_checks_programmatic_parameters():
    ind = CATALOGUE["bbands"]
    assert ind.resolve({"k": 3}) == (20, 3.0)
    assert ind.resolve((10,)) == (10, 2.0)
    for bad in ((10, 2, 3), {"width": 3}, (1,), (10.5,), (True,)):
        with pytest.raises(ValueError):
            ind.resolve(bad)


# --- computing on a klines frame ----------------------------------------------------------

def recorded_btc() -> pd.DataFrame:
    here = Path(__file__).resolve()
    name = "klines_BTCUSDT_1h_2023-06_720.json"
    local = here.parents[1] / "fixtures" / "binance" / "klines_api_1h_2023-06" / (name + ".gz")
    shared = here.parents[2].parent / "shared" / "fixtures" / "binance" / \
        "klines_api_1h_2023-06" / name
    if local.exists():
        with gzip.open(local, "rt") as fh:
            return klines_frame(json.load(fh))
    if shared.exists():
        return klines_frame(json.loads(shared.read_text()))
    pytest.skip("recorded BTCUSDT klines not found")


def test_every_indicator_on_a_klines_frame():
    k = recorded_btc()
    requests = parse_indicators(",".join(NAMES))
    out = with_requests(k, requests, anchor=300)
    expected = [c for r in requests for c in r.columns]
    assert list(out.columns) == list(k.columns) + expected
    pd.testing.assert_frame_equal(out[k.columns], k)
    assert out["obv"].iloc[300] == 0
    # From the slowest warm-up on (KAMA's 4,447 exceed this month; the rest fit), every
    # value is defined except the Ichimoku lagging span's last 26 rows.
    no_kama = [r for r in requests if r.name != "kama"]
    first = max_warmup(no_kama, "1h")
    assert first < len(k)
    tail = out.iloc[first:].drop(columns=["ichimoku_chikou_9_26_52", "kama_30"])
    assert tail[[c for c in tail.columns if c in expected]].notna().all().all()
    assert out["ichimoku_chikou_9_26_52"].iloc[-26:].isna().all()


def test_compute_requests_anchor_only_moves_running_sums():
    k = recorded_btc()
    requests = parse_indicators("obv,rsi")
    a, b = compute_requests(k, requests), compute_requests(k, requests, anchor=100)
    np.testing.assert_array_equal(a["rsi_14"], b["rsi_14"])
    assert a["obv"][0] == 0 and b["obv"][100] == 0
    np.testing.assert_allclose(np.diff(a["obv"]), np.diff(b["obv"]), rtol=0, atol=1e-6)


def test_missing_input_column_is_reported():
    k = recorded_btc().drop(columns=["quote_volume"])
    with pytest.raises(KeyError, match="vwap needs the column"):
        compute_requests(k, parse_indicators("vwap"))


def test_max_warmup():
    assert max_warmup(None) == 0 and max_warmup([]) == 0
    reqs = parse_indicators("sma:200,rsi")
    assert max_warmup(reqs) == max(199, 263)
    assert max_warmup(parse_indicators("vwap,sma:50"), "1h") == 49
    assert max_warmup(parse_indicators("vwap,sma:50"), "1m") == 1439
    # Without an interval VWAP assumes the shortest candles (1s): a whole day of them.
    assert max_warmup(parse_indicators("vwap")) == 86_399


def test_warmup_is_never_shorter_than_the_lookback():
    """On a long walk, every output is defined on the row at its warm-up."""
    n = 6000
    rng = np.random.default_rng(3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    k = pd.DataFrame({"open_time": pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC"),
                      "open": close, "high": close * 1.002, "low": close * 0.998,
                      "close": close, "volume": rng.lognormal(2, 1, n)})
    k["quote_volume"] = k["volume"] * k["close"]
    for name in NAMES:
        (req,) = parse_indicators(name)
        w = req.warmup("1h")
        for column, values in req.compute(k).items():
            assert not np.isnan(values[w]), (column, w)


def test_docs_name_every_indicator_column_and_warmup():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "indicators.md").read_text()
    for name in NAMES:
        ind = CATALOGUE[name]
        assert f"### `{name}` — {ind.title}" in doc
        section = doc.split(f"### `{name}` — ")[1].split("\n### ")[0]
        for column in ind.columns():
            assert f"`{column}`" in section, column
        assert ind.warmup_rule in section.replace("\n", " ")
        if ind.params:
            assert f"**{ind.warmup(interval='1h'):,}**" in section
        for p in ind.params:
            assert f"| `{p.name}` | {p.kind.__name__} | {format_value(p.default)} | " \
                   f"{format_value(p.min)} – {format_value(p.max)} |" in section
