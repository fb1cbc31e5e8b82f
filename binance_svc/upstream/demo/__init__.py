"""The demo market: Binance-shaped JSON from a seeded generator, no network needed.

Each coin's log price is a sum of random-phase sines with a Brownian (1/f^2) spectrum from
eight years down to seconds: a continuous function of time, so every interval, every page and
every restart of the same seed agree, and a candle is computed without generating history.
A common market factor makes the coins correlate; cross pairs (ETHBTC) are ratios of their legs.

Reached through the same Spot client as Binance: `DemoAdapter` is a requests transport adapter
mounted on the client's session; `make_server()` puts the same market on a loopback HTTP port
(used by tests that need a separate upstream, with fault injection and request counting).

Modules: `prices` (the model), `market` (Binance's endpoints, weights, faults), `transport`
(the adapter and the HTTP server; `python -m binance_svc.upstream.demo`).
"""
from .market import Counters, DemoMarket, Fault
from .transport import DemoAdapter, make_server, main

__all__ = ["Counters", "DemoAdapter", "DemoMarket", "Fault", "main", "make_server"]
