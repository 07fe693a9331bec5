"""Minimum follow-up parametrized through a printed reverse-KM median follow-up.

F = M − A/2 with M a smooth function of accrual and a latent z
(:func:`resurv.models.summary_data._followup_through_median`). The change of coordinates must
leave the prior p(A) p(F) 1{A + F > c} exactly as it was: for fixed A, the prior potential
integrated over z must equal P(F ∈ (c − A, F_max)) under F's prior (checked by quadrature
against scipy). And it must do what it is for: the printed value pins z to about ±1 whatever the
accrual, where it pinned F to a width changing twentyfold with A.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate, stats

from resurv.io.priors import PriorSpec
from resurv.models.summary_data import (
    FOLLOWUP_LATENT,
    FOLLOWUP_PRIOR_TERM,
    _followup_through_median,
)
from resurv.statistics.published.median_followup import POOLED, MedianFollowUp

VALUE, N = 12.0, 432  # the Rossi study: 432 patients, everyone followed 12 months
PRINTED = MedianFollowUp(POOLED, VALUE)
PRIORS = {
    "uniform": PriorSpec("uniform", {"lower": 0.0, "upper": 36.0}),
    "lognormal": PriorSpec("lognormal", {"mu": np.log(12.0), "sigma": 1.0}),
}


@pytest.fixture(scope="module", params=list(PRIORS))
def compiled(request):
    """(prior, f(A, z) → (F, prior potential, median follow-up's log factor))."""
    prior = PRIORS[request.param]
    with pm.Model() as model:
        accrual = pt.dscalar("accrual")
        followup = _followup_through_median(prior, accrual, PRINTED, [VALUE], N)
    z = model.rvs_to_values[model[FOLLOWUP_LATENT]]
    outputs = model.replace_rvs_by_values([followup, model[FOLLOWUP_PRIOR_TERM]])
    fn = pytensor.function([accrual, z], outputs, on_unused_input="ignore")
    return prior, fn


def _sd_log_median(accrual):
    rounding = PRINTED.rounding_variance()
    return np.sqrt(rounding + accrual**2 / (4.0 * N * VALUE**2))


@pytest.mark.parametrize("accrual", [1.0, 5.0, 23.0])
def test_prior_mass_over_the_latent_is_the_prior_mass_of_the_allowed_follow_up(compiled, accrual):
    prior, fn = compiled
    frozen = prior.scipy_frozen()
    lower = max(VALUE - accrual, frozen.support()[0])
    expected = frozen.sf(lower) - frozen.sf(frozen.support()[1])

    def density(z):
        return float(np.exp(fn(accrual, z)[1]))

    mass = sum(
        integrate.quad(density, a, b, limit=400, epsabs=1e-12)[0]
        for a, b in [(-np.inf, -5.0), (-5.0, 5.0), (5.0, np.inf)]
    )
    assert mass == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("accrual", [1.0, 5.0, 23.0])
def test_the_printed_value_pins_the_latent_to_unit_width_whatever_the_accrual(compiled, accrual):
    _, fn = compiled
    # the median follow-up's likelihood log N(log v | log(F + A/2), s²) as a function of z
    s = _sd_log_median(accrual)

    def loglik(z):
        f = float(fn(accrual, z)[0])
        return stats.norm.logpdf(np.log(VALUE), np.log(f + accrual / 2.0), s)

    # curvature in z at the centre: −d²/dz² = 1 for an exactly unit-width latent
    h = 1e-3
    curvature = -(loglik(h) - 2.0 * loglik(0.0) + loglik(-h)) / h**2
    assert curvature == pytest.approx(1.0, rel=0.05)
    # whereas in F the width is the SD of the median follow-up itself, which grows with A


def test_map_is_monotone_and_stays_inside_the_prior_support(compiled):
    prior, fn = compiled
    low, high = prior.scipy_frozen().support()
    for accrual in (1.0, 5.0, 23.0):
        f = np.array([float(fn(accrual, z)[0]) for z in np.linspace(-8.0, 8.0, 161)])
        assert np.all(np.diff(f) > 0)
        assert np.all(f > max(low, VALUE - accrual)) and np.all(f < high)


def test_calibration_draws_the_follow_up_from_its_prior_given_accrual():
    from types import SimpleNamespace

    from resurv.simulation.calibrate import _followup_prior_draws

    prior = PRIORS["uniform"]
    study = SimpleNamespace(followup_priors={"followup_months": prior})
    largest = SimpleNamespace(get_value=lambda: np.array(VALUE))
    template = SimpleNamespace(model={"design__largest_reached_median": largest})
    accrual = np.repeat([1.0, 5.0, 23.0], 4000)
    drawn = _followup_prior_draws(
        study, template, {"accrual_months": accrual}, np.random.default_rng(3)
    )
    for a in (1.0, 5.0, 23.0):
        f = drawn[accrual == a]
        # p(F) 1{F > c − A} with F ~ U(0, 36): uniform on (max(0, c − A), 36)
        low = max(0.0, VALUE - a)
        assert f.min() > low and f.max() < 36.0
        assert stats.kstest(f, stats.uniform(low, 36.0 - low).cdf).pvalue > 1e-3
