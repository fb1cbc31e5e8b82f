"""depth_frames parses level strings exactly as float() does, on its fast path and off it."""
import numpy as np
import pytest

from binance_svc.errors import UpstreamUnavailable
from binance_svc.upstream.demo import DemoMarket
from binance_svc.upstream.frames import _levels_fast, depth_frames

STRINGS = ["97000.10000000", "0.00000001", "0.26455", "1e5", "1E-3", "-0.0", "-0", "0", "10",
           "9007199254740993", "123456789012345678901234567890.5", " 2.5", "\t3.0\n",
           "1_000.5", "01.5", "+1.5", ".5", "5.", "1e-400"]


def float_way(levels):
    return np.array([lv[:2] for lv in levels], dtype=object).reshape(-1, 2).astype("float64")


@pytest.mark.parametrize("price", STRINGS)
@pytest.mark.parametrize("qty", ["0.5", "-0", "2"])
def test_same_doubles_as_float(price, qty):
    levels = [[price, qty], ["1.25", "0.75"]]
    bids, _ = depth_frames({"bids": levels, "asks": []})
    want = float_way(levels)
    got = bids.sort_values("price", ascending=False, kind="stable").to_numpy()
    order = np.argsort(-want[:, 0], kind="stable")
    assert got.tobytes() == want[order].tobytes()          # bitwise: -0.0 keeps its sign


def test_demo_book_takes_the_fast_path():
    levels = DemoMarket(7, clock=lambda: 1767323045.0).depth("BTCUSDT", 5000)["bids"]
    fast = _levels_fast(levels)
    assert fast is not None and fast.tobytes() == float_way(levels).tobytes()


@pytest.mark.parametrize("levels", [
    [["1.5", "2"], ["1,5", "2"]],            # a comma inside a string
    [["1.5", "2", "3"], ["4"]],              # ragged, same number of strings in total
    [[1.5, 2.0]],                            # numbers, not strings
    [("1.5", "2")],                          # tuples
    [["1.5", "true"]], [["[1]", "2"]], [["1.5", "null"]], [["1.5", '"2"']],
])
def test_anything_unusual_leaves_the_fast_path(levels):
    assert _levels_fast(levels) is None


@pytest.mark.parametrize("levels", [[["nan", "1"]], [["1.5", "inf"]], [["abc", "1"]],
                                    [["1.5", "2", "3"], ["4"]], [["1,5", "2"]], [["1e400", "1"]]])
def test_malformed_levels_still_fail(levels):
    with pytest.raises(UpstreamUnavailable):
        depth_frames({"bids": levels, "asks": []})
