"""Per-request upstream accounting, read by the request log: calls, weight, cache outcome."""
from __future__ import annotations

from contextvars import ContextVar

_current: ContextVar[dict | None] = ContextVar("upstream_request_stats", default=None)


def begin() -> dict:
    stats = {"upstream_calls": 0, "upstream_weight": 0, "cache": None}
    _current.set(stats)
    return stats


def current() -> dict | None:
    return _current.get()


def note_call(weight: int) -> None:
    stats = _current.get()
    if stats is not None:
        stats["upstream_calls"] += 1
        stats["upstream_weight"] += weight


_RANK = {None: 0, "hit": 1, "miss": 2, "stale": 3}


def note_cache(outcome: str) -> None:
    """Keep the worst outcome of the request: stale > miss > hit."""
    stats = _current.get()
    if stats is not None and _RANK[outcome] > _RANK[stats["cache"]]:
        stats["cache"] = outcome
