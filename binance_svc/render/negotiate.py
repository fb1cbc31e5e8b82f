"""Which format to answer in: ``?format=`` first, then ``Accept`` with q-values, else 406.

A pure function of two strings, so the whole matrix is tested without a request (docs/api.md,
"Formats and negotiation"). Accept is parsed here rather than with Werkzeug because the contract
is stricter than Werkzeug about bad q-values (``q=nan``, ``q=inf`` and ``q=-1`` must drop the
entry) and ranks a format by the *most specific* range that matches it (RFC 9110 12.5.1), so
``text/html;q=0, */*`` refuses HTML but still admits JSON.

Choices worth knowing:
- ``negotiated`` is True whenever ``?format=`` is absent, even with no Accept header: the answer
  then depends on Accept, so the caller must send ``Vary: Accept``.
- An Accept header in which no entry is well-formed is treated as absent (JSON), as RFC 9110
  allows; one whose well-formed entries admit none of the formats is a 406.
- ``*`` alone is read as ``*/*`` (old Java clients send it).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import InvalidParameter, NotAcceptable, UnknownFormat
from .formats import FORMATS, REGISTRY

MEDIA_TYPES = {fmt: r.media_type for fmt, r in REGISTRY.items()}
# Media ranges that name a format exactly (with aliases such as text/xml, the older name of
# application/xml).
_EXACT = {**{mt: fmt for fmt, mt in MEDIA_TYPES.items()},
          **{alias: fmt for fmt, r in REGISTRY.items() for alias in r.aliases}}
_MAJORS = {fmt: {mt.split("/")[0] for mt, f in _EXACT.items() if f == fmt} for fmt in FORMATS}

_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_RANGE = re.compile(rf"^(?:\*/\*|{_TOKEN}/\*|{_TOKEN}/{_TOKEN})$")
_QVALUE = re.compile(r"^(?:\d+(?:\.\d*)?|\.\d+)$")   # plain decimals only: no inf, nan, sign, exponent


@dataclass(frozen=True)
class Choice:
    format: str
    negotiated: bool          # True: chosen by Accept (or its absence) -> caller sends Vary: Accept

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


def choose_format(format_param: str | None, accept_header: str | None,
                  allowed: tuple[str, ...] = FORMATS) -> Choice:
    """The format to answer in; raises UnknownFormat (400), InvalidParameter (400) or NotAcceptable (406)."""
    if format_param is not None:
        fmt = format_param.strip().lower()
        if fmt not in FORMATS:
            raise UnknownFormat(
                f"Unknown format {format_param!r}; use one of: {', '.join(allowed)}.",
                param="format", allowed=list(allowed))
        if fmt not in allowed:
            raise InvalidParameter(
                f"This resource is not available as {fmt}; use one of: {', '.join(allowed)}.",
                param="format", allowed=list(allowed))
        return Choice(fmt, negotiated=False)

    entries = parse_accept(accept_header or "")
    if not entries:
        return Choice(allowed[0] if "json" not in allowed else "json", negotiated=True)
    best, best_key = None, None
    for order, fmt in enumerate(f for f in FORMATS if f in allowed):
        q, specificity = _quality(fmt, entries)
        key = (q, specificity, -order)
        if q > 0 and (best_key is None or key > best_key):
            best, best_key = fmt, key
    if best is None:
        types = [MEDIA_TYPES[f] for f in FORMATS if f in allowed]
        raise NotAcceptable(
            "None of the media types in the Accept header is available here; this resource "
            f"speaks: {', '.join(types)}.", allowed=types)
    return Choice(best, negotiated=True)


def error_choice(format_param: str | None, accept_header: str | None) -> Choice:
    """The format to render an error in; never raises: JSON for a binary format (png, parquet),
    an unknown or an unacceptable one.
    `negotiated` is True when ?format= was absent, so the error body depended on Accept and
    the response needs ``Vary: Accept`` too."""
    try:
        fmt = choose_format(format_param, accept_header).format
    except Exception:     # the error being rendered may be the negotiation failure itself
        fmt = "json"
    return Choice("json" if REGISTRY[fmt].binary else fmt, negotiated=format_param is None)


def parse_accept(header: str) -> list[tuple[str, float]]:
    """``[(media_range, q), ...]`` lower-cased, parameters other than q dropped, bad entries dropped."""
    entries = []
    for item in _split_unquoted(header, ","):
        parts = _split_unquoted(item, ";")
        media = parts[0].strip().lower()
        media = "*/*" if media == "*" else media
        if not _RANGE.match(media):
            continue
        q = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                value = value.strip().strip('"')
                q = float(value) if _QVALUE.match(value) else -1.0
                break
        if 0.0 <= q <= 1.0:
            entries.append((media, q))
    return entries


def _quality(fmt: str, entries: list[tuple[str, float]]) -> tuple[float, int]:
    """(q, specificity) of the most specific range matching fmt: exact 2, type/* 1, */* 0."""
    best_spec, best_q = -1, 0.0
    for media, q in entries:
        if _EXACT.get(media) == fmt:
            spec = 2
        elif media.endswith("/*") and media[:-2] in _MAJORS[fmt]:
            spec = 1
        elif media == "*/*":
            spec = 0
        else:
            continue
        if spec > best_spec or (spec == best_spec and q > best_q):
            best_spec, best_q = spec, q
    return best_q, best_spec


def _split_unquoted(text: str, sep: str) -> list[str]:
    """Split on sep outside double quotes (a parameter value may be a quoted string)."""
    parts, start, quoted = [], 0, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == sep and not quoted:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p for p in parts if p.strip()] if sep == "," else parts
