"""The public-trials comparison's table builder (benchmarks/bench_public_trials.py) on a tiny
synthetic input: rows, width ratios, containment, the requirements on log HR and the Markdown."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load_benchmark():
    path = ROOT / "benchmarks" / "bench_public_trials.py"
    spec = importlib.util.spec_from_file_location("bench_public_trials", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_public_trials"] = module
    spec.loader.exec_module(module)
    return module


bench = _load_benchmark()

#: log HR (median, low, high) of the patient-level fit of two synthetic trials
PATIENTS = {"a": (-0.5, -0.9, -0.1), "b": (0.2, -0.2, 0.6)}
#: summary-only log HR per trial and scenario; trial b's typical interval misses the patient
#: median 0.2 and its full interval is wider than the typical one
SUMMARY = {
    ("a", "abstract"): (-0.4, -1.4, 0.6),  # width 2.0, ratio 2.5
    ("a", "typical"): (-0.45, -1.05, 0.15),  # width 1.2, ratio 1.5
    ("a", "full"): (-0.5, -0.95, -0.03),  # width 0.92, ratio 1.15
    ("b", "abstract"): (0.1, -0.8, 1.2),  # ratio 2.5
    ("b", "typical"): (-0.3, -0.6, 0.1),  # ratio 0.875, misses 0.2
    ("b", "full"): (0.2, -0.25, 0.65),  # ratio 1.125, rises
}


def _fit(log_hr, gates=True, failures=""):
    return {
        "intervals": {
            "log_hr": log_hr,
            "median_reference": (10.0, 8.0, 12.0),
            "median_comparator": (14.0, 11.0, 20.0),
        },
        "arms": ["control", "treated"],
        "gates": gates,
        "failures": failures,
    }


@pytest.fixture(scope="module")
def table():
    rows = []
    for (trial, scenario), log_hr in SUMMARY.items():
        failed = trial == "b" and scenario == "abstract"
        summary = _fit(log_hr, gates=not failed, failures="3 divergent transitions" * failed)
        rows += bench.comparison_rows(trial, scenario, summary, _fit(PATIENTS[trial]))
    return pd.DataFrame(rows)


def test_rows_hold_both_posteriors_ratio_and_containment(table):
    assert len(table) == 3 * len(SUMMARY)
    log_hr = table[table["quantity"] == "log_hr"].set_index(["trial", "scenario"])
    for (trial, scenario), (mid, low, high) in SUMMARY.items():
        row = log_hr.loc[(trial, scenario)]
        p_mid, p_low, p_high = PATIENTS[trial]
        assert (row.summary_median, row.summary_low, row.summary_high) == (mid, low, high)
        assert row.patient_median == p_mid
        assert row.width_ratio == pytest.approx((high - low) / (p_high - p_low), rel=1e-12)
        assert row.summary_ci_contains_patient_median == (low <= p_mid <= high)
    assert log_hr.loc[("b", "typical")].summary_ci_contains_patient_median == np.False_
    assert log_hr.loc[("a", "full")].width_ratio == pytest.approx(0.92 / 0.8)
    medians = table[table["quantity"] == "median_comparator"]
    assert set(medians["arm"]) == {"treated"}
    assert medians["width_ratio"].tolist() == pytest.approx([1.0] * len(SUMMARY))


def test_requirements_per_trial(table):
    met = bench.requirements(table).set_index("trial")
    assert met.loc["a"].to_dict() == {
        "contains": True,
        "ratio_falls": True,
        "full_ratio_ok": True,
        "gates": True,
    }
    # b: typical misses, the ratio rises from typical (0.875) to full (1.125)
    assert met.loc["b"].to_dict() == {
        "contains": False,
        "ratio_falls": False,
        "full_ratio_ok": True,
        "gates": False,
    }
    # a full ratio just above the limit fails; a trial without its full scenario fails too
    wider = table.copy()
    full_a = (wider["trial"] == "a") & (wider["scenario"] == "full")
    wider.loc[full_a & (wider["quantity"] == "log_hr"), "width_ratio"] = 1.2501
    assert not bench.requirements(wider).set_index("trial").loc["a", "full_ratio_ok"]
    partial = bench.requirements(table[~full_a]).set_index("trial").loc["a"]
    assert not partial["ratio_falls"] and not partial["full_ratio_ok"]


def test_markdown_prints_each_fit_and_the_requirements(table):
    fits = pd.DataFrame(
        [
            {
                "trial": t,
                "data": d,
                "gates": True,
                "max_rhat": 1.002,
                "min_ess_bulk": 1500.0,
                "divergences": 0,
                "compile_seconds": 30.0,
                "sample_seconds": 5.0,
            }
            for t in PATIENTS
            for d in ("patients", "abstract", "typical", "full")
        ]
    )
    text = bench.markdown(table, fits, ["git commit: abc"])
    lines = text.splitlines()
    assert "| a | 2.50 | 1.50 | 1.15 |" in lines
    assert "| b | 2.50 | 0.87 * | 1.12 |" in lines
    assert "| a | yes | yes | yes | yes |" in lines
    assert "| b | NO | NO | yes | NO |" in lines
    assert (
        "| typical | log_hr | -0.300 [-0.600, 0.100] | 0.200 [-0.200, 0.600] | 0.87 | NO | pass |"
        in lines
    )
    assert any(
        line.startswith("| abstract | log_hr | 0.100 [-0.800, 1.200]")
        and line.endswith("| FAIL (3 divergent transitions) |")
        for line in lines
    )
    assert "- git commit: abc" in lines
