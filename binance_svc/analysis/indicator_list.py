"""The indicator catalogue as a report (GET /api/v1/indicators): what `indicators=` of the
technical resource accepts, with each parameter's default and range, the columns each
indicator adds, its warm-up and its reference (docs/indicators.md says the same in prose)."""
from __future__ import annotations

import pandas as pd

from ..report import Report
from ..spec import INTEGER, NUMBER, STRING, columns, names
from .catalogue import CATALOGUE, FAMILIES, MAX_INDICATORS, NAMES, format_value

INDICATOR_COLUMNS = columns(
    ("name", STRING, "The name to use in indicators=, e.g. macd"),
    ("title", STRING, "What it is"),
    ("family", STRING, "Where a chart draws it: " + ", ".join(FAMILIES)),
    ("usage", STRING, "The item's syntax, e.g. macd[:fast[:slow[:signal]]]"),
    ("defaults", STRING, "The item with every parameter at its default, e.g. macd:12:26:9"),
    ("columns", STRING, "The columns it adds at its defaults, space-separated"),
    ("inputs", STRING, "The candle columns it reads"),
    ("warmup_1h", INTEGER, "Candles fetched before the first row at its defaults on 1h", "candles"),
    ("warmup_rule", STRING, "How its warm-up is computed"),
    ("reference", STRING, "A TA-Lib function of the same name, or where the formula is from"),
)
PARAMETER_COLUMNS = columns(
    ("indicator", STRING, "The indicator's name"),
    ("position", INTEGER, "Its place in the item, 1 first"),
    ("parameter", STRING, "The parameter's name"),
    ("type", STRING, "int or float"),
    ("default", NUMBER, "Taken when the item leaves it out"),
    ("min", NUMBER, "Smallest allowed value"),
    ("max", NUMBER, "Largest allowed value"),
    ("description", STRING, "What it sets"),
)
OUTPUT_COLUMNS = columns(
    ("indicator", STRING, "The indicator's name"),
    ("output", STRING, "The output's name"),
    ("column", STRING, "Its column name, parameters in braces, e.g. macd_signal_{fast}_{slow}_{signal}"),
    ("example", STRING, "Its column at the defaults, e.g. macd_signal_12_26_9"),
    ("description", STRING, "What the column holds"),
)


def indicators_report(*, params: dict, family: str | None = None) -> Report:
    chosen = [CATALOGUE[n] for n in NAMES if family is None or CATALOGUE[n].family == family]
    main, parameters, outputs = [], [], []
    for ind in chosen:
        main.append({"name": ind.name, "title": ind.title, "family": ind.family,
                     "usage": ind.usage(),
                     "defaults": ":".join([ind.name, *(format_value(p.default)
                                                       for p in ind.params)]),
                     "columns": " ".join(ind.columns()), "inputs": " ".join(ind.inputs),
                     "warmup_1h": ind.warmup(None, "1h"), "warmup_rule": ind.warmup_rule,
                     "reference": ind.reference})
        for i, p in enumerate(ind.params, 1):
            parameters.append({"indicator": ind.name, "position": i, "parameter": p.name,
                               "type": p.kind.__name__, "default": float(p.default),
                               "min": float(p.min), "max": float(p.max),
                               "description": p.description})
        described = ind.describe()["outputs"]
        for o in described:
            outputs.append({"indicator": ind.name, "output": o["name"], "column": o["column"],
                            "example": o["example"], "description": o["description"]})
    tables = {"indicators": pd.DataFrame(main, columns=names(INDICATOR_COLUMNS)),
              "parameters": pd.DataFrame(parameters, columns=names(PARAMETER_COLUMNS)),
              "outputs": pd.DataFrame(outputs, columns=names(OUTPUT_COLUMNS))}
    tables["indicators"]["warmup_1h"] = tables["indicators"]["warmup_1h"].astype("int64")
    tables["parameters"]["position"] = tables["parameters"]["position"].astype("int64")
    summary = {"count": len(main), "families": sorted({i.family for i in chosen}),
               "max_per_request": MAX_INDICATORS,
               "syntax": "indicators=name[:param[:param...]],... e.g. "
                         "sma:20,sma:200,rsi:14,macd:12:26:9"}
    title = f"Indicators: {family}" if family else "Indicators"
    return Report(analysis="indicators", params=params, tables=tables, summary=summary,
                  title=title)
