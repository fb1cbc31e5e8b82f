"""The Report: what every analysis returns and every renderer reads; Provenance: where its data
came from (the data layer makes it, so it lives here and not in analysis/).

An analysis never knows the output format; a renderer never knows the analysis. A table is a
plain DataFrame (no meaningful index) whose columns are in the order the contract lists them;
time columns are tz-aware UTC datetimes, undefined numbers NaN (renderers turn them into null /
empty cells).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

import pandas as pd


@dataclass(frozen=True)
class Provenance:
    """Where the data of a report came from, as the upstream layer tells it."""

    source: str = "binance"          # "binance" for live data, "demo" for the demo market
    stale: bool = False              # served from an expired cache copy because upstream failed
    fetched_at: datetime | None = None   # when the (oldest) upstream response used was fetched
    warnings: tuple[str, ...] = ()   # said by the upstream layer (stale age, demo market, ...)
    expires_at: datetime | None = None   # when the (first) upstream copy used expires

    @staticmethod
    def combine(parts: "list[Provenance]") -> "Provenance":
        """One provenance for a report built on several upstream calls."""
        if not parts:
            return Provenance(fetched_at=utcnow())
        times = [p.fetched_at for p in parts if p.fetched_at is not None]
        expiries = [p.expires_at for p in parts if p.expires_at is not None]
        warnings: list[str] = []
        for p in parts:
            for w in p.warnings:
                if w not in warnings:
                    warnings.append(w)
        return Provenance(
            source="demo" if any(p.source == "demo" for p in parts) else parts[0].source,
            stale=any(p.stale for p in parts),
            fetched_at=min(times) if times else None,
            warnings=tuple(warnings),
            expires_at=min(expiries) if expiries else None,
        )


@dataclass
class Report:
    analysis: str                        # the name of its spec in binance_svc/analyses.py
    params: dict                         # the normalised parameters, as echoed to the client
    tables: dict[str, pd.DataFrame]      # name -> table; the first one is the main table
    summary: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    source: str = "binance"
    stale: bool = False
    data_as_of: datetime | None = None   # when the data was true upstream (fetch time)
    generated_at: datetime | None = None
    title: str = ""                      # a human title, e.g. "Technical analysis: BTCUSDT 1h"
    expires_at: datetime | None = None   # when the upstream data expire (not rendered)

    @property
    def main_table(self) -> str:
        return next(iter(self.tables))

    @property
    def frame(self) -> pd.DataFrame:
        return self.tables[self.main_table]

    def with_provenance(self, prov: Provenance) -> "Report":
        """A copy of this report that says where its data came from (the tables are shared,
        not copied: a report is not changed after it is built)."""
        warnings = list(self.warnings)
        for w in prov.warnings:
            if w not in warnings:
                warnings.insert(0, w)
        return replace(self, source=prov.source, stale=prov.stale, data_as_of=prov.fetched_at,
                       expires_at=prov.expires_at, warnings=warnings,
                       generated_at=self.generated_at or utcnow())


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
