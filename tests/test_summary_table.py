"""summary.csv leads with the posterior median and the 95% equal-tailed and highest-density
intervals, computed here independently (NumPy quantiles and the shortest window of sorted draws).

The draws imitate a summary fit whose arm median may not be reached: a heavy tail (a median of
1e10 months in a few draws) makes the mean meaningless while median and intervals stay sensible.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import xarray as xr

from resurv.inference.results import SUMMARY_COLUMNS, summarize


def _shortest_interval(draws: np.ndarray, prob: float = 0.95) -> tuple[float, float]:
    """The narrowest window holding ``floor(prob · n)`` + 1 sorted draws."""
    x = np.sort(draws)
    inside = int(np.floor(prob * x.size))
    widths = x[inside:] - x[: x.size - inside]
    k = int(np.argmin(widths))
    return float(x[k]), float(x[k + inside])


@pytest.fixture(scope="module")
def heavy():
    rng = np.random.default_rng(7)
    chains, draws = 4, 500
    reference = rng.lognormal(np.log(30), 0.3, (chains, draws))
    comparator = rng.lognormal(np.log(60), 0.8, (chains, draws))
    comparator.flat[rng.choice(comparator.size, 6, replace=False)] = 1e10  # the tail
    log_hr = rng.normal(-0.4, 0.3, (chains, draws))
    post = xr.Dataset(
        {
            "median_months": (("chain", "draw", "arm"), np.stack([reference, comparator], -1)),
            "log_hr": (("chain", "draw"), log_hr),
        },
        coords={"chain": np.arange(chains), "draw": np.arange(draws), "arm": ["A", "B"]},
    )
    tree = xr.DataTree.from_dict({"posterior": post})
    built = SimpleNamespace(
        summary_vars=["median_months", "log_hr"],
        probabilities={"P(HR < 1)": lambda p: np.exp(p["log_hr"]) < 1},
    )
    return post, summarize(built, tree)


def test_columns_lead_with_median_and_both_intervals(heavy):
    _, table = heavy
    assert list(table.columns[:5]) == ["median", "eti95_lb", "eti95_ub", "hdi95_lb", "hdi95_ub"]
    assert list(table.columns) == [c for c in SUMMARY_COLUMNS if c in table.columns]


def test_median_and_intervals_equal_an_independent_computation(heavy):
    post, table = heavy
    cases = {
        "median_months[A]": post["median_months"].sel(arm="A").values.ravel(),
        "median_months[B]": post["median_months"].sel(arm="B").values.ravel(),
        "log_hr": post["log_hr"].values.ravel(),
    }
    for name, draws in cases.items():
        row = table.loc[name]
        assert row["median"] == pytest.approx(np.median(draws), rel=1e-12)
        low, high = np.quantile(draws, [0.025, 0.975])
        assert row["eti95_lb"] == pytest.approx(low, rel=1e-12)
        assert row["eti95_ub"] == pytest.approx(high, rel=1e-12)
        hlow, hhigh = _shortest_interval(draws)
        assert row["hdi95_lb"] == pytest.approx(hlow, rel=1e-12)
        assert row["hdi95_ub"] == pytest.approx(hhigh, rel=1e-12)
    # the heavy tail: the mean is pulled to ~1e7 months, the median and intervals are not
    b = table.loc["median_months[B]"]
    assert b["mean"] > 1e7 and b["hdi95_ub"] < 1e4 and b["median"] < 100
    p = table.loc["P(HR < 1)"]
    expected = np.mean(np.exp(cases["log_hr"]) < 1)
    assert p["median"] == p["mean"] == pytest.approx(expected, rel=1e-12)
