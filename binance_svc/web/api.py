"""Routes, all derived from the spec registry: one resource per analysis, the HTML form's
redirects, and the old FastAPI URLs (308)."""
from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, redirect, request

from ..errors import InvalidParameter, NotFound
from ..render.formats import FORMATS
from ..spec import Analysis, Registry
from . import params as p
from .respond import serve


def blueprint(registry: Registry) -> Blueprint:
    """Every route of every analysis in `registry`."""
    bp = Blueprint("api", __name__)
    # A form's target may itself be a resource (the technical form's /api/v1/analysis/technical
    # is also the watch list's path): that resource then redirects the form's ?symbol=.
    forms = {a.form_action: a for a in registry if a.path_params}
    for analysis in registry:
        _resource_routes(bp, analysis, forms.get(analysis.path),
                         form_route=analysis.form_action not in {b.path for b in registry})
    charts = {name: a for a in registry if a.legacy and a.chart
              for name in (a.name, *a.legacy_names)}
    if charts:
        bp.add_url_rule("/api/v1/charts/<analysis_type>", endpoint="legacy_chart",
                        view_func=lambda analysis_type: _legacy_chart(charts, analysis_type))
    return bp


def _resource_routes(bp: Blueprint, analysis: Analysis, form_of: Analysis | None,
                     form_route: bool) -> None:
    own = {p_.name for p_ in analysis.params}

    def view(**path_args):
        if form_of is not None:
            (param,) = form_of.path_params
            if param.name in request.args and param.name not in own:
                return _form_redirect(form_of)
        return serve(analysis, **path_args)

    bp.add_url_rule(analysis.path, endpoint=analysis.name, view_func=view, methods=["GET"])
    if analysis.path_params and form_route:
        # The HTML form cannot fill in a path segment: it submits ?symbol= to the path above.
        bp.add_url_rule(analysis.form_action, endpoint=f"{analysis.name}_form",
                        view_func=lambda: _form_redirect(analysis), methods=["GET"])
    if analysis.legacy:
        bp.add_url_rule(f"{analysis.path}/<fmt>", endpoint=f"legacy_{analysis.name}",
                        view_func=lambda fmt, **path_args: _legacy(analysis, fmt, path_args),
                        methods=["GET"])


def _form_redirect(analysis: Analysis):
    (param,) = analysis.path_params
    raw = request.args.get(param.name)
    if raw is None:
        example = analysis.example_path
        raise InvalidParameter(f"{param.name} is required: {example}, or "
                               f"?{param.name}={example.rsplit('/', 1)[-1]} here.",
                               param=param.name)
    value = p.parse_param(param, raw.strip(), None, None)
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != param.name]
    return redirect(f"{request.path}/{value}" + (("?" + urlencode(rest)) if rest else ""), 303)


def _fill(analysis: Analysis, values: dict) -> str:
    path = analysis.path
    for param in analysis.path_params:
        path = path.replace(f"<{param.name}>", p.parse_param(param, values[param.name], None,
                                                             None))
    return path


def _query(**extra) -> str:
    items = [(k, v) for k, v in request.args.items(multi=True) if k not in extra]
    items += [(k, v) for k, v in extra.items() if v is not None]
    return ("?" + urlencode(items)) if items else ""


def _legacy(analysis: Analysis, fmt: str, path_args: dict):
    path = _fill(analysis, path_args)       # a bad symbol is a 400 naming it, as everywhere
    if fmt.lower() not in FORMATS:
        raise NotFound(f"There is no resource at {request.path[:200]!r}.")
    return redirect(path + _query(format=fmt.lower()), 308)


def _legacy_chart(charts: dict[str, Analysis], analysis_type: str):
    analysis = charts.get(analysis_type.lower())
    if analysis is None:
        raise NotFound(f"There is no chart {analysis_type[:40]!r}; charts: "
                       + ", ".join(sorted({a.name for a in charts.values()})) + ".")
    path = _fill(analysis, {p_.name: request.args.get(p_.name, p_.example)
                            for p_ in analysis.path_params})
    items = [(k, v) for k, v in request.args.items(multi=True)
             if k != "format" and k not in {p_.name for p_ in analysis.path_params}]
    items.append(("format", "png"))
    return redirect(path + "?" + urlencode(items), 308)
