"""Prior predictive check of each published statistic (resurv.checks.prior_predictive)."""

import numpy as np
import pytest
from scipy import stats

from helpers import MODELS, PRIORS, STUDY
from resurv.api import build
from resurv.checks.prior_predictive import (
    CONFLICT_P,
    TENSION_P,
    box_p,
    label,
    prior_dataset,
    prior_predictive_table,
)
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study

N = 4000


def _exact_box_p(n, k, a, b):
    """Box's p of k successes of n under Beta(a, b): the beta-binomial mass of values ≤ m(k)."""
    pmf = stats.betabinom(n, a, b).pmf(np.arange(n + 1))
    return float(pmf[pmf <= pmf[k] * (1 + 1e-12)].sum())


def test_box_p_of_a_beta_binomial_count_is_the_exact_one():
    rng = np.random.default_rng(2)
    for n, k, a, b in [(12, 8, 25.5, 4.5), (15, 1, 2.0, 18.0), (12, 3, 25.5, 4.5)]:
        draws = rng.binomial(n, rng.beta(a, b, size=40_000))
        exact = _exact_box_p(n, k, a, b)
        assert box_p(draws, k) == pytest.approx(exact, abs=0.01 + 4 * np.sqrt(exact / 40_000))
    assert box_p(np.repeat(np.arange(13), 1000), 5) == pytest.approx(
        1.0
    )  # flat: every value equally probable
    assert box_p(np.zeros(100), 1.0) == 0.0  # never drawn


def test_labels():
    assert label(CONFLICT_P / 2) == "conflict"
    assert label((CONFLICT_P + TENSION_P) / 2) == "tension"
    assert label(TENSION_P) == "" and label(float("nan")) == ""


def _table(model, priors):
    study = load_study(STUDY)
    spec = load_model_spec(MODELS / f"{model}.toml")
    prior_file = load_priors(PRIORS / f"{priors}.toml")
    return prior_predictive_table(build(spec, prior_file, study), spec, prior_file, study, seed=3)


@pytest.mark.parametrize("priors", ["vague", "skeptical", "literature", "enthusiastic"])
def test_disease_control_in_the_combination_arm_is_flagged_and_the_hepatotoxicity_counts_not(
    priors,
):
    """8/12 against a prior near 0.85 is flagged under every informative set; 0/12 and 1/15
    hepatotoxicity under none; the uniform priors expect every count equally.

    The p-values are the exact beta-binomial Box p-values (scipy) within Monte Carlo error.
    """
    prior_file = load_priors(PRIORS / f"{priors}.toml")
    response = _table("response", priors).set_index("arm")
    toxicity = _table("hepatotoxicity", priors)
    for endpoint, table, counts in [
        ("disease_control", response, {"SIRT alone": (15, 13), "SIRT + PRRT": (12, 8)}),
        (
            "hepatotoxicity",
            toxicity.set_index("arm"),
            {"SIRT alone": (15, 1), "SIRT + PRRT": (12, 0)},
        ),
    ]:
        chosen = prior_file.for_endpoint(endpoint)
        for arm, name in [("SIRT alone", "p_reference"), ("SIRT + PRRT", "p_comparator")]:
            n, k = counts[arm]
            a, b = chosen[name].args["alpha"], chosen[name].args["beta"]
            exact = _exact_box_p(n, k, a, b)
            got = table.loc[arm, "prior_predictive_p"]
            if a == b == 1.0:
                # flat: every count equally probable (exact p = 1); the estimate is set by the
                # noise of N draws among equal frequencies, but is never small
                assert exact == pytest.approx(1.0) and got >= TENSION_P
            else:
                # Monte Carlo error; box_p's tolerance for near-equal frequencies can only raise p
                assert got >= exact - 4 * np.sqrt(exact * (1 - exact) / N) - 0.01
            assert table.loc[arm, "method"] == "density"
    assert (toxicity["prior_conflict"].fillna("") == "").all()
    flags = response["prior_conflict"].fillna("")
    if priors == "vague":
        assert (flags == "").all()
    else:
        assert flags["SIRT + PRRT"] in ("tension", "conflict") and flags["SIRT alone"] == ""


def test_survival_prior_draws_follow_the_priors_and_the_design_restriction():
    """Prior draws of a summary-data model: each parameter from its prior (KS test), and the
    follow-up design restricted to A + F beyond the largest reached median (67.5 months)."""
    study = load_study(STUDY)
    spec = load_model_spec(MODELS / "os_weibull.toml")
    priors = load_priors(PRIORS / "literature.toml")
    data = prior_dataset(spec, priors, study, N, np.random.default_rng(4))
    os_priors = priors.for_endpoint("os")
    for name in ("median_reference", "shape", "log_hr"):
        draws = data[name].values.ravel()
        assert stats.kstest(draws, os_priors[name].scipy_frozen().cdf).pvalue > 1e-3, name
    total = data["accrual_months"].values + data["followup_months"].values
    assert total.min() > 67.5
    # the restricted design prior against rejection sampling by hand
    rng = np.random.default_rng(5)
    a, f = rng.uniform(24, 96, 200_000), rng.uniform(3, 48, 200_000)
    keep = a + f > 67.5
    assert data["accrual_months"].values.mean() == pytest.approx(a[keep].mean(), abs=1.0)
    table = _table("os_weibull", "literature")
    assert list(table["statistic"]) == ["os_median_months", "os_median_months", "os_logrank_z"]
    assert (table["method"] == "tail").all() and table["prior_predictive_p"].between(0, 1).all()
