"""The format registry: one small record per format, and the context every renderer reads.

Negotiation as data (docs/design.md): the record of a format holds its media types (the ones
`negotiate.choose_format` matches), its label on HTML pages, its file extension, its renderers
and which analyses it applies to; negotiation, the OpenAPI media types, the index and the
HTML format links all read this table. A view picks a format, then asks `REGISTRY[fmt]` for
bytes and `content_type(fmt)` for the header. Errors go through the same records; png has no
error picture, so its `render_error` is the JSON one (use `render_error`, which also returns
the matching Content-Type).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..report import Report
from ..errors import ApiError
from . import csv as csv_renderer
from . import html as html_renderer
from . import json as json_renderer
from . import xml as xml_renderer
from .values import report_filename

DEFAULT_NAV = {"Index": "/", "API docs": "/docs", "OpenAPI": "/openapi.json"}


@dataclass(frozen=True)
class FormField:
    """One input of the HTML page's form."""

    name: str
    label: str
    value: str = ""
    kind: str = "text"                   # "text" | "select" | "number"
    options: tuple = ()                  # select: values, or (value, label) pairs
    min: float | int | None = None
    max: float | int | None = None


@dataclass(frozen=True)
class RenderContext:
    """What a renderer needs to know about the request, beyond the Report."""

    path: str = ""                       # the resource path, e.g. /api/v1/analysis/technical/BTCUSDT
    query: dict[str, str] = field(default_factory=dict)   # without format/download/bom
    links: dict[str, str] = field(default_factory=dict)   # format -> relative ?format= URL
    table: str | None = None             # CSV: which table; None = the main one
    bom: bool = False                    # CSV: start with a UTF-8 byte-order mark (Excel)
    width: int = 1200
    height: int = 800
    form: tuple[FormField, ...] = ()
    form_action: str = ""
    chart: str | None = None             # PNG: the chart module (binance_svc/charts/<chart>.py)
    nav: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_NAV))
    version: str = ""


@dataclass(frozen=True)
class Renderer:
    format: str
    media_type: str
    charset: str | None
    binary: bool
    extension: str
    render: Callable[[Report, RenderContext], bytes]
    render_error: Callable[[ApiError, RenderContext], bytes]
    label: str = ""                      # on HTML pages, e.g. "JSON"
    aliases: tuple[str, ...] = ()        # other media types that name this format exactly
    needs_chart: bool = False            # only for analyses with a chart module
    description: str = ""                # in the OpenAPI document
    # Parameters of other formats that make no sense here and get a 400 naming them.
    rejects: tuple[str, ...] = ()

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset={self.charset}" if self.charset else self.media_type

    def available(self, analysis) -> bool:
        """Whether an analysis (binance_svc.spec.Analysis) is served in this format."""
        return bool(analysis.chart) or not self.needs_chart


def _render_png(report: Report, ctx: RenderContext) -> bytes:
    # Imported on first use: matplotlib is slow to import and only PNG needs it.
    from .png import render_png
    return render_png(report, ctx)


def _render_parquet(report: Report, ctx: RenderContext) -> bytes:
    # Imported on first use, as pyarrow is: only Parquet needs it.
    from .parquet import render_parquet
    return render_parquet(report, ctx)


# application/json and application/xml carry their encoding themselves (JSON is UTF-8 by
# RFC 8259, XML says so in its declaration), so a charset parameter would be noise.
# The order is the server's preference when Accept ties.
REGISTRY: dict[str, Renderer] = {r.format: r for r in (
    Renderer("json", "application/json", None, False, "json",
             json_renderer.render_json, json_renderer.render_json_error, "JSON",
             description="The envelope: params, summary, warnings, columns and rows."),
    Renderer("html", "text/html", "utf-8", False, "html",
             html_renderer.render_html, html_renderer.render_html_error, "HTML",
             description="A whole page: summary, chart, tables, form and format links."),
    Renderer("csv", "text/csv", "utf-8", False, "csv",
             csv_renderer.render_csv, csv_renderer.render_csv_error, "CSV",
             description="The main table (or ?table=), header row first."),
    Renderer("xml", "application/xml", None, False, "xml",
             xml_renderer.render_xml, xml_renderer.render_xml_error, "XML",
             aliases=("text/xml",), description="The envelope as XML, root <report>."),
    Renderer("png", "image/png", None, True, "png",
             _render_png, json_renderer.render_json_error, "PNG", needs_chart=True,
             description="The analysis' chart."),
    Renderer("parquet", "application/vnd.apache.parquet", None, True, "parquet",
             _render_parquet, json_renderer.render_json_error, "Parquet",
             aliases=("application/x-parquet",), rejects=("width", "height", "bom"),
             description="The CSV's table with typed columns (or ?table=); the rest of the "
                         "envelope as JSON in the key-value metadata `binance_svc`."),
)}
FORMATS: tuple[str, ...] = tuple(REGISTRY)


def formats_for(analysis) -> tuple[str, ...]:
    """The formats an analysis is served in, in the registry's order."""
    return tuple(f for f, r in REGISTRY.items() if r.available(analysis))


def content_type(fmt: str) -> str:
    """The Content-Type header of a response in fmt, e.g. ``text/csv; charset=utf-8``."""
    return REGISTRY[fmt].content_type


def render(report: Report, fmt: str, ctx: RenderContext) -> bytes:
    return REGISTRY[fmt].render(report, ctx)


def render_error(err: ApiError, fmt: str, ctx: RenderContext) -> tuple[bytes, str]:
    """(body, Content-Type) of an error in fmt; binary and unknown formats fall back to JSON."""
    fmt = fmt if fmt in REGISTRY and not REGISTRY[fmt].binary else "json"
    return REGISTRY[fmt].render_error(err, ctx), content_type(fmt)


def filename(report: Report, fmt: str, table: str | None = None) -> str:
    """File name for Content-Disposition, e.g. ``technical_BTCUSDT_1h_200.json``."""
    return report_filename(report, REGISTRY[fmt].extension, table)
