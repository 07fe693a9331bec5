"""Report figures: curve horizon and the end of the data, indicators as probabilities, the
calibration ECDF (ArviZ), from a synthetic sweep folder (draws made with NumPy, no sampling)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from resurv.report.build import build_report
from resurv.report.calibration_figures import sbc_pit
from resurv.report.posterior_figures import is_indicator
from resurv.report.posterior_sections import curve_horizon, data_end
from resurv.report.runs import load_runs
from test_report import _synthetic_survival_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    _synthetic_survival_sweep(folder, np.random.default_rng(5))
    return folder


def test_data_end_is_the_posterior_median_of_accrual_plus_follow_up(sweep):
    runs = load_runs(sweep).runs
    for run in runs:
        post = run.posterior()
        total = (post["accrual_months"] + post["followup_months"]).values.ravel()
        assert data_end(run) == pytest.approx(np.median(total), rel=1e-12)


def test_curve_horizon_reaches_past_the_published_medians_and_the_data(sweep):
    runs = load_runs(sweep).runs
    spec = runs[0].spec
    # the synthetic table publishes a median of 34.9 months; accrual ≤ 96 and follow-up ≤ 48
    ends = [data_end(r) for r in runs]
    expected = max(60.0, *spec.landmarks, *spec.rmst_horizons, 1.5 * 34.9, *(1.1 * e for e in ends))
    assert curve_horizon(spec, runs, ends) == pytest.approx(expected)
    assert curve_horizon(spec, runs, [None]) == pytest.approx(
        max(60.0, *spec.landmarks, *spec.rmst_horizons, 1.5 * 34.9)
    )


def test_indicator_statistics_are_recognised():
    assert is_indicator(np.array([0.0, 1.0, 1.0, 0.0]), 1.0)
    assert not is_indicator(np.array([0.0, 1.0, 2.0]), 1.0)  # a count
    assert not is_indicator(np.array([0.0, 1.0]), 0.5)
    assert not is_indicator(np.array([]), 1.0)


def test_sbc_ranks_become_pit_values_in_replicate_order():
    table = pd.DataFrame(
        {"target": ["a", "a", "a", "b"], "replicate": [2, 0, 1, 0], "rank": [99, 0, 50, 7]}
    )
    pit = sbc_pit(table[table["target"] == "a"], 99)
    np.testing.assert_allclose(pit["a"].values, [[0.5 / 100, 50.5 / 100, 99.5 / 100]])
    # only the replicates every target has: replicate 0
    pit = sbc_pit(table, 99)
    np.testing.assert_allclose(pit["a"].values, [[0.5 / 100]])
    np.testing.assert_allclose(pit["b"].values, [[7.5 / 100]])


def test_the_calibration_section_draws_the_sbc_ecdf_when_ranks_are_saved(sweep, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(sweep, folder)
    cal = folder / "calibration" / "os_weibull"
    cal.mkdir(parents=True)
    rng = np.random.default_rng(1)
    pd.DataFrame(
        {"target": ["log_hr"] * 3, "nominal": [0.5, 0.8, 0.95], "coverage": [0.5, 0.8, 0.95]}
    ).to_csv(cal / "coverage.csv", index=False)
    build_report(folder)
    assert not list((folder / "figures").glob("sbc_ecdf_*.png"))  # no ranks, no figure
    pd.DataFrame(
        {
            "target": ["log_hr"] * 100 + ["median_reference"] * 100,
            "replicate": list(range(100)) * 2,
            "rank": rng.integers(0, 100, 200),
        }
    ).to_csv(cal / "calibration.csv", index=False)
    build_report(folder)
    shown = folder / "figures" / "sbc_ecdf_calibration_os_weibull.png"
    assert shown.is_file() and shown.stat().st_size > 5_000
    md = (folder / "report.md").read_text()
    section = md.split("## Calibration of the summary-data likelihood")[1].split("\n## ")[0]
    assert "figures/sbc_ecdf_calibration_os_weibull.png" in section
