"""What the README promises a data analyst, against the real gunicorn on the demo market."""
from __future__ import annotations

import urllib.request

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_read_csv_of_technical_gives_floats_and_utc_times(demo_server):
    url = demo_server.url + "/api/v1/analysis/technical/BTCUSDT?format=csv&limit=120"
    frame = pd.read_csv(url, parse_dates=["open_time"])
    assert len(frame) == 120
    assert str(frame["open_time"].dt.tz) == "UTC"
    for col in ("open", "high", "low", "close", "volume", "sma_20", "rsi_14", "macd_hist"):
        assert frame[col].dtype == "float64", col
    assert frame["open_time"].is_monotonic_increasing
    # Every row has every indicator: the service fetched the warm-up candles itself.
    assert not frame.isna().any().any()


def test_read_csv_of_correlation_with_index_col_is_the_matrix(demo_server):
    url = demo_server.url + "/api/v1/analysis/correlation?symbols=BTCUSDT,ETHUSDT,SOLUSDT&format=csv"
    matrix = pd.read_csv(url, index_col=0)
    assert list(matrix.index) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert list(matrix.columns) == list(matrix.index)
    for s in matrix.index:
        assert matrix.loc[s, s] == pytest.approx(1.0)
    assert (matrix.values == matrix.values.T).all()
    assets = pd.read_csv(url + "&table=assets")
    assert list(assets["symbol"]) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert assets.loc[0, "beta"] == pytest.approx(1.0)


def test_read_xml_reads_the_liquidity_rows(demo_server):
    req = urllib.request.Request(demo_server.url + "/api/v1/market/liquidity/ETHUSDT?depth=100",
                                 headers={"Accept": "application/xml"})
    with urllib.request.urlopen(req, timeout=20) as resp:
        assert resp.headers["Content-Type"] == "application/xml"
        assert resp.headers["Vary"] == "Accept"
        body = resp.read()
    import io
    rows = pd.read_xml(io.BytesIO(body), xpath=".//rows/row")
    assert set(rows["side"]) == {"bid", "ask"}
    assert len(rows) == 200
    bids = rows[rows["side"] == "bid"]
    asks = rows[rows["side"] == "ask"]
    assert bids["price"].max() < asks["price"].min()
    assert (rows["notional"] - rows["price"] * rows["quantity"]).abs().max() < 1e-6
