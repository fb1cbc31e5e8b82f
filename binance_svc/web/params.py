"""Query and path parameters: parsed and validated before any upstream call.

Every bad value is an InvalidParameter (400) that names the parameter, repeats the value (the
renderers escape it) and says what is allowed.
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import NamedTuple

from ..errors import InvalidParameter
from ..settings import INTERVALS, SYMBOL_RE

# ASCII digits only: \d and int() would also take "５" and other Unicode digits.
_INT_RE = re.compile(r"^[+]?[0-9]{1,12}$")
_NUM_RE = re.compile(r"^[+]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")
TRUE = ("true", "1", "yes", "on")


class IntRange(NamedTuple):
    """A whole-number parameter's bounds and default, as `integer` takes them."""

    lo: int
    hi: int
    default: int

FALSE = ("false", "0", "no", "off")


def _show(raw: str, limit: int = 60) -> str:
    text = raw if len(raw) <= limit else raw[:limit] + "…"
    return "".join(ch if ch.isprintable() else "�" for ch in text)


def quote(raw) -> str:
    return '"' + _show(str(raw)) + '"'


def bad(name: str, raw, allowed: str, allowed_list=None) -> InvalidParameter:
    return InvalidParameter(f"{name}={quote(raw)} is not valid: {allowed}.", param=name,
                            allowed=allowed_list)


def symbol(raw: str, name: str = "symbol") -> str:
    if not SYMBOL_RE.match(raw or ""):
        raise bad(name, raw, "2 to 20 letters or digits, e.g. BTCUSDT")
    return raw.upper()


def symbol_list(raw: str | None, default: tuple[str, ...], lo: int, hi: int,
                name: str = "symbols") -> list[str]:
    if raw is None:
        return list(default)
    items = [s.strip() for s in raw.split(",")]
    if any(not s for s in items):
        raise bad(name, raw, f"a comma-separated list of {lo} to {hi} symbols, no empty items")
    out = [symbol(s, name) for s in items]
    if len(set(out)) != len(out):
        dupes = sorted({s for s in out if out.count(s) > 1})
        raise bad(name, raw, f"distinct symbols; repeated: {', '.join(dupes)}")
    if not lo <= len(out) <= hi:
        raise bad(name, raw, f"{lo} to {hi} distinct symbols (got {len(out)})")
    return out


def interval(raw: str | None, default: str) -> str:
    if raw is None:
        return default
    if raw not in INTERVALS:
        raise bad("interval", raw, "one of " + " ".join(INTERVALS) + " (case-sensitive: 1m is a "
                  "minute, 1M a month)", list(INTERVALS))
    return raw


def integer(name: str, raw: str | None, lo: int, hi: int, default: int) -> int:
    if raw is None:
        return default
    if not _INT_RE.match(raw.strip()):
        raise bad(name, raw, f"a whole number from {lo} to {hi}")
    value = int(raw.strip())
    if not lo <= value <= hi:
        raise bad(name, raw, f"a whole number from {lo} to {hi}")
    return value


def boolean(name: str, raw: str | None, default: bool) -> bool:
    if raw is None:
        return default
    low = raw.strip().lower()
    if low in TRUE:
        return True
    if low in FALSE:
        return False
    raise bad(name, raw, "true or false")


def timestamp(name: str, raw: str | None, now: datetime) -> datetime | None:
    """ISO-8601 UTC (a 'Z' or +00:00 offset, or none) or epoch milliseconds; not in the future."""
    if raw is None:
        return None
    text = raw.strip()
    allowed = "an ISO-8601 UTC time such as 2026-11-01T00:00:00Z, or epoch milliseconds"
    try:
        if re.fullmatch(r"[0-9]{10,14}", text):
            value = datetime.fromtimestamp(int(text) / 1000, timezone.utc)
        else:
            if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9:.]+)?(Z|[+-][0-9]{2}:?[0-9]{2})?",
                                text):
                raise ValueError(text)
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=timezone.utc)
            value = value.astimezone(timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise bad(name, raw, allowed) from None
    if value.year < 2017:
        raise bad(name, raw, "a time from 2017 on (Binance has no older data)")
    if value > now:
        raise bad(name, raw, "a time that is not in the future")
    return value


def notionals(raw: str | None, default: tuple[float, ...], lo: float = 1, hi: float = 1e9,
              most: int = 10, name: str = "notional") -> list[float]:
    if raw is None:
        return list(default)
    allowed = (f"a comma-separated list of at most {most} amounts, each from {_amount(lo)} "
               f"to {_amount(hi)}")
    items = [s.strip() for s in raw.split(",")]
    if not 1 <= len(items) <= most or any(not _NUM_RE.match(s) for s in items):
        raise bad(name, raw, allowed)
    values = [float(s) for s in items]
    if any(not (math.isfinite(v) and lo <= v <= hi) for v in values):
        raise bad(name, raw, allowed)
    return [int(v) if v.is_integer() else v for v in values]   # echoed as 10000, not 10000.0


def _amount(x: float) -> str:
    """1 -> "1", 1e9 -> "1e9" (as the contract writes them)."""
    return f"{x:g}".replace("e+0", "e").replace("e+", "e")


def choice(name: str, raw: str | None, options: tuple[str, ...], default: str | None,
           case_insensitive: bool = True) -> str | None:
    if raw is None:
        return default
    value = raw.strip().lower() if case_insensitive else raw
    for option in options:
        if (option.lower() if case_insensitive else option) == value:
            return option
    raise bad(name, raw, "one of " + ", ".join(options), list(options))


def asset(name: str, raw: str | None) -> str | None:
    if raw is None:
        return None
    if not re.fullmatch(r"[A-Za-z0-9]{1,20}", raw):
        raise bad(name, raw, "an asset code of letters and digits, e.g. USDT")
    return raw.upper()


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_param(param, raw: str | None, settings, now: datetime):
    """One parameter of a spec (binance_svc.spec.Param) parsed by its kind."""
    kind, name = param.kind, param.name
    if kind == "symbol":
        return None if raw is None else symbol(raw, name)
    if kind == "symbols":
        return symbol_list(raw, settings.watchlist, param.lo, param.hi, name)
    if kind == "interval":
        return interval(raw, param.default)
    if kind == "int":
        return integer(name, raw, param.lo, param.hi, param.default)
    if kind == "bool":
        return boolean(name, raw, param.default)
    if kind == "time":
        return _iso(timestamp(name, raw, now))
    if kind == "notionals":
        return notionals(raw, param.default, param.lo, param.hi, name=name)
    if kind == "choice":
        return choice(name, raw, param.options, param.default)
    if kind == "asset":
        return asset(name, raw)
    if kind == "indicators":
        from ..analysis.catalogue import parse_indicators
        # The HTML form sends its empty field: empty means the default set, as absent does.
        requests = parse_indicators(raw if raw is None or raw.strip() else None)
        return None if requests is None else [r.spec for r in requests]
    raise ValueError(f"parameter {name!r} has an unknown kind {kind!r}")


def parse_params(analysis, args: dict, path_args: dict, settings, now: datetime) -> dict:
    """Every parameter of `analysis`, in its declared order, then its cross-parameter check."""
    out = {}
    for param in analysis.params:
        raw = path_args.get(param.name) if param.in_path else args.get(param.name)
        out[param.name] = parse_param(param, raw, settings, now)
    if analysis.check is not None:
        analysis.check(out, args, now)
    return out
