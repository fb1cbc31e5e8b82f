"""The technical analysis of a watch list: one long, tidy table (symbol first) that pandas reads
as it is, each symbol's rows equal to its own technical resource's, and the technical form's
redirect still working at the same URL."""
from __future__ import annotations

import io

import pandas as pd
import pytest

URL = "/api/v1/analysis/technical"
END = "2026-11-01T00:00:00Z"


def test_the_csv_is_a_tidy_frame_of_the_whole_watch_list(client):
    query = f"symbols=BTCUSDT,ETHUSDT,DOGEUSDT&limit=25&end={END}&indicators=rsi,obv"
    frame = pd.read_csv(io.BytesIO(client.get(f"{URL}?{query}&format=csv").data),
                        parse_dates=["open_time"])
    assert list(frame.columns[:3]) == ["symbol", "open_time", "close_time"]
    assert list(frame.columns[-2:]) == ["rsi_14", "obv"]
    assert list(dict.fromkeys(frame["symbol"])) == ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]
    assert frame.groupby("symbol").size().tolist() == [25, 25, 25]
    # Each symbol's rows are that symbol's own technical report.
    for symbol in ("ETHUSDT", "DOGEUSDT"):
        own = pd.read_csv(io.BytesIO(client.get(
            f"{URL}/{symbol}?limit=25&end={END}&indicators=rsi,obv&format=csv").data),
            parse_dates=["open_time"])
        mine = frame[frame["symbol"] == symbol].drop(columns="symbol").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, own)


def test_json_summary_per_symbol(client):
    body = client.get(f"{URL}?symbols=BTCUSDT,ETHUSDT&limit=5&end={END}").get_json()
    assert body["analysis"] == "watchlist" and body["summary"]["symbols"] == 2
    by = body["summary"]["by_symbol"]
    assert list(by) == ["BTCUSDT", "ETHUSDT"]
    last_eth = [r for r in body["rows"] if r["symbol"] == "ETHUSDT"][-1]
    assert by["ETHUSDT"]["last_close"] == last_eth["close"]
    assert set(by["ETHUSDT"]["signals"]) == {"rsi", "macd", "bollinger", "trend"}


@pytest.mark.parametrize("symbols,fragment", [
    (",".join(["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT",
               "TRXUSDT", "LINKUSDT", "AVAXUSDT", "DOTUSDT"]), "1 to 10"),
    ("BTCUSDT,BTCUSDT", "repeated"),
])
def test_more_than_ten_or_repeated_symbols_are_a_400(client, demo, symbols, fragment):
    resp = client.get(f"{URL}?symbols={symbols}")
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error["param"] == "symbols" and fragment in error["message"]
    assert demo.counters.requests == {}


def test_an_unknown_symbol_is_a_404_naming_symbols(client):
    resp = client.get(f"{URL}?symbols=BTCUSDT,NOPEUSDT")
    assert resp.status_code == 404 and resp.get_json()["error"]["param"] == "symbols"


def test_the_technical_form_still_redirects_here(client):
    resp = client.get(f"{URL}?symbol=ethusdt&interval=4h&indicators=rsi")
    assert resp.status_code == 303
    assert resp.headers["Location"].endswith(
        "/api/v1/analysis/technical/ETHUSDT?interval=4h&indicators=rsi")


def test_png_is_a_grid_of_the_symbols(client):
    resp = client.get(f"{URL}?symbols=BTCUSDT,ETHUSDT,SOLUSDT&format=png&width=900&height=600")
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "image/png"
    assert resp.data[16:24] == (900).to_bytes(4, "big") + (600).to_bytes(4, "big")
