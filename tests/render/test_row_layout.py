"""The column-wise row layout shared by JSON, CSV and XML (values.row_pieces, column_texts)."""
import enum
import json

import numpy as np
import pandas as pd
import pytest

from binance_svc.report import Report
from binance_svc.render.csv import render_csv
from binance_svc.render.formats import RenderContext
from binance_svc.render.json import dumps_text, render_json
from binance_svc.render.values import column_texts, py_value, row_pieces
from binance_svc.render.xml import render_xml


@pytest.mark.parametrize("k", [1, 2, 3])
@pytest.mark.parametrize("n", [0, 1, 4])
def test_row_pieces_joins_like_a_template(k, n):
    columns = [[f"c{j}r{i}" for i in range(n)] for j in range(k)]
    starts = [f"<{j}>" for j in range(k)]
    rows = ["".join(s + c for s, c in zip(starts, cells)) + "|" for cells in zip(*columns)]
    assert "".join(row_pieces(starts, "|", columns, sep=",")) == ",".join(rows)


class Side(str, enum.Enum):
    BID = "bid"


@pytest.mark.parametrize("values", [
    ["bid", "ask", "bid", 'q"uote', "ünï", "=1"],   # plain strings: one text per distinct value
    ["bid", None, "ask", np.nan],                   # missing values: general path
    ["bid", Side.BID, "bid"],                        # a str subclass: general path, cell by cell
])
@pytest.mark.parametrize("dtype", ["str", object])
def test_text_columns_match_the_cell_by_cell_texts(values, dtype):
    series = pd.Series(values, dtype=dtype)
    for text in (dumps_text, str, repr):
        want = ["null" if v is None else text(v)
                for v in (py_value(x) for x in series.astype(object).tolist())]
        assert column_texts(series, null="null", text=text) == want


def test_one_column_csv_writes_an_empty_cell_as_quotes():
    report = Report("x", {}, {"t": pd.DataFrame({"name": ["a", None, "b"]})})
    assert render_csv(report, RenderContext()).decode() == 'name\na\n""\nb\n'


def test_tables_without_rows_or_columns():
    empty = pd.DataFrame({"side": pd.Series([], dtype="str"), "price": np.array([], float)})
    report = Report("x", {}, {"main": empty, "none": pd.DataFrame(index=range(2))})
    body = json.loads(render_json(report, RenderContext()))
    assert body["rows"] == [] and body["tables"]["none"] == {"columns": [], "rows": [{}, {}]}
    assert render_csv(report, RenderContext()).decode() == "side,price\n"
    xml = render_xml(report, RenderContext()).decode()
    assert "<rows></rows>" in xml and "<rows><row/><row/></rows>" in xml
