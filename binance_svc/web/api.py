"""Routes: the five resources, the HTML form's redirects, and the old FastAPI URLs (308)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, request

from ..errors import InvalidParameter, NotFound
from ..render.negotiate import FORMATS
from . import params as p
from .resources import RESOURCES
from .respond import serve

bp = Blueprint("api", __name__)


def _route(name: str):
    resource = RESOURCES[name]

    def view(**path_args):
        return serve(resource, **path_args)

    view.__name__ = f"{name}_view"
    bp.add_url_rule(resource.path, endpoint=name, view_func=view, methods=["GET"])


for _name in RESOURCES:
    _route(_name)


def _query(**extra) -> str:
    items = [(k, v) for k, v in request.args.items(multi=True) if k not in extra]
    items += [(k, v) for k, v in extra.items() if v is not None]
    return ("?" + urlencode(items)) if items else ""


# The HTML form cannot change a path segment: it submits ?symbol= to the collection URL.
@bp.get("/api/v1/analysis/technical")
@bp.get("/api/v1/market/liquidity")
def symbol_form_redirect():
    raw = request.args.get("symbol")
    if raw is None:
        raise InvalidParameter("symbol is required: /api/v1/analysis/technical/BTCUSDT, or "
                               "?symbol=BTCUSDT here.", param="symbol")
    symbol = p.symbol(raw.strip())
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "symbol"]
    return redirect(f"{request.path}/{symbol}" + (("?" + urlencode(rest)) if rest else ""), 303)


# -- the original FastAPI version's URLs --------------------------------------------------------
def _legacy(path: str, fmt: str):
    if fmt.lower() not in FORMATS:
        raise NotFound(f"There is no resource at {request.path[:200]!r}.")
    return redirect(path + _query(format=fmt.lower()), 308)


@bp.get("/api/v1/market/statistics/<fmt>")
def legacy_statistics(fmt):
    return _legacy("/api/v1/market/statistics", fmt)


@bp.get("/api/v1/analysis/technical/<symbol>/<fmt>")
def legacy_technical(symbol, fmt):
    return _legacy(f"/api/v1/analysis/technical/{p.symbol(symbol)}", fmt)


@bp.get("/api/v1/analysis/correlation/<fmt>")
def legacy_correlation(fmt):
    return _legacy("/api/v1/analysis/correlation", fmt)


@bp.get("/api/v1/market/liquidity/<symbol>/<fmt>")
def legacy_liquidity(symbol, fmt):
    return _legacy(f"/api/v1/market/liquidity/{p.symbol(symbol)}", fmt)


_CHART_ALIASES = {"technical": "technical", "statistics": "statistics", "market": "statistics",
                  "market_statistics": "statistics", "correlation": "correlation",
                  "liquidity": "liquidity"}


@bp.get("/api/v1/charts/<analysis_type>")
def legacy_chart(analysis_type):
    name = _CHART_ALIASES.get(analysis_type.lower())
    if name is None:
        raise NotFound(f"There is no chart {analysis_type[:40]!r}; charts: "
                       + ", ".join(sorted(set(_CHART_ALIASES.values()))) + ".")
    path = RESOURCES[name].path
    if "<symbol>" in path:
        symbol = p.symbol(request.args.get("symbol", "BTCUSDT"))
        path = path.replace("<symbol>", symbol)
    return redirect(path + _chart_query(), 308)


def _chart_query() -> str:
    items = [(k, v) for k, v in request.args.items(multi=True) if k not in ("symbol", "format")]
    items.append(("format", "png"))
    return "?" + urlencode(items)
