"""Response and toxicity models: MCMC against the closed-form Beta posterior."""

import json

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from helpers import MODELS, PRIORS, STUDY
from resurv.api import build
from resurv.cli import main
from resurv.inference.results import make_result
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.models.binomial import frequentist_binary
from resurv.models.built import stacked_draws

ROBUST = """
name = "robust"
[disease_control.p_reference]
dist = "robust"
weight = 0.7
informative = { dist = "beta", alpha = 34.4, beta = 5.6 }
vague = { dist = "beta", alpha = 1.0, beta = 1.0 }
source = "test"
[disease_control.p_comparator]
dist = "robust"
weight = 0.5
informative = { dist = "beta", alpha = 25.5, beta = 4.5 }
vague = { dist = "beta", alpha = 1.0, beta = 1.0 }
source = "test"
"""


def beta_mixture_posterior(spec, events, n):
    """Closed-form posterior of a Beta (or two-Beta mixture) prior under Binomial(n, p) data."""
    parts = (
        [(spec.weight, spec.informative.args), (1 - spec.weight, spec.vague.args)]
        if spec.dist == "robust"
        else [(1.0, spec.args)]
    )
    logw = [
        np.log(w)
        + special.betaln(a["alpha"] + events, a["beta"] + n - events)
        - special.betaln(a["alpha"], a["beta"])
        if w > 0
        else -np.inf
        for w, a in parts
    ]
    w = np.exp(np.array(logw) - np.logaddexp.reduce(logw))
    comps = [stats.beta(a["alpha"] + events, a["beta"] + n - events) for _, a in parts]
    return w, comps


def mixture_quantile(w, comps, q):
    from scipy.optimize import brentq

    return brentq(lambda x: sum(wi * c.cdf(x) for wi, c in zip(w, comps)) - q, 1e-12, 1 - 1e-12)


PRIOR_FILES = sorted(p.name for p in PRIORS.glob("*.toml"))


CASES = [(m, p) for m in ("response", "hepatotoxicity") for p in PRIOR_FILES]
CASES.append(("response", "robust"))  # the inline robust file covers the response endpoint


@pytest.mark.parametrize(("endpoint_model", "prior_name"), CASES)
def test_mcmc_matches_closed_form_beta_posterior(fitter, tmp_path, endpoint_model, prior_name):
    if prior_name == "robust":
        path = tmp_path / "robust.toml"
        path.write_text(ROBUST)
    else:
        path = PRIORS / prior_name
    spec = load_model_spec(MODELS / f"{endpoint_model}.toml")
    priors = load_priors(path)
    study = load_study(STUDY)
    built = build(spec, priors, study)
    tree = fitter.sample(built, seed=11)
    p = stacked_draws(tree.posterior.to_dataset(), "p")
    import arviz as az

    for j, (param, outcome) in enumerate(
        zip(["p_reference", "p_comparator"], study.binary_outcomes(spec.endpoint))
    ):
        w, comps = beta_mixture_posterior(
            priors.priors[spec.endpoint][param], outcome.events, outcome.n
        )
        mean = sum(wi * c.mean() for wi, c in zip(w, comps))
        sub = tree.posterior["p"].isel(arm=j)
        mcse_mean = float(az.mcse(sub.to_dataset(name="p"), method="mean")["p"])
        assert abs(p[:, j].mean() - mean) < 4 * mcse_mean
        for q in (0.025, 0.975):
            exact = mixture_quantile(w, comps, q)
            mcse_q = float(az.mcse(sub.to_dataset(name="p"), method="quantile", prob=q)["p"])
            assert abs(np.quantile(p[:, j], q) - exact) < 4 * mcse_q + 1e-4, (param, q)


def test_frequentist_values_match_scipy_reference():
    rows = frequentist_binary([13, 8], [15, 12], ["a", "b"])
    # Clopper-Pearson from the Beta quantiles (the definition)
    assert np.isclose(rows[0]["ci_low"], stats.beta.ppf(0.025, 13, 3))
    assert np.isclose(rows[0]["ci_high"], stats.beta.ppf(0.975, 14, 2))
    assert np.isclose(rows[1]["ci_low"], stats.beta.ppf(0.025, 8, 5))
    # Fisher's exact two-sided p by enumeration of the hypergeometric table
    hyper = stats.hypergeom(27, 21, 12)
    p_obs = hyper.pmf(8)
    p_two = sum(hyper.pmf(k) for k in range(0, 13) if hyper.pmf(k) <= p_obs * (1 + 1e-7))
    assert np.isclose(rows[2]["p_value"], p_two)


@pytest.mark.parametrize("n_pair", [(15, 12), (7, 9), (1, 20)])
def test_exact_intervals_and_fisher_on_every_table(n_pair):
    """Every table of two arms: Clopper-Pearson limits by their defining tail probabilities,
    Fisher's two-sided p by enumerating the hypergeometric distribution of the margins."""
    n0, n1 = n_pair
    for r0 in range(n0 + 1):
        for r1 in range(n1 + 1):
            rows = frequentist_binary([r0, r1], [n0, n1], ["a", "b"])
            for row, r, n in zip(rows[:2], (r0, r1), (n0, n1)):
                assert row["estimate"] == r / n
                # P(X >= r | low) = 0.025 (low = 0 at r = 0); P(X <= r | high) = 0.025 (1 at n)
                if r == 0:
                    assert row["ci_low"] == 0.0
                else:
                    assert stats.binom.sf(r - 1, n, row["ci_low"]) == pytest.approx(0.025)
                if r == n:
                    assert row["ci_high"] == 1.0
                else:
                    assert stats.binom.cdf(r, n, row["ci_high"]) == pytest.approx(0.025)
            total, k = n0 + n1, r0 + r1
            if k in (0, total):
                expected = 1.0
            else:
                pmf = stats.hypergeom(total, k, n1).pmf(np.arange(0, min(k, n1) + 1))
                observed = stats.hypergeom(total, k, n1).pmf(r1)
                expected = min(1.0, pmf[pmf <= observed * (1 + 1e-7)].sum())
            assert rows[2]["p_value"] == pytest.approx(expected, rel=1e-9, abs=1e-15)


def test_cli_fit_writes_contract_files_and_is_reproducible(tmp_path, capsys):
    outs = []
    for name in ("a", "b"):
        out = tmp_path / name
        code = main(
            [
                "--quiet",
                "fit",
                str(MODELS / "response.toml"),
                "--data",
                str(STUDY),
                "--priors",
                str(PRIORS / "literature.toml"),
                "--out",
                str(out),
                "--seed",
                "5",
                "--draws",
                "800",
                "--tune",
                "500",
            ]
        )
        assert code == 0
        outs.append(out)
    a, b = outs
    assert sorted(p.name for p in a.iterdir()) == [
        "diagnostics.json",
        "frequentist.csv",
        "posterior.nc",
        "published_vs_posterior.csv",
        "summary.csv",
    ]
    for name in (
        "summary.csv",
        "published_vs_posterior.csv",
        "frequentist.csv",
        "diagnostics.json",
    ):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    table = pd.read_csv(a / "published_vs_posterior.csv")
    assert list(table.columns) == [
        "statistic",
        "arm",
        "published",
        "posterior_median",
        "ci_low",
        "ci_high",
        "ppp",
    ]
    assert table["published"].tolist() == [86.6, 66.6]
    assert table["arm"].tolist() == ["SIRT alone", "SIRT + PRRT"]
    assert (
        (table["ci_low"] < table["posterior_median"])
        & (table["posterior_median"] < table["ci_high"])
    ).all()
    assert table["ppp"].between(0, 1).all()
    diag = json.loads((a / "diagnostics.json").read_text())
    assert diag["passed"] is True and diag["divergences"] == 0
    import xarray as xr

    tree = xr.open_datatree(a / "posterior.nc")
    for key in (
        "resurv_model_content",
        "resurv_priors_content",
        "resurv_data_sha256",
        "resurv_seed",
        "resurv_versions",
    ):
        assert key in tree.attrs
    assert {"posterior", "sample_stats", "log_likelihood", "log_prior", "constant_data"} <= set(
        tree.children
    )
    # the predictive checks saved as data, one entry per row of the table
    assert {"posterior_predictive", "observed_data", "posterior_counterpart"} <= set(tree.children)
    assert tree["observed_data"]["arm"].values.tolist() == table["arm"].tolist()


def test_ppp_of_binomial_counts_matches_beta_binomial(fitter):
    """With a Beta posterior, the replicate count is Beta-binomial: the ppp has a closed form."""
    spec = load_model_spec(MODELS / "response.toml")
    priors = load_priors(PRIORS / "vague.toml")
    built = build(spec, priors, load_study(STUDY))
    tree = fitter.sample(built, seed=3)
    result = make_result(built, tree, seed=3)
    for j, (r, n) in enumerate([(13, 15), (8, 12)]):
        bb = stats.betabinom(n, 1 + r, 1 + n - r)
        exact = min(1.0, 2 * min(bb.sf(r - 1), bb.cdf(r)))
        assert abs(result.published["ppp"].iloc[j] - exact) < 0.03
