"""The records of the indicator catalogue (binance_svc/analysis/catalogue.py): an indicator's
parameters and outputs, the Indicator itself (naming, computing, warm-up), a parsed Request,
and the warm-up arithmetic of recursive smoothings. Pure: numpy/pandas only."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from ..settings import INTERVAL_MS

# A recursive smoothing has converged when the weight its seed (or any other initial state)
# still carries in the value is at most this; every exponential warm-up rule uses it.
SEED_WEIGHT = 1e-8


# --- records --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    name: str
    kind: type                     # int or float
    default: int | float
    min: int | float
    max: int | float
    description: str

    def describe(self) -> dict:
        return {"name": self.name, "type": self.kind.__name__, "default": self.default,
                "min": self.min, "max": self.max, "description": self.description}

    def allowed(self) -> str:
        what = "a whole number" if self.kind is int else "a number"
        return (f"{self.name}: {what} from {format_value(self.min)} to "
                f"{format_value(self.max)}, default {format_value(self.default)}")


@dataclass(frozen=True)
class Output:
    name: str                      # e.g. "signal"
    stem: str                      # column name before the parameters, e.g. "macd_signal"
    description: str = ""


@dataclass(frozen=True)
class Indicator:
    name: str
    title: str
    family: str
    inputs: tuple[str, ...]        # klines frame columns the computation reads
    params: tuple[Param, ...]
    outputs: tuple[Output, ...]
    warmup_rule: str               # the rule in words, as docs/indicators.md gives it
    reference: str                 # a TA-Lib function name or a URL
    function: Callable = field(repr=False)          # (*input arrays, *params) -> array(s)
    warmup_fn: Callable = field(repr=False)         # (params tuple, interval) -> int
    bounds: tuple[float, float] | None = None       # the scale of an oscillator, if fixed
    cumulative: bool = False       # a running sum: only its changes mean anything
    check: Callable | None = field(default=None, repr=False)  # params -> problem or None
    notes: str = ""

    # Params may be given as a tuple in catalogue order (possibly short), or a mapping.
    def resolve(self, params: Sequence | Mapping | None = None) -> tuple:
        if params is None:
            params = ()
        if isinstance(params, Mapping):
            unknown = set(params) - {p.name for p in self.params}
            if unknown:
                raise ValueError(f"{self.name} has no parameter {sorted(unknown)[0]!r}")
            values = tuple(params.get(p.name, p.default) for p in self.params)
        else:
            if len(params) > len(self.params):
                raise ValueError(f"{self.name} takes at most {len(self.params)} parameters")
            values = tuple(params) + tuple(p.default for p in self.params[len(params):])
        out = []
        for p, v in zip(self.params, values):
            if p.kind is int and (isinstance(v, bool) or float(v) != int(v)):
                raise ValueError(f"{self.name} {p.name} must be a whole number")
            v = p.kind(v)
            if not p.min <= v <= p.max:
                raise ValueError(f"{self.name} {p.name} must be from {p.min} to {p.max}")
            out.append(v)
        problem = self.check(tuple(out)) if self.check else None
        if problem:
            raise ValueError(problem)
        return tuple(out)

    def columns(self, params: Sequence | Mapping | None = None) -> tuple[str, ...]:
        values = self.resolve(params)
        suffix = "".join("_" + format_value(v) for v in values)
        return tuple(o.stem + suffix for o in self.outputs)

    def compute(self, frame: pd.DataFrame, params: Sequence | Mapping | None = None
                ) -> dict[str, np.ndarray]:
        """Column name -> float64 array aligned with `frame`'s rows (oldest first)."""
        values = self.resolve(params)
        missing = [c for c in self.inputs if c not in frame.columns]
        if missing:
            raise KeyError(f"{self.name} needs the column(s) {', '.join(missing)}")
        arrays = [frame[c] if c == "open_time" else frame[c].to_numpy(dtype="float64")
                  for c in self.inputs]
        result = self.function(*arrays, *values)
        if not isinstance(result, tuple):
            result = (result,)
        return dict(zip(self.columns(values), (np.asarray(r, dtype="float64") for r in result)))

    def warmup(self, params: Sequence | Mapping | None = None, interval: str | None = None
               ) -> int:
        """Candles needed before a row for every output on that row to have converged."""
        return int(self.warmup_fn(self.resolve(params), interval))

    def usage(self) -> str:
        text = self.name
        for p in self.params:
            text += f"[:{p.name}"
        return text + "]" * len(self.params)

    def describe(self) -> dict:
        example = self.columns()
        return {"name": self.name, "title": self.title, "family": self.family,
                "inputs": list(self.inputs), "usage": self.usage(),
                "parameters": [p.describe() for p in self.params],
                "outputs": [{"name": o.name, "column": o.stem + "".join(
                    "_{" + p.name + "}" for p in self.params), "example": col,
                    "description": o.description}
                    for o, col in zip(self.outputs, example)],
                "bounds": list(self.bounds) if self.bounds else None,
                "cumulative": self.cumulative, "warmup": self.warmup_rule,
                "reference": self.reference, "notes": self.notes or None}


@dataclass(frozen=True)
class Request:
    """One parsed item of `indicators=`: an indicator and its full parameter tuple."""
    indicator: Indicator
    params: tuple

    def __repr__(self) -> str:
        return f"Request({self.spec!r})"

    @property
    def name(self) -> str:
        return self.indicator.name

    @property
    def columns(self) -> tuple[str, ...]:
        return self.indicator.columns(self.params)

    @property
    def spec(self) -> str:
        """The canonical item, every parameter spelled out: "macd:12:26:9"."""
        return ":".join([self.name, *(format_value(v) for v in self.params)])

    @property
    def label(self) -> str:
        """For legends: "MACD(12, 26, 9)", "OBV"."""
        name = self.name.upper()
        if not self.params:
            return name
        return f"{name}({', '.join(format_value(v) for v in self.params)})"

    def compute(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        return self.indicator.compute(frame, self.params)

    def warmup(self, interval: str | None = None) -> int:
        return self.indicator.warmup(self.params, interval)


def format_value(value) -> str:
    """A parameter as it appears in a column name: 20, 2, 2.5, 0.02 (integers without ".0")."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


# --- warm-up arithmetic ---------------------------------------------------------------------

def seed_decay(alpha: float, stages: int = 1, tol: float = SEED_WEIGHT) -> int:
    """Fewest steps k after which a cascade of `stages` EMAs of factor `alpha` keeps at most
    `tol` of its initial states' weight.

    The cascade's response to an input j steps back is the negative binomial
    C(j + m - 1, m - 1) alpha^m (1 - alpha)^j (m = stages; each stage feeds the next within
    the same step), so after k steps the inputs weigh P(Binomial(k + m - 1, alpha) >= m) and
    the initial states (the seeds) keep P(Binomial(k + m - 1, alpha) < m): (1 - alpha)^k
    for one stage, (1 - alpha)^k (1 + k alpha / (1 - alpha)) ... for two.
    """
    if not 0 < alpha <= 1:
        raise ValueError("alpha must be in (0, 1]")
    if alpha == 1:
        return 1

    def remaining(k: int) -> float:
        trials = k + stages - 1
        total = 0.0
        for j in range(min(stages, trials + 1)):
            total += math.exp(math.lgamma(trials + 1) - math.lgamma(j + 1)
                              - math.lgamma(trials - j + 1)
                              + j * math.log(alpha) + (trials - j) * math.log1p(-alpha))
        return total

    lo, hi = 0, 1
    while remaining(hi) > tol:
        lo, hi = hi, hi * 2
    while lo < hi:                      # smallest k with remaining(k) <= tol
        mid = (lo + hi) // 2
        if remaining(mid) <= tol:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _ema_alpha(n: int) -> float:
    return 2.0 / (n + 1)


def _vwap_warmup(interval: str | None) -> int:
    # The first returned row needs every candle of its UTC day before it; with no interval
    # given, the worst case (1s candles) is assumed.
    step = INTERVAL_MS[interval] if interval is not None else min(INTERVAL_MS.values())
    day = 86_400_000
    return 0 if step >= day else -(-day // step) - 1
