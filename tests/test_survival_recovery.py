"""Parameter recovery: patient data simulated from known parameters, fitted by every family.

For each family, ``N_DATASETS`` trials of 250 + 250 patients (uniform accrual over 24 months,
36 months' minimum follow-up) are simulated with :func:`resurv.simulation.simulate.simulate_trials` from
known parameters. Event times are drawn by inverse survival functions from ``scipy.stats``
(not from resurv's families), so that a wrong parametrization in resurv shows up as bias.
Each family's model is compiled once and sampled for every dataset with its data swapped in.
Pooled over families, parameters and datasets, the central 50% and 95% intervals must cover
the truth at rates compatible with 50% and 95% (binomial bounds at tail probability 0.0005
each side).
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import nutpie
import pytest
from scipy import special, stats

from resurv.api import build, load_data
from resurv.inference.fit import SamplerSettings
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.models.built import stacked_draws
from resurv.simulation.simulate import simulate_trials, write_ipd_csv
from resurv.statistics.followup import FollowUp

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LN2 = math.log(2.0)
N_DATASETS = 5
N_PER_ARM = 250
MEDIAN = 12.0
LOG_HR = -0.3
LOG_TR = 0.3
SETTINGS = SamplerSettings(draws=500, tune=500, chains=2)


def _isf(dist):
    """H⁻¹(h) = S⁻¹(e⁻ʰ) through scipy's inverse survival function."""
    return lambda h: dist.isf(np.exp(-h))


def _gengamma(median, sigma, q, time_ratio=1.0):
    """Prentice generalized gamma (Q > 0) as scipy ``gengamma``: T = e^μ (Q² G)^{σ/Q}."""
    k = 1 / q**2
    mu = math.log(median) - sigma * math.log(q**2 * special.gammaincinv(k, 0.5)) / q
    return stats.gengamma(a=k, c=q / sigma, scale=time_ratio * math.exp(mu) * q ** (2 * sigma / q))


def _pwexp_inverse(rates, cuts):
    edges = np.r_[0.0, cuts]
    at_edges = np.r_[0.0, np.cumsum(rates[:-1] * np.diff(edges))]

    def inverse(h):
        j = np.searchsorted(at_edges, h, side="right") - 1
        return edges[j] + (h - at_edges[j]) / rates[j]

    return inverse


def _gompertz_rate(median, a):
    return a * LN2 / math.expm1(a * median)


HR, TR = math.exp(LOG_HR), math.exp(LOG_TR)
PW_RATES = np.array([0.06, 0.045, 0.03])
GOMPERTZ_A = 0.03
# model file → (inverse cumulative hazards of the two arms, true parameter values)
TRUTH = {
    "os_exponential": (
        [_isf(stats.expon(scale=MEDIAN / LN2)), _isf(stats.expon(scale=MEDIAN / LN2 / HR))],
        {"median_reference": MEDIAN, "log_hr": LOG_HR},
    ),
    "os_weibull": (
        [
            _isf(stats.weibull_min(1.3, scale=MEDIAN / LN2 ** (1 / 1.3))),
            _isf(stats.weibull_min(1.3, scale=MEDIAN / LN2 ** (1 / 1.3) * HR ** (-1 / 1.3))),
        ],
        {"median_reference": MEDIAN, "shape": 1.3, "log_hr": LOG_HR},
    ),
    "os_gompertz": (
        [
            _isf(
                stats.gompertz(
                    _gompertz_rate(MEDIAN, GOMPERTZ_A) / GOMPERTZ_A, scale=1 / GOMPERTZ_A
                )
            ),
            _isf(
                stats.gompertz(
                    HR * _gompertz_rate(MEDIAN, GOMPERTZ_A) / GOMPERTZ_A, scale=1 / GOMPERTZ_A
                )
            ),
        ],
        {"median_reference": MEDIAN, "rate_shape": GOMPERTZ_A, "log_hr": LOG_HR},
    ),
    "os_lognormal": (
        [_isf(stats.lognorm(0.9, scale=MEDIAN)), _isf(stats.lognorm(0.9, scale=MEDIAN * TR))],
        {"median_reference": MEDIAN, "sdlog": 0.9, "log_tr": LOG_TR},
    ),
    "os_loglogistic": (
        [_isf(stats.fisk(1.8, scale=MEDIAN)), _isf(stats.fisk(1.8, scale=MEDIAN * TR))],
        {"median_reference": MEDIAN, "shape": 1.8, "log_tr": LOG_TR},
    ),
    "os_gengamma": (
        [_isf(_gengamma(MEDIAN, 0.8, 0.5)), _isf(_gengamma(MEDIAN, 0.8, 0.5, TR))],
        {"median_reference": MEDIAN, "sigma": 0.8, "q": 0.5, "log_tr": LOG_TR},
    ),
    "os_pwexp": (
        [_pwexp_inverse(PW_RATES, [12.0, 36.0]), _pwexp_inverse(PW_RATES * HR, [12.0, 36.0])],
        {
            **{f"log_rate[{j}]": math.log(r) for j, r in enumerate(PW_RATES)},
            "log_hr": LOG_HR,
        },
    ),
}


FAMILIES = list(TRUTH)


def _draws(posterior, name):
    if name.endswith("]"):
        base, index = name[:-1].split("[")
        return stacked_draws(posterior, base)[:, int(index)]
    return stacked_draws(posterior, name)


@pytest.fixture(scope="module")
def coverage(fitter, tmp_path_factory):
    """({(model, parameter): [(inside 50%, inside 95%) per dataset]}, {model: divergences})."""
    recovery_fitter = dataclasses.replace(fitter, settings=SETTINGS)
    priors = load_priors(ROOT / "priors" / "vague.toml")
    folder = tmp_path_factory.mktemp("recovery")
    out = {}
    divergences = {}
    for model_name in FAMILIES:
        inverses, truth = TRUTH[model_name]
        m = list(TRUTH).index(model_name)
        spec = load_model_spec(ROOT / "models" / f"{model_name}.toml")
        trials = simulate_trials(
            np.random.default_rng(1000 + m),
            inverses,
            [N_PER_ARM, N_PER_ARM],
            FollowUp(24.0, 36.0),
            n_trials=N_DATASETS,
        )
        keys = set()
        for i in range(N_DATASETS):
            path = write_ipd_csv(folder / f"{model_name}_{i}.csv", trials.row(i))
            built = build(spec, priors, load_data(path))
            keys.add(built.key)
            tree = nutpie.sample(
                recovery_fitter.compiled(built),
                draws=SETTINGS.draws,
                tune=SETTINGS.tune,
                chains=SETTINGS.chains,
                seed=i + 1,
                cores=SETTINGS.cores,
                target_accept=SETTINGS.target_accept,
                progress_bar=False,
            )
            divergences.setdefault(model_name, []).append(int(tree.sample_stats["diverging"].sum()))
            posterior = tree.posterior
            for name, value in truth.items():
                draws = _draws(posterior, name)
                q = np.quantile(draws, [0.025, 0.25, 0.75, 0.975])
                hit = (q[1] <= value <= q[2], q[0] <= value <= q[3])
                out.setdefault((model_name, name), []).append(hit)
        assert len(keys) == 1  # one structure per family: compiled once
    return out, divergences


def test_intervals_cover_the_truth_at_their_nominal_rates(coverage):
    coverage, _ = coverage
    hits = np.array([h for per_param in coverage.values() for h in per_param])
    n = hits.shape[0]
    rates = hits.mean(axis=0)
    for (model, name), per_param in coverage.items():
        print(
            f"{model} {name}: 50% {np.mean(per_param, axis=0)[0]:.1f}, 95% {np.mean(per_param, axis=0)[1]:.1f}"
        )
    print(f"families: {', '.join(FAMILIES)}")
    print(f"coverage over {n} intervals: 50% -> {rates[0]:.3f}, 95% -> {rates[1]:.3f}")
    for column, nominal in ((0, 0.5), (1, 0.95)):
        low = stats.binom.ppf(0.0005, n, nominal)
        high = stats.binom.isf(0.0005, n, nominal)
        assert low <= hits[:, column].sum() <= high, (nominal, hits[:, column].sum(), n)


def test_no_parameter_is_missed_in_most_datasets(coverage):
    """A systematic bias in one parameter shows as repeated misses of its 95% interval."""
    coverage, _ = coverage
    for (model, name), per_param in coverage.items():
        misses = sum(not h95 for _, h95 in per_param)
        # P(≥ 3 misses of 5 | 95% coverage) ≈ 1e-3
        assert misses < 3, (model, name, per_param)


def test_no_divergences(coverage):
    _, divergences = coverage
    print(f"divergent transitions per dataset: {divergences}")
    for model, counts in divergences.items():
        if model != "os_pwexp":
            assert sum(counts) == 0, (model, counts)


@pytest.mark.xfail(
    reason="known limitation, not yet corrected: random-walk log-rates are non-centred "
    "(δ = rw_sd · cumsum(z)); with 500 patients the data pin δ and (rw_sd, z) form a funnel, "
    "0-4 divergent transitions per 1000 draws (the other families have none). Centring every "
    "increment is no cure (1 in 5,000 draws here, but 30 on the lung data, whose last interval "
    "holds no patient). Strict: passes once increments are centred by events per interval",
    strict=True,
)
def test_pwexp_random_walk_without_divergences(coverage):
    _, divergences = coverage
    assert sum(divergences["os_pwexp"]) == 0, divergences["os_pwexp"]
