import numpy as np
import pytensor.tensor as pt
from scipy import integrate

from resurv.statistics.followup import FollowUp


def test_censoring_survival_matches_simulation(rng):
    a, f, rho = 24.0, 12.0, 0.02
    design = FollowUp(a, f, rho)
    c = design.sample_censoring_times(rng, size=400_000)
    for t in [5.0, 12.0, 20.0, 30.0, 35.9]:
        empirical = np.mean(c > t)
        se = np.sqrt(empirical * (1 - empirical) / c.size)
        assert abs(empirical - design.censoring_survival(t)) < 4 * se + 1e-12
    assert design.max_followup_months == a + f


def test_density_integrates_to_one_minus_survival():
    a, f, rho = 30.0, 6.0, 0.01
    design = FollowUp(a, f, rho)
    for t in [3.0, 10.0, 20.0, 36.0]:
        mass, _ = integrate.quad(lambda u: design.censoring_density(u), 0, t, points=[f], limit=200)
        assert np.isclose(mass, 1 - design.censoring_survival(t), atol=1e-8)


def test_pytensor_and_numpy_agree():
    t = np.linspace(0, 50, 101)
    tt = pt.dvector("t")
    design = FollowUp(24.0, 12.0, 0.03)
    g_pt = design.as_tensors().censoring_survival(tt, xp=pt).eval({tt: t})
    d_pt = design.as_tensors().censoring_density(tt, xp=pt).eval({tt: t})
    np.testing.assert_allclose(g_pt, design.censoring_survival(t), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(d_pt, design.censoring_density(t), rtol=1e-12, atol=1e-14)
