"""Report -> a whole HTML page; also the error page, the index (GET /) and the Swagger UI page.

Every value reaches the page through an autoescaped Jinja2 template, so nothing a client sent can
become markup. The pages use no inline style or script (they work under
``Content-Security-Policy: default-src 'self'``): the look is /static/report.css; a report with a
chart loads /static/report.js, which draws it interactively from the report's JSON (its URL in
a data attribute) and keeps the page current; the docs page runs /static/docs-init.js. Numbers are formatted here, in Python, so the templates
only place text: thousands separators, decimals by magnitude (per column in tables, so a column
lines up), ``%`` for ``*_pct`` keys, ``bps`` for ``*_bps`` keys, an em dash for undefined.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode

import jinja2
from markupsafe import Markup, escape

from .values import column_values, is_number_dtype, iso_utc, plain_table, py_value

if TYPE_CHECKING:
    from ..report import Report
    from ..errors import ApiError
    from .formats import RenderContext

STATIC_URL = "/static"
DOCS_ASSETS_URL = "/docs/assets"
SPEC_URL = "/openapi.json"
NULL = "\u2014"  # em dash
# Words the analyses use as labels, and the tone they are shown in.
TONES = {**dict.fromkeys(("bullish", "bullish_cross", "up", "buy", "bid"), "pos"),
         **dict.fromkeys(("bearish", "bearish_cross", "down", "sell", "ask"), "neg"),
         **dict.fromkeys(("overbought", "oversold", "above_upper", "below_lower"), "warn"),
         **dict.fromkeys(("neutral", "inside"), "neutral")}


@lru_cache(maxsize=1)
def _env() -> jinja2.Environment:
    # One Environment per process (it caches compiled templates), made on first use so that
    # importing render/ stays cheap for processes that never write HTML.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)


def _format_labels() -> dict[str, str]:
    from .formats import REGISTRY   # formats.py imports this module
    return {fmt: r.label for fmt, r in REGISTRY.items()}


def _page(template: str, ctx: RenderContext, **values) -> bytes:
    html = _env().get_template(template).render(
        nav=ctx.nav, version=ctx.version, static=STATIC_URL, **values)
    return html.encode("utf-8")


def render_html(report: Report, ctx: RenderContext) -> bytes:
    title = report.title or f"{report.analysis.capitalize()} analysis"
    extra = [name for name in report.tables if name != report.main_table]
    csv_link = ctx.links.get("csv")
    return _page(
        "report.html", ctx, title=title, report=report, links=ctx.links,
        format_labels=_format_labels(), params=_pairs(report.params or {}),
        data_as_of=iso_utc(report.data_as_of, millis=False) or NULL,
        generated_at=iso_utc(report.generated_at, millis=False) or NULL,
        warnings=[str(w) for w in report.warnings],
        **_summary_parts(py_value(report.summary or {})),
        main=_table(report.main_table, report.frame,
                    _with_param(csv_link, "table", report.main_table) if extra and csv_link
                    else csv_link),
        extra=[_table(name, report.tables[name],
                      _with_param(csv_link, "table", name) if csv_link else None)
               for name in extra],
        chart=ctx.links.get("png"), width=ctx.width, height=ctx.height,
        script=bool(ctx.links.get("json") and ctx.links.get("html")),
        form=[_field(f) for f in ctx.form], form_action=ctx.form_action)


def render_html_error(err: ApiError, ctx: RenderContext) -> bytes:
    return _page("error.html", ctx, title=f"{err.status} {err.code.replace('_', ' ')}",
                 status=err.status, code=err.code, message=err.message, param=err.param,
                 allowed=[str(a) for a in err.allowed or ()])


def render_index(entries: list[dict], ctx: RenderContext) -> bytes:
    return _page("index.html", ctx, title="binance_svc", entries=entries,
                 format_labels=_format_labels(), docs_url="/docs", spec_url=SPEC_URL)


def render_docs_page(ctx: RenderContext) -> bytes:
    return _page("docs.html", ctx, title="binance_svc API docs", assets=DOCS_ASSETS_URL,
                 spec_url=SPEC_URL)


# ---- values as text ------------------------------------------------------------------------

_WORDS = {"sma": "SMA", "ema": "EMA", "rsi": "RSI", "macd": "MACD", "bb": "BB", "pct": "%",
          "bps": "bps"}


def humanize(key: str) -> str:
    """A key as a label: "rsi_14" -> "RSI 14", "price_change_pct" -> "Price change %"."""
    words = [_WORDS.get(w.lower(), w) for w in str(key).split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:] if words and words[0] not in _WORDS.values() else text


def decimals_for(magnitude: float) -> int:
    """Decimals that show a number of this size sensibly: 97,000.12 / 2.3456 / 0.00001234."""
    if not magnitude or not math.isfinite(magnitude) or magnitude >= 10:
        return 2
    if magnitude >= 1:
        return 4
    return min(10, 3 - math.floor(math.log10(magnitude)))


def unit_of(key: str) -> str:
    """The unit a key's name declares: ``*_pct`` -> %, ``*_bps`` -> bps."""
    key = str(key)
    if key.endswith("_pct") or key == "pct":
        return "%"
    if key.endswith("_bps") or key == "bps":
        return "bps"
    return ""


def format_number(value: int | float, unit: str = "") -> str:
    if isinstance(value, int):
        text = f"{value:,}"
    else:
        decimals = decimals_for(abs(value))
        if unit and abs(value) >= 0.1:       # 1.23 %, 4.5 bps: more digits would be noise
            decimals = min(decimals, 2)
        text = f"{value:,.{decimals}f}"
    return f"{text} {unit}" if unit else text


def format_value(value, key: str = "", units: bool = False) -> str:
    """A value as a person reads it; with `units`, numbers get the unit their key declares."""
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return format_number(value, unit_of(key) if units else "")
    if isinstance(value, list):
        return (" / " if key == "pair" else ", ").join(format_value(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{humanize(k)}: {format_value(v, k, units)}" for k, v in value.items())
    return str(value)


def _tone(value) -> str:
    """CSS class for a label word (``tone-pos`` for "bullish"), else ""."""
    tone = TONES.get(value) if isinstance(value, str) else None
    return f"tone tone-{tone}" if tone else ""


def _pairs(mapping: dict) -> list[tuple[str, str]]:
    """Parameters as sent back to the client: exact values, no thousands separators."""
    def text(v):
        if isinstance(v, list):
            return ", ".join(text(x) for x in v)
        return NULL if v is None else str(v).lower() if isinstance(v, bool) else str(v)
    return [(str(k), text(py_value(v))) for k, v in mapping.items()]


_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z")


def _card_text(text: str) -> str:
    """A card's text; a timestamp may break after its "T" (a card is ~170 px wide: the
    browser broke "2026-11-21T01:00:00Z" inside the date), and nowhere else."""
    if _TIMESTAMP.fullmatch(text):
        date, time = text.split("T", 1)
        return Markup(f'<span class="stamp">{escape(date)}T<wbr>{escape(time)}</span>')
    return text


def _summary_parts(summary: dict) -> dict:
    """Scalars become cards; dicts a key/value table; lists of dicts a small table."""
    cards, blocks = [], []
    for key, value in summary.items():
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            rows = [{"": k, **v} for k, v in value.items()]
            blocks.append({"label": humanize(key), "key": key, **_small_table(rows)})
        elif isinstance(value, dict):
            blocks.append({"label": humanize(key), "key": key, "columns": [], "rows": [
                [(humanize(k), "key"), _cell(v, k, units=True)] for k, v in value.items()]})
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            blocks.append({"label": humanize(key), "key": key, **_small_table(value)})
        else:
            cards.append({"label": humanize(key), "key": key,
                          "text": _card_text(format_value(value, key, units=True)),
                          "tone": _tone(value)})
    return {"cards": cards, "blocks": blocks}


def _small_table(rows: list[dict]) -> dict:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    return {"columns": [humanize(c) for c in columns],
            "rows": [[_cell(row.get(c), c) for c in columns] for row in rows]}


def _cell(value, key: str = "", units: bool = False) -> tuple[str, str]:
    """(text, css class) of one table cell; in a column the header names the unit."""
    if value is None:
        return NULL, "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return format_value(value, key, units), "num"
    return format_value(value, key, units), _tone(value)


# A page is for reading: past this many rows the table shows the first ones (per side, for an
# order book) and says that the CSV has them all.
HTML_MAX_ROWS = 1000


def _table(name: str, df, csv_link: str | None) -> dict:
    """A report table as header and pre-rendered body rows (escaped here, not cell by cell in
    Jinja: 22,000 cells through the template engine cost ~10x more)."""
    df = plain_table(df)
    size = len(df)
    df = _cap(df)
    columns, cells = [], []
    for i, column in enumerate(df.columns):
        series = df.iloc[:, i]
        values = column_values(series)
        numeric = is_number_dtype(series.dtype)
        columns.append({"name": column, "numeric": numeric})
        cells.append(_number_cells(values) if numeric else
                     [(escape(text), cls) for text, cls in map(_cell, values)])
    body = "\n".join(
        "<tr>" + "".join(f'<td class="{cls}">{text}</td>' if cls else f"<td>{text}</td>"
                         for text, cls in row) + "</tr>"
        for row in zip(*cells)) if cells else ""
    return {"name": name, "label": humanize(name), "columns": columns,
            "body": Markup(body), "shown": len(df), "size": size, "csv": csv_link}


def _cap(df):
    if len(df) <= HTML_MAX_ROWS:
        return df
    if "side" in df.columns:
        per_side = HTML_MAX_ROWS // max(1, df["side"].nunique())
        return df.groupby("side", sort=False, group_keys=False).head(per_side)
    return df.head(HTML_MAX_ROWS)


def _number_cells(values: list) -> list[tuple[str, str]]:
    """Number cells with the decimals of the column's typical value, so they line up; a value
    far smaller than that (SHIB next to BTC) gets its own, so it never shows as 0.00."""
    finite = sorted(abs(v) for v in values if isinstance(v, float) and v)
    decimals = decimals_for(finite[len(finite) // 2]) if finite else 2
    small = 10.0 ** (2 - decimals)
    return [(NULL, "num null") if v is None else
            (f"{v:,}" if isinstance(v, int) else
             f"{v:,.{decimals_for(abs(v)) if 0 < abs(v) < small else decimals}f}", "num")
            for v in values]   # digits, commas, dots and signs: nothing to escape


def _field(f) -> dict:
    options = [(str(o[0]), str(o[1])) if isinstance(o, (tuple, list)) else (str(o), str(o))
               for o in f.options]
    return {"name": f.name, "label": f.label, "value": "" if f.value is None else str(f.value),
            "kind": f.kind, "options": options, "min": f.min, "max": f.max}


def _with_param(url: str, name: str, value: str) -> str:
    """url with name=value set (replacing any value it had), e.g. a CSV link for one table."""
    base, _, query = url.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != name]
    return f"{base}?{urlencode(pairs + [(name, value)])}"
