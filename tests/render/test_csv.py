"""CSV: a table that pandas reads without arguments and a spreadsheet cannot execute."""
import io
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from binance_svc.report import Report
from binance_svc.errors import InvalidParameter, UnknownFormat
from binance_svc.render.csv import render_csv, render_csv_error
from binance_svc.render.formats import RenderContext, content_type, filename

ASOF = datetime(2026, 11, 23, 19, 0, 3, tzinfo=timezone.utc)
CTX = RenderContext()


def technical(n=3, warmup=1):
    open_time = pd.date_range("2026-11-23T16:00:00Z", periods=n, freq="h")
    sma = pd.Series(97000.125 + np.arange(n, dtype=float))
    sma[:warmup] = np.nan
    table = pd.DataFrame({
        "open_time": open_time,
        "close_time": open_time + pd.Timedelta(milliseconds=3_599_999),
        "close": [97000.1, 0.00001234, -1.5][:n], "volume": [12.0, 1e16, 3.25][:n],
        "trades": np.array([100, 0, 7][:n], dtype="int64"), "sma_20": sma})
    return Report("technical", {"symbol": "BTCUSDT", "interval": "1h", "limit": 200,
                                "closed": True}, {"candles": table},
                  data_as_of=ASOF, generated_at=ASOF)


def correlation():
    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    matrix = pd.DataFrame({"symbol": symbols, "BTCUSDT": [1.0, 0.8, 0.6],
                           "ETHUSDT": [0.8, 1.0, 0.7], "SOLUSDT": [0.6, 0.7, 1.0]})
    assets = pd.DataFrame({"symbol": symbols, "annualized_volatility": [0.5, 0.6, 0.9],
                           "beta": [1.0, 1.1, np.nan]})
    return Report("correlation", {"symbols": symbols, "interval": "1d", "limit": 90},
                  {"matrix": matrix, "assets": assets})


def read(body: bytes, **kwargs) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(body), **kwargs)


def test_tiny_report_as_text():
    assert render_csv(technical(), CTX).decode() == (
        "open_time,close_time,close,volume,trades,sma_20\n"
        "2026-11-23T16:00:00Z,2026-11-23T16:59:59.999Z,97000.1,12.0,100,\n"
        "2026-11-23T17:00:00Z,2026-11-23T17:59:59.999Z,0.00001234,1e+16,0,97001.125\n"
        "2026-11-23T18:00:00Z,2026-11-23T18:59:59.999Z,-1.5,3.25,7,97002.125\n")


def test_round_trip_through_pandas():
    report = technical()
    df = read(render_csv(report, CTX), parse_dates=["open_time", "close_time"])
    assert list(df.columns) == list(report.frame.columns)
    assert str(df["open_time"].dt.tz) == "UTC"
    assert (df["open_time"] == report.frame["open_time"]).all()
    assert (df["close_time"] == report.frame["close_time"]).all()
    for col in ("close", "volume", "sma_20"):
        assert df[col].dtype == "float64"
        pd.testing.assert_series_equal(df[col], report.frame[col], check_names=False)
    assert df["trades"].dtype == "int64"
    assert np.isnan(df["sma_20"].iloc[0])


def test_formula_cells_neutralised_numbers_untouched():
    table = pd.DataFrame({"symbol": ['=HYPERLINK("http://x","y")', "+1", "-x", "@SUM(A1)",
                                     "\tTAB", "\rCR", "BTCUSDT", "a=b"],
                          "change": [-1.5, -2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    body = render_csv(Report("statistics", {}, {"tickers": table}), CTX).decode()
    df = read(body.encode())
    assert df["symbol"].tolist() == ["'=HYPERLINK(\"http://x\",\"y\")", "'+1", "'-x", "'@SUM(A1)",
                                     "'\tTAB", "'\rCR", "BTCUSDT", "a=b"]
    assert df["change"].dtype == "float64" and df["change"].iloc[0] == -1.5
    assert "\n\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\",-1.5\n" in body


def test_bom_only_on_request():
    plain = render_csv(technical(), CTX)
    with_bom = render_csv(technical(), RenderContext(bom=True))
    assert not plain.startswith(b"\xef\xbb\xbf")
    assert with_bom == b"\xef\xbb\xbf" + plain
    assert list(read(with_bom, encoding="utf-8-sig").columns)[0] == "open_time"


def test_table_selection():
    report = correlation()
    matrix = read(render_csv(report, CTX), index_col=0)
    assert matrix.index.name == "symbol"
    assert list(matrix.index) == list(matrix.columns) == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert matrix.shape == (3, 3) and (matrix.to_numpy().diagonal() == 1.0).all()
    assert render_csv(report, RenderContext(table="matrix")) == render_csv(report, CTX)
    assets = read(render_csv(report, RenderContext(table="assets")))
    assert list(assets.columns) == ["symbol", "annualized_volatility", "beta"]
    assert assets["beta"].isna().tolist() == [False, False, True]


def test_unknown_table_is_invalid_parameter():
    with pytest.raises(InvalidParameter) as info:
        render_csv(correlation(), RenderContext(table="nope<script>"))
    assert (info.value.param, info.value.allowed) == ("table", ["matrix", "assets"])


def test_error_as_csv():
    err = UnknownFormat("=cmd| is not a format", param="format", allowed=["json"])
    body = render_csv_error(err, CTX).decode()
    assert body == "status,code,message,param\n400,unknown_format,'=cmd| is not a format,format\n"
    no_param = InvalidParameter("bad, \"quoted\"")
    assert render_csv_error(no_param, CTX).decode().splitlines()[1] == \
        '400,invalid_parameter,"bad, ""quoted""",'


def test_filenames():
    assert filename(technical(), "csv") == "technical_BTCUSDT_1h_200.csv"
    report = correlation()
    assert filename(report, "csv") == "correlation_BTCUSDT-ETHUSDT-SOLUSDT_1d_90_matrix.csv"
    assert filename(report, "csv", "assets") == "correlation_BTCUSDT-ETHUSDT-SOLUSDT_1d_90_assets.csv"
    odd = Report("technical", {"symbol": 'A"B/../\r\nC', "start": ASOF}, {"t": pd.DataFrame()})
    name = filename(odd, "csv")
    assert name == "technical_A-B-..-C_20261123T190003Z.csv"
    assert filename(technical(), "json") == "technical_BTCUSDT_1h_200.json"
    assert content_type("csv") == "text/csv; charset=utf-8"


def test_single_column_nulls_keep_their_rows():
    report = Report("x", {}, {"t": pd.DataFrame({"v": [1.0, np.nan, 3.0]})})
    body = render_csv(report, CTX)
    assert body == b'v\n1.0\n""\n3.0\n'
    assert read(body)["v"].isna().tolist() == [False, True, False]
