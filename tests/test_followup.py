import numpy as np
import pytensor.tensor as pt
from scipy import integrate

from resurv.statistics.followup import (
    censoring_density,
    censoring_survival,
    sample_censoring_times,
)


def test_censoring_survival_matches_simulation(rng):
    a, f, rho = 24.0, 12.0, 0.02
    c = sample_censoring_times(rng, a, f, rho, size=400_000)
    for t in [5.0, 12.0, 20.0, 30.0, 35.9]:
        empirical = np.mean(c > t)
        se = np.sqrt(empirical * (1 - empirical) / c.size)
        assert abs(empirical - censoring_survival(t, a, f, rho)) < 4 * se + 1e-12


def test_density_integrates_to_one_minus_survival():
    a, f, rho = 30.0, 6.0, 0.01
    for t in [3.0, 10.0, 20.0, 36.0]:
        mass, _ = integrate.quad(
            lambda u: censoring_density(u, a, f, rho), 0, t, points=[f], limit=200
        )
        assert np.isclose(mass, 1 - censoring_survival(t, a, f, rho), atol=1e-8)


def test_pytensor_and_numpy_agree():
    t = np.linspace(0, 50, 101)
    tt = pt.dvector("t")
    g_pt = censoring_survival(tt, 24.0, 12.0, 0.03, xp=pt).eval({tt: t})
    d_pt = censoring_density(tt, 24.0, 12.0, 0.03, xp=pt).eval({tt: t})
    np.testing.assert_allclose(
        g_pt, censoring_survival(t, 24.0, 12.0, 0.03), rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(d_pt, censoring_density(t, 24.0, 12.0, 0.03), rtol=1e-12, atol=1e-14)
