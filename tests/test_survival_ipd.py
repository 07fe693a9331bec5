"""Survival models from patient data against maximum likelihood on lifelines' lung data.

The NCCTG lung-cancer data (lifelines ``load_lung``: 228 patients, 165 deaths; time in days,
``status`` 1 = dead, 0 = censored; arms by ``sex``, 1 = male (reference, n = 138), 2 = female)
are fitted by every family with vague priors. References are maximum-likelihood fits by
lifelines (regression fitters for two arms) or, where lifelines has no two-arm fitter of the
same model (Gompertz PH, piecewise exponential PH), a ``scipy.optimize`` MLE of the likelihood
written here from the textbook hazard. Parameters are mapped to resurv's median
parametrization with independent closed forms (scipy quantiles). With 165 deaths and vague
priors the posterior median of each parameter should lie within two posterior SDs of the MLE,
each arm's median survival within 5% of the MLE's, and (for AFT effects and the exponential)
the posterior SD of the arm effect within 15% of the asymptotic standard error.
"""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines.datasets import load_lung  # a test dependency (pyproject: test extra)
from scipy import optimize, special, stats

from resurv.api import build, load_data
from resurv.inference.fit import SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.models.built import stacked_draws

ROOT = Path(__file__).resolve().parents[1]
DAYS_TO_MONTHS = 12 / 365.25
LN2 = math.log(2.0)
SETTINGS = SamplerSettings(draws=1000, tune=600, chains=2)


@pytest.fixture(scope="module")
def lung():
    raw = load_lung()
    return pd.DataFrame(
        {
            "T": raw["time"].to_numpy(float) * DAYS_TO_MONTHS,
            "E": raw["status"].to_numpy(int),
            "x": (raw["sex"] == 2).to_numpy(float),
            "days": raw["time"].to_numpy(float),
            "sex": raw["sex"].to_numpy(int),
        }
    )


@pytest.fixture(scope="module")
def lung_csv(lung, tmp_path_factory):
    path = tmp_path_factory.mktemp("lung") / "lung.csv"
    lung[["days", "E", "sex"]].rename(columns={"days": "time", "E": "event", "sex": "arm"}).to_csv(
        path, index=False
    )
    return path


@pytest.fixture(scope="module")
def ipd_fitter(fitter):
    """The session's compile cache with fewer draws."""
    return dataclasses.replace(fitter, settings=SETTINGS)


def _fit(model_name, lung_csv, fitter):
    spec = load_model_spec(ROOT / "models" / f"{model_name}.toml")
    study = load_data(lung_csv, time_unit="days")
    built = build(spec, load_priors(ROOT / "priors" / "vague.toml"), study)
    tree = fitter.sample(built, seed=11)
    assert int(tree.sample_stats["diverging"].sum()) == 0
    return tree.posterior.to_dataset()


# ---------------------------------------------------------------- maximum-likelihood references


def _aft_fit(fitter_class, lung):
    fit = fitter_class().fit(lung[["T", "E", "x"]], "T", "E")
    return fit.params_, fit.standard_errors_


def ref_exponential(lung):
    from lifelines import ExponentialFitter

    scale = [
        ExponentialFitter().fit(lung["T"][lung.x == j], lung["E"][lung.x == j]).lambda_
        for j in (0, 1)
    ]
    deaths = [lung["E"][lung.x == j].sum() for j in (0, 1)]
    return {
        "params": {"median_reference": scale[0] * LN2, "log_hr": math.log(scale[0] / scale[1])},
        "medians": [s * LN2 for s in scale],
        # observed information of a log rate is the number of deaths
        "se": {"log_hr": math.sqrt(1 / deaths[0] + 1 / deaths[1])},
    }


def _weibull(lung):
    from lifelines import WeibullAFTFitter

    p, se = _aft_fit(WeibullAFTFitter, lung)
    shape = math.exp(p["rho_"]["Intercept"])
    scale = [math.exp(p["lambda_"]["Intercept"] + p["lambda_"]["x"] * j) for j in (0, 1)]
    medians = [s * LN2 ** (1 / shape) for s in scale]
    return p, se, shape, medians


def ref_weibull(lung):
    p, _, shape, medians = _weibull(lung)
    log_hr = -shape * p["lambda_"]["x"]  # H₁/H₀ = (σ₀/σ₁)^k
    return {
        "params": {"median_reference": medians[0], "shape": shape, "log_hr": log_hr},
        "medians": medians,
        "se": {},
    }


def ref_weibull_aft(lung):
    p, se, shape, medians = _weibull(lung)
    return {
        "params": {"median_reference": medians[0], "shape": shape, "log_tr": p["lambda_"]["x"]},
        "medians": medians,
        "se": {"log_tr": se["lambda_"]["x"]},
    }


def ref_lognormal(lung):
    from lifelines import LogNormalAFTFitter

    p, se = _aft_fit(LogNormalAFTFitter, lung)
    medians = [math.exp(p["mu_"]["Intercept"] + p["mu_"]["x"] * j) for j in (0, 1)]
    return {
        "params": {
            "median_reference": medians[0],
            "sdlog": math.exp(p["sigma_"]["Intercept"]),
            "log_tr": p["mu_"]["x"],
        },
        "medians": medians,
        "se": {"log_tr": se["mu_"]["x"]},
    }


def ref_loglogistic(lung):
    from lifelines import LogLogisticAFTFitter

    p, se = _aft_fit(LogLogisticAFTFitter, lung)
    medians = [math.exp(p["alpha_"]["Intercept"] + p["alpha_"]["x"] * j) for j in (0, 1)]
    return {
        "params": {
            "median_reference": medians[0],
            "shape": math.exp(p["beta_"]["Intercept"]),
            "log_tr": p["alpha_"]["x"],
        },
        "medians": medians,
        "se": {"log_tr": se["alpha_"]["x"]},
    }


def _gengamma_median(mu, sigma, q):
    """Prentice: log T = μ + σ log(Q² G)/Q, G ~ Gamma(1/Q²); the median from G's median."""
    k = 1 / q**2
    g_half = special.gammaincinv(k, 0.5) if q > 0 else special.gammainccinv(k, 0.5)
    return math.exp(mu + sigma * math.log(q**2 * g_half) / q)


def _gengamma_negloglik(theta, t, e, x):
    """−ℓ of the Prentice generalized gamma AFT model through ``scipy.stats.gengamma``."""
    mu0, beta, log_sigma, q = theta
    sigma = math.exp(log_sigma)
    scale = np.exp(mu0 + beta * x) * (q**2) ** (sigma / q)
    dist = stats.gengamma(a=1 / q**2, c=q / sigma, scale=scale)
    return -np.sum(np.where(e == 1, dist.logpdf(t), dist.logsf(t)))


def _numerical_se(f, theta, step=1e-4):
    """Standard errors from the inverse of a central-difference Hessian of −ℓ."""
    n = len(theta)
    hess = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            di, dj = np.eye(n)[i] * step, np.eye(n)[j] * step
            hess[i, j] = (
                f(theta + di + dj) - f(theta + di - dj) - f(theta - di + dj) + f(theta - di - dj)
            ) / (4 * step**2)
    return np.sqrt(np.diag(np.linalg.inv(hess)))


def ref_gengamma(lung):
    """lifelines' MLE; the SE of the arm effect from scipy's gengamma likelihood, because
    lifelines 0.30's ``GeneralizedGammaRegressionFitter.standard_errors_`` do not match the
    Hessian of the same likelihood on these data (SE of the arm effect 0.22 against 0.13; the
    Weibull AFT, which this fit nearly is with Q ≈ 1, gives 0.13)."""
    from lifelines import GeneralizedGammaRegressionFitter

    fit = GeneralizedGammaRegressionFitter().fit(
        lung[["T", "E", "x"]],
        "T",
        "E",
        regressors={"mu_": "1 + x", "sigma_": "1", "lambda_": "1"},
    )
    p = fit.params_
    theta = np.array(
        [p["mu_"]["Intercept"], p["mu_"]["x"], p["sigma_"]["Intercept"], p["lambda_"]["Intercept"]]
    )
    data = (lung["T"].to_numpy(), lung["E"].to_numpy(), lung["x"].to_numpy())
    se = _numerical_se(lambda th: _gengamma_negloglik(th, *data), theta)
    sigma, q = math.exp(theta[2]), theta[3]
    medians = [_gengamma_median(theta[0] + theta[1] * j, sigma, q) for j in (0, 1)]
    return {
        "params": {"median_reference": medians[0], "sigma": sigma, "q": q, "log_tr": theta[1]},
        "medians": medians,
        "se": {"log_tr": se[1]},
    }


def _mle(negloglik, start):
    res = optimize.minimize(
        negloglik,
        start,
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 20000},
    )
    assert res.success, res.message
    return res.x


def ref_gompertz(lung):
    """h_j(t) = b e^{β x_j} e^{a t}, H_j(t) = b e^{β x_j} (e^{a t} − 1)/a."""
    t, e, x = lung["T"].to_numpy(), lung["E"].to_numpy(), lung["x"].to_numpy()

    def negloglik(theta):
        log_b, a, beta = theta
        rate = np.exp(log_b + beta * x)
        return -np.sum(e * (np.log(rate) + a * t) - rate * np.expm1(a * t) / a)

    log_b, a, beta = _mle(negloglik, [math.log(0.05), 0.01, -0.5])
    medians = [math.log1p(a * LN2 / math.exp(log_b + beta * j)) / a for j in (0, 1)]
    return {
        "params": {"median_reference": medians[0], "rate_shape": a, "log_hr": beta},
        "medians": medians,
        "se": {},
    }


def ref_pwexp(lung, cuts=(12.0, 36.0)):
    """Piecewise-constant hazard e^{α_j + β x} on [0, 12), [12, 36) months (no one beyond 33.7)."""
    t, e, x = lung["T"].to_numpy(), lung["E"].to_numpy(), lung["x"].to_numpy()
    assert t.max() < cuts[1]
    exposure = np.stack([np.minimum(t, cuts[0]), np.clip(t - cuts[0], 0, None)])
    in_second = t >= cuts[0]

    def negloglik(theta):
        a1, a2, beta = theta
        log_h = np.where(in_second, a2, a1) + beta * x
        cum_h = (np.exp(a1) * exposure[0] + np.exp(a2) * exposure[1]) * np.exp(beta * x)
        return -np.sum(e * log_h - cum_h)

    a1, a2, beta = _mle(negloglik, [-3.0, -3.0, 0.0])

    def median(j):
        rate1, rate2 = np.exp([a1 + beta * j, a2 + beta * j])
        if rate1 * cuts[0] >= LN2:
            return LN2 / rate1
        return cuts[0] + (LN2 - rate1 * cuts[0]) / rate2

    return {
        "params": {"log_rate[0]": a1, "log_rate[1]": a2, "log_hr": beta},
        "medians": [median(0), median(1)],
        "se": {},
    }


REFERENCES = {
    "os_exponential": ref_exponential,
    "os_weibull": ref_weibull,
    "os_weibull_aft": ref_weibull_aft,
    "os_gompertz": ref_gompertz,
    "os_lognormal": ref_lognormal,
    "os_loglogistic": ref_loglogistic,
    "os_gengamma": ref_gengamma,
    "os_pwexp": ref_pwexp,
}


def _draws(posterior, name):
    if name.endswith("]"):
        base, index = name[:-1].split("[")
        return stacked_draws(posterior, base)[:, int(index)]
    return stacked_draws(posterior, name)


@pytest.mark.parametrize("model_name", list(REFERENCES))
def test_posterior_agrees_with_maximum_likelihood(model_name, lung, lung_csv, ipd_fitter):
    ref = REFERENCES[model_name](lung)
    posterior = _fit(model_name, lung_csv, ipd_fitter)
    for name, mle in ref["params"].items():
        draws = _draws(posterior, name)
        center, sd = np.median(draws), np.std(draws)
        assert abs(center - mle) < 2 * sd, (name, center, sd, mle)
    medians = stacked_draws(posterior, "median_months")
    for j in (0, 1):
        np.testing.assert_allclose(np.median(medians[:, j]), ref["medians"][j], rtol=0.05)
    for name, se in ref["se"].items():
        np.testing.assert_allclose(np.std(_draws(posterior, name)), se, rtol=0.15)


def test_hand_written_references_agree_with_lifelines_where_they_meet(lung):
    """Cross-check the hand-written likelihoods: exponential PH (the Gompertz a → 0 limit) and
    the piecewise MLE without an arm effect against lifelines' fitters; scipy's generalized
    gamma log-likelihood against lifelines' at its MLE."""
    from lifelines import GeneralizedGammaRegressionFitter, PiecewiseExponentialFitter

    pooled = lung.assign(x=0.0)
    ours = ref_pwexp(pooled)["params"]
    theirs = PiecewiseExponentialFitter(breakpoints=[12.0]).fit(lung["T"], lung["E"])
    rates = 1 / np.array([theirs.lambda_0_, theirs.lambda_1_])
    np.testing.assert_allclose(np.exp([ours["log_rate[0]"], ours["log_rate[1]"]]), rates, rtol=1e-4)
    # exponential PH as the pooled-shape Gompertz limit: compare hazards, not a
    expo = ref_exponential(lung)["params"]
    t, e, x = lung["T"].to_numpy(), lung["E"].to_numpy(), lung["x"].to_numpy()
    log_lik = lambda b, hr: np.sum(e * (np.log(b) + hr * x) - b * np.exp(hr * x) * t)  # noqa: E731
    best = _mle(lambda th: -log_lik(math.exp(th[0]), th[1]), [math.log(0.05), 0.0])
    np.testing.assert_allclose(LN2 / math.exp(best[0]), expo["median_reference"], rtol=1e-4)
    np.testing.assert_allclose(best[1], expo["log_hr"], atol=1e-4)
    # scipy's generalized gamma reproduces the Prentice median used for gengamma
    mu, sigma, q = 2.4, 0.75, 0.6
    k = 1 / q**2
    dist = stats.gengamma(a=k, c=q / sigma, scale=math.exp(mu) * (q**2) ** (sigma / q))
    np.testing.assert_allclose(dist.median(), _gengamma_median(mu, sigma, q), rtol=1e-10)
    fit = GeneralizedGammaRegressionFitter().fit(
        lung[["T", "E", "x"]],
        "T",
        "E",
        regressors={"mu_": "1 + x", "sigma_": "1", "lambda_": "1"},
    )
    p = fit.params_
    theta = [
        p["mu_"]["Intercept"],
        p["mu_"]["x"],
        p["sigma_"]["Intercept"],
        p["lambda_"]["Intercept"],
    ]
    np.testing.assert_allclose(-_gengamma_negloglik(theta, t, e, x), fit.log_likelihood_, rtol=1e-9)


@pytest.mark.parametrize("model_file", sorted(p.name for p in (ROOT / "models").glob("os_*.toml")))
def test_cli_fit_runs_for_every_family(model_file, lung_csv, fitter, monkeypatch, tmp_path, capsys):
    """``resurv fit models/os_*.toml --data lung.csv --time-unit days`` writes the contract files."""
    import resurv.api
    from resurv.cli import main
    from resurv.inference.fit import Fitter

    # reuse the session's compiled models (a new Fitter per call would compile again)
    monkeypatch.setattr(
        resurv.api, "Fitter", lambda settings: Fitter(settings, _compiled=fitter._compiled)
    )
    out = tmp_path / "fit"
    args = ["--quiet", "fit", str(ROOT / "models" / model_file), "--data", str(lung_csv)]
    args += ["--priors", str(ROOT / "priors" / "vague.toml"), "--out", str(out)]
    args += ["--time-unit", "days", "--draws", "300", "--tune", "300", "--chains", "2"]
    assert main(args) == 0
    for name in ("posterior.nc", "summary.csv", "published_vs_posterior.csv", "diagnostics.json"):
        assert (out / name).is_file(), name
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    medians = summary.loc[[i for i in summary.index if i.startswith("median_months")], "mean"]
    assert len(medians) == 2
    # lung: Kaplan-Meier medians 270 and 426 days = 8.9 and 14.0 months
    assert 6 < medians.iloc[0] < 12 and 9 < medians.iloc[1] < 19, medians
    diag = json.loads((out / "diagnostics.json").read_text())
    if model_file == "os_pwexp.toml" and diag["divergences"]:
        # the known limitation of the non-centred random walk with many patients (strict xfail
        # in test_survival_recovery.py; 1 of 10 seeds here has one divergent transition): it
        # must be reported, never hidden
        assert not diag["passed"] and not diag["divergences_ok"]
        assert "CONVERGENCE GATES FAILED" in capsys.readouterr().err
    else:
        assert diag["divergences"] == 0
