"""The vocabulary of an analysis spec: parameters, columns, tables and the spec itself.

An analysis is one `Analysis` record (the records are in `binance_svc/analyses.py`). Everything
a user meets is derived from it: the route, the query parser and its 400s, the OpenAPI entry,
the index card, the HTML form, whether a PNG exists, the file name and the worker's warm-up.
This module only defines the shapes; it imports nothing of the service, so analysis modules
can declare their columns with it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

# Column types, as renderers and the OpenAPI document read them.
STRING, TIME, NUMBER, INTEGER = "string", "time", "number", "integer"


@dataclass(frozen=True)
class Column:
    name: str
    type: str                 # STRING | TIME | NUMBER | INTEGER
    meaning: str
    unit: str = ""            # e.g. "quote asset", "%", "bps"; "" when it has none


def columns(*rows: tuple) -> tuple[Column, ...]:
    """`columns(("price", NUMBER, "Level price", "quote asset"), ...)` as Column records."""
    return tuple(Column(*row) for row in rows)


def names(cols: tuple[Column, ...]) -> list[str]:
    return [c.name for c in cols]


@dataclass(frozen=True)
class Table:
    """One table of a report; the first table of an analysis is its main one (CSV default).

    `open_columns`: the columns after the declared ones depend on the request (a symbol-by-symbol
    matrix has one per symbol), described by `open_meaning`.
    """

    name: str
    columns: tuple[Column, ...]
    description: str = ""
    open_columns: bool = False
    open_meaning: str = ""


@dataclass(frozen=True)
class Param:
    """One query or path parameter.

    `kind` picks the parser in web/params.py (`parse_param`) and the OpenAPI schema:
    symbol, symbols, interval, int, bool, time, notionals, choice, asset.
    `label` puts it in the HTML form under that label (None: not in the form).
    """

    name: str
    kind: str
    description: str
    default: object = None
    lo: int | float | None = None
    hi: int | float | None = None
    options: tuple[str, ...] = ()
    label: str | None = None
    example: str | None = None
    in_path: bool = False


@dataclass(frozen=True)
class Analysis:
    """One resource: what it is, what it takes, what it answers, and how it is built.

    `build(market, params, now) -> Report` makes the upstream calls through the Market and hands
    the frames to the pure analysis function. `check(params, raw_args, now)` runs after every
    parameter parsed (rules between parameters, e.g. start before end) and may fill in
    defaults that depend on other parameters.
    """

    name: str
    title: str
    path: str                             # Flask rule, e.g. /api/v1/market/depth/<symbol>
    description: str
    params: tuple[Param, ...]
    tables: tuple[Table, ...]
    build: Callable
    check: Callable | None = None
    chart: str | None = None              # module name under binance_svc/charts/, None: no PNG
    example: str = ""                     # a path to try, e.g. /api/v1/x/BTCUSDT
    tag: str = "analyses"                 # OpenAPI tag
    warm: bool = True                     # worker preparation draws its chart once
    summary_keys: tuple[str, ...] = ()    # documented keys of the JSON summary
    # The original FastAPI version's URLs: {path}/{format} and /api/v1/charts/{name or alias}
    # answer with a 308 to this resource.
    legacy: bool = False
    legacy_names: tuple[str, ...] = ()

    @property
    def query(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if not p.in_path)

    @property
    def path_params(self) -> tuple[Param, ...]:
        return tuple(p for p in self.params if p.in_path)

    @property
    def table_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)

    @property
    def example_path(self) -> str:
        return self.example or self.path

    @property
    def form_action(self) -> str:
        """Where the HTML form submits: the path up to its first path parameter (a form cannot
        fill in a path segment; that URL redirects ?symbol=X to the resource)."""
        return self.path.split("/<")[0]


@dataclass(frozen=True)
class Registry:
    """The analyses in the order the index, the OpenAPI document and the warm-up list them."""

    analyses: tuple[Analysis, ...] = field(default_factory=tuple)

    def __iter__(self):
        return iter(self.analyses)

    def __getitem__(self, name: str) -> Analysis:
        for a in self.analyses:
            if a.name == name:
                return a
        raise KeyError(name)

    def get(self, name: str) -> Analysis | None:
        return next((a for a in self.analyses if a.name == name), None)

    def names(self) -> list[str]:
        return [a.name for a in self.analyses]

    def with_analysis(self, analysis: Analysis) -> "Registry":
        """A registry with one more analysis (tests and extensions register their own)."""
        return Registry(self.analyses + (analysis,))
