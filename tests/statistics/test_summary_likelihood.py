"""Model side of the summary likelihood against independent references (scipy quad, closed forms)."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate as sint
from scipy import interpolate, optimize, stats
from summary_curves import LogLogistic, Weibull

from helpers import logp_and_dlogp, median_shift_by_quadrature
from resurv.statistics import hr, landmark, logrank, median, rmean
from resurv.statistics.base import TrialModel, covariance_pieces, z_from_p
from resurv.statistics.events import expected_events
from resurv.statistics.followup import FollowUp
from resurv.statistics.likelihood import add_summary_likelihood, normal_pieces
from resurv.statistics.notreached import (
    largest_time_quantile,
    log_largest_time_density,
    log_not_reached_factor,
)
from resurv.statistics.published import (
    EventCount,
    HazardRatio,
    Landmark,
    LogRank,
    MedianNotReached,
    MedianReached,
    RestrictedMean,
)

A, F, RHO = 24.0, 12.0, 0.02
N = (200, 180)
CURVES = (Weibull(14.0, 1.3), Weibull(20.0, 0.9))  # crossing hazards: not PH


def _quad(f, lo, hi):
    """∫_lo^hi f by QUADPACK; below 1e-3 · hi on the log scale u = e^y (from e^−690 when lo = 0).

    (Hazards u^{k−1} with k ≪ 1 are singular at 0: in y the integrand e^{k y} is smooth.)
    """
    head, cut = 0.0, 1e-3 * hi
    if lo < cut:
        head = sint.quad(
            lambda y: f(np.exp(y)) * np.exp(y),
            np.log(lo) if lo > 0.0 else np.log(cut) - 690.0,
            np.log(cut),
            limit=400,
            epsabs=1e-14,
            epsrel=1e-11,
        )[0]
        lo = cut
    points = [F] if lo < F < hi else None
    return head + sint.quad(f, lo, hi, points=points, limit=200, epsabs=1e-12, epsrel=1e-10)[0]


class Reference:
    """The formulas of the statistical design, section 4, in NumPy with scipy quad."""

    def __init__(self, curves, n, a=A, f=F, rho=RHO):
        self.curves, self.n, self.end = curves, n, a + f
        self.g = FollowUp(a, f, rho).censoring_survival

    def pi(self, j, u):
        return self.n[j] * self.curves[j].survival_np(u) * self.g(u)

    def h(self, j, u):
        return self.curves[j].hazard_np(u)

    def score(self):
        def f(u):
            p0, p1 = self.pi(0, u), self.pi(1, u)
            return p0 * p1 * (self.h(1, u) - self.h(0, u)) / (p0 + p1)

        return _quad(f, 0, self.end)

    def v(self):
        def f(u):
            p0, p1 = self.pi(0, u), self.pi(1, u)
            return p0 * p1 * (p0 * self.h(0, u) + p1 * self.h(1, u)) / (p0 + p1) ** 2

        return _quad(f, 0, self.end)

    def cox_limit(self):
        def s(beta):
            def f(u):
                p0, p1 = self.pi(0, u), self.pi(1, u)
                return (
                    p0
                    * p1
                    * (self.h(1, u) - np.exp(beta) * self.h(0, u))
                    / (p0 + p1 * np.exp(beta))
                )

            return _quad(f, 0, self.end)

        beta = optimize.brentq(s, -3, 3, xtol=1e-13)

        def info(u):
            p0, p1 = self.pi(0, u), self.pi(1, u) * np.exp(beta)
            e = p1 / (p0 + p1)
            return e * (1 - e) * (self.pi(0, u) * self.h(0, u) + self.pi(1, u) * self.h(1, u))

        return beta, _quad(info, 0, self.end)

    def influences(self, tau, t_star):
        """(arm, upper, a(u)) lists for [median0, median1, rmean1(tau), landmark0, Z, logHR]."""
        c0, c1 = self.curves
        sqrt_v = np.sqrt(self.v())
        beta, info = self.cox_limit()

        def area(u):
            return _quad(c1.survival_np, u, tau)

        end, score, v = self.end, self.score(), self.v()

        def probs(u):
            p0, p1 = self.pi(0, u), self.pi(1, u)
            return p0 / (p0 + p1), p1 / (p0 + p1)

        cache = {}

        def tail(arm, name, c, s):
            # B(s) = ∫_s^end c(u) π_j(u)/π_j(s) du, the at-risk fluctuation term: quad of c π
            # on the pieces of a fine grid, summed from the end, cubic spline in between
            key = (arm, name)
            if key not in cache:
                grid = np.union1d(np.linspace(0.0, end, 1201), [F])
                pieces = [
                    _quad(lambda u: c(u) * self.pi(arm, u), lo, hi)
                    for lo, hi in zip(grid[:-1], grid[1:], strict=True)
                ]
                from_end = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]])
                cache[key] = interpolate.CubicSpline(grid, from_end)
            return cache[key](s) / self.pi(arm, s)

        def dpsi(arm):
            def c(u):
                p0, p1 = probs(u)
                return (p1 if arm == 0 else p0) ** 2 * (self.h(1, u) - self.h(0, u))

            return c

        def dphi(arm):
            def c(u):
                p0, p1 = probs(u)
                deaths = p0 * self.h(0, u) + p1 * self.h(1, u)
                if arm == 0:
                    return p1 * (deaths * (p1 - p0) + p0 * self.h(0, u))
                return p0 * (deaths * (p0 - p1) + p1 * self.h(1, u))

            return c

        def z_arm(arm):
            def a(s):
                p0, p1 = probs(s)
                a_u = (p0 if arm == 1 else -p1) - tail(arm, "psi", dpsi(arm), s)
                a_v = p0 * p1 - tail(arm, "phi", dphi(arm), s)
                return a_u / sqrt_v - 0.5 * score / v**1.5 * a_v

            return a

        z = {1: (None, z_arm(1)), 0: (None, z_arm(0))}

        def ebar(u):
            p1 = self.pi(1, u) * np.exp(beta)
            return p1 / (self.pi(0, u) + p1)

        def excess(u):
            return self.h(1, u) - np.exp(beta) * self.h(0, u)

        def hr_tail(arm):
            if arm == 1:
                return lambda u: (1 - ebar(u)) ** 2 * excess(u)
            return lambda u: ebar(u) ** 2 * excess(u) * np.exp(-beta)

        log_hr = {
            1: (None, lambda s: (1 - ebar(s) - tail(1, "hr", hr_tail(1), s)) / info),
            0: (None, lambda s: (-ebar(s) - tail(0, "hr", hr_tail(0), s)) / info),
        }
        m0, m1 = c0.median, c1.median
        return [
            {0: (m0, lambda u: -1 / (self.pi(0, u) * self.h(0, m0) * m0))},
            {1: (m1, lambda u: -1 / (self.pi(1, u) * self.h(1, m1) * m1))},
            {1: (tau, lambda u: -area(u) / self.pi(1, u))},
            {0: (t_star, lambda u: -c0.survival_np(t_star) / self.pi(0, u))},
            z,
            log_hr,
        ]

    def covariance(self, influences):
        k = len(influences)
        cov = np.zeros((k, k))
        for i in range(k):
            for m in range(i, k):
                for arm, (bx, ax) in influences[i].items():
                    if arm not in influences[m]:
                        continue
                    by, ay = influences[m][arm]
                    upper = min(b for b in (bx, by, self.end) if b is not None)
                    cov[i, m] += _quad(
                        lambda u, ax=ax, ay=ay, arm=arm: (
                            ax(u) * ay(u) * self.pi(arm, u) * self.h(arm, u)
                        ),
                        0,
                        upper,
                    )
                cov[m, i] = cov[i, m]
        return cov


@pytest.fixture(scope="module")
def trial():
    return TrialModel(CURVES, N, FollowUp(A, F, RHO), n_nodes=32, influence="full")


def test_means_match_quadrature(trial):
    tau, t_star = 30.0, 9.0
    outs = [
        median.model_mean(trial, 0),
        landmark.model_mean(trial, 0, t_star),
        rmean.model_mean(trial, 1, tau),
        logrank.expected_score(trial),
        pt.exp(logrank.log_variance(trial)),
        hr.model_mean(trial),
        expected_events(trial, 0),
        expected_events(trial, 1),
    ]
    got = pytensor.function([], outs)()
    ref = Reference(CURVES, N)
    c0, c1 = CURVES
    expected = [
        np.log(14.0),
        c0.survival_np(t_star),
        sint.quad(c1.survival_np, 0, tau, epsrel=1e-10)[0],
        ref.score(),
        ref.v(),
        ref.cox_limit()[0],
        N[0] * _quad(lambda u: c0.hazard_np(u) * c0.survival_np(u) * ref.g(u), 0, A + F),
        N[1] * _quad(lambda u: c1.hazard_np(u) * c1.survival_np(u) * ref.g(u), 0, A + F),
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-7)


def test_cox_limit_is_the_log_hr_under_ph():
    curves = (Weibull(14.0, 1.3), Weibull(14.0 * 1.6, 1.3))  # HR = (m0/m1)^k
    value = pytensor.function([], hr.model_mean(TrialModel(curves, N, FollowUp(A, F, RHO))))()
    assert np.isclose(value, 1.3 * np.log(1 / 1.6), atol=1e-10)


def test_covariance_matches_quadrature(trial):
    tau, t_star = 30.0, 9.0
    model_stats = [
        median.model_statistic(trial, MedianReached(0, 1.0)),
        median.model_statistic(trial, MedianReached(1, 1.0)),
        rmean.model_statistic(trial, RestrictedMean(1, 1.0), tau, largest_time=False),
        landmark.model_statistic(trial, Landmark(0, t_star, 0.5)),
        logrank.model_statistic(trial),
        hr.model_statistic(trial),
    ]
    got = pytensor.function([], covariance_pieces(trial, model_stats))()
    ref = Reference(CURVES, N)
    expected = ref.covariance(ref.influences(tau, t_star))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)
    # structural zeros: arms do not share deaths
    assert got[0, 1] == 0.0 and got[0, 2] == 0.0


@pytest.mark.parametrize("shape", [0.05, 0.5, 1.3, 4.0])
@pytest.mark.parametrize("upper", [8.0, 30.0])
def test_spss_mean_influence_on_quadrature_pieces_matches_quad(shape, upper):
    # on the nodes of each piece of [0, upper] (split at F), the inner area ∫_u^τ S comes from
    # spectral integration of S over the rest of the piece plus one sum from the piece's end to τ
    curve = Weibull(20.0, shape)
    trial = TrialModel((curve, curve), N, FollowUp(A, F, RHO))
    tau = 30.0
    influence = rmean.influence(trial, 1, tau)
    seen = []

    def log_f(u, piece):
        seen.append((u, influence.log_abs_on_piece(u, piece)))
        return pt.zeros_like(u)

    trial.log_integral(
        log_f, pt.as_tensor_variable(np.array([upper, 0.5 * upper])), with_piece=True
    )
    assert len(seen) == 2  # [0, F] graded and [F, upper], both pieces passed to the integrand
    values = pytensor.function([], [v for pair in seen for v in pair])()
    ref = Reference((curve, curve), N)
    for nodes, got in zip(values[::2], values[1::2], strict=True):
        area = np.array(
            [
                sint.quad(curve.survival_np, x, tau, epsabs=1e-14, limit=200)[0]
                for x in nodes.ravel()
            ]
        )
        want = np.log(area) - np.log(ref.pi(1, nodes.ravel()))
        np.testing.assert_allclose(got.ravel(), want, rtol=0, atol=1e-7)


@pytest.mark.parametrize("small_shape", [0.04, 0.15])
def test_a_hazard_singular_at_zero_is_integrated_accurately(small_shape):
    # a Weibull shape k ≪ 1 (h ∝ u^{k−1}, seen in posteriors under vague priors): the pieces from
    # 0 are graded with p = 2/k, so means and covariances still match scipy quad
    curves = (Weibull(14.0, 1.3), Weibull(20.0, small_shape))
    trial = TrialModel(curves, N, FollowUp(A, F, RHO), n_nodes=32, influence="full")
    assert pytensor.function([], trial.grading)() == pytest.approx(2.0 / small_shape)
    tau, t_star = 30.0, 9.0
    model_stats = [
        median.model_statistic(trial, MedianReached(0, 1.0)),
        median.model_statistic(trial, MedianReached(1, 1.0)),
        rmean.model_statistic(trial, RestrictedMean(1, 1.0), tau, largest_time=False),
        landmark.model_statistic(trial, Landmark(0, t_star, 0.5)),
        logrank.model_statistic(trial),
        hr.model_statistic(trial),
    ]
    outs = [
        covariance_pieces(trial, model_stats),
        logrank.expected_score(trial),
        pt.exp(logrank.log_variance(trial)),
        expected_events(trial, 1),
        rmean.model_mean(trial, 1, tau),
    ]
    cov, score, variance, events, mean = pytensor.function([], outs)()
    ref = Reference(curves, N)
    c1 = curves[1]
    np.testing.assert_allclose(
        [score, variance, events, mean],
        [
            ref.score(),
            ref.v(),
            N[1] * _quad(lambda u: c1.hazard_np(u) * c1.survival_np(u) * ref.g(u), 0, A + F),
            sint.quad(c1.survival_np, 0, tau, epsrel=1e-10, limit=200)[0],
        ],
        rtol=1e-7,
    )
    # medians, SPSS mean and landmark (the "full" log-rank and Cox influences hold inner integrals
    # from each node u > 0, which are not graded)
    expected = ref.covariance(ref.influences(tau, t_star)[:4])
    np.testing.assert_allclose(cov[:4, :4], expected, rtol=1e-6)


def test_generic_median_solver_and_its_gradient():
    alpha, beta = pt.dscalar("alpha"), pt.dscalar("beta")
    m = median.curve_median(LogLogistic(alpha, beta))
    fn = pytensor.function([alpha, beta], [m, *pytensor.grad(m, [alpha, beta])])
    value, d_alpha, d_beta = fn(17.0, 1.7)
    assert np.isclose(value, 17.0, rtol=1e-12)  # log-logistic median = α
    assert np.isclose(d_alpha, 1.0, rtol=1e-8) and abs(d_beta) < 1e-8
    k = pt.dscalar("k")
    m = median.curve_median(Weibull(pt.as_tensor_variable(9.0), k, give_median=False))
    fn = pytensor.function([k], [m, pytensor.grad(m, k)])
    value, grad = fn(0.6)
    assert np.isclose(value, 9.0, rtol=1e-12) and abs(grad) < 1e-8


def test_horizon_density_is_the_distribution_of_the_largest_time(rng):
    curve, n = Weibull(30.0, 1.2), 15
    tau = pt.dscalar("tau")
    trial = TrialModel((curve, curve), (n, n), FollowUp(A, F, RHO))
    density = pytensor.function([tau], pt.exp(log_largest_time_density(trial, 0, tau)))
    total = sint.quad(lambda x: density(x), 0, A + F, points=[F], limit=200)[0]
    assert np.isclose(total, 1.0, atol=1e-8)
    # simulate the largest observed time of an arm of 15
    reps = 40_000
    times = curve.sample(rng, (reps, n))
    cens = FollowUp(A, F, RHO).sample_censoring_times(rng, size=(reps, n))
    largest = np.minimum(times, cens).max(axis=1)
    for x in [15.0, 25.0, 33.0]:
        cdf = sint.quad(lambda y: density(y), 0, x, points=[F] if x > F else None)[0]
        emp = np.mean(largest <= x)
        assert abs(emp - cdf) < 4 * np.sqrt(cdf * (1 - cdf) / reps) + 1e-9
    # closed form of the CDF, (1 - S G)^n
    x = 25.0
    closed = (1 - curve.survival_np(x) * FollowUp(A, F, RHO).censoring_survival(x)) ** n
    cdf = sint.quad(lambda y: density(y), 0, x, points=[F])[0]
    assert np.isclose(cdf, closed, rtol=1e-8)
    assert FollowUp(A, F, RHO).censoring_density(x) > 0


@pytest.mark.parametrize("rho", [0.0, RHO])
def test_largest_time_quantile_inverts_the_closed_form_cdf(rho):
    """τ = F_τ⁻¹(u) with F_τ(x) = (1 − S G)^n, and its gradient is the implicit-function one."""
    median_, shape, n = pt.dscalar("median"), pt.dscalar("shape"), 12
    accrual, follow, log_u = pt.dscalar("A"), pt.dscalar("F"), pt.dscalar("log_u")
    trial = TrialModel(
        (Weibull(median_, shape), Weibull(median_, shape)), (n, n), FollowUp(accrual, follow, rho)
    )
    tau = largest_time_quantile(trial, 0, log_u)
    inputs = [median_, shape, accrual, follow, log_u]
    fn = pytensor.function(inputs, [tau, *pytensor.grad(tau, inputs)])

    def cdf(x, m, k, a, f):
        return (1 - Weibull(m, k).survival_np(x) * FollowUp(a, f, rho).censoring_survival(x)) ** n

    # below F (only events) and beyond F (administrative censoring), shapes either side of 1
    for m, k, a, f, u in [
        (30.0, 1.2, 24.0, 12.0, 0.3),
        (60.0, 0.4, 48.0, 6.0, 0.97),
        (8.0, 3.0, 36.0, 24.0, 0.02),
    ]:
        value, *grad = fn(m, k, a, f, np.log(u))
        assert 0 < value < a + f
        assert np.isclose(cdf(value, m, k, a, f), u, rtol=1e-9)
        # finite differences of the quantile solved by scipy's root finder
        point = np.array([m, k, a, f, np.log(u)])

        def quantile(p):
            return optimize.brentq(
                lambda x: cdf(x, *p[:4]) - np.exp(p[4]), 1e-12, p[2] + p[3] - 1e-12, xtol=1e-14
            )

        assert np.isclose(quantile(point), value, rtol=1e-9)
        for i in range(5):
            step = 1e-6 * max(1.0, abs(point[i]))
            up, down = point.copy(), point.copy()
            up[i] += step
            down[i] -= step
            numeric = (quantile(up) - quantile(down)) / (2 * step)
            assert np.isclose(grad[i], numeric, rtol=1e-5, atol=1e-7), (i, grad[i], numeric)


def test_horizon_in_a_model_uses_the_parameter_values_not_fresh_draws():
    """The bisection runs in a scan cut at the random variables: PyMC's values reach it."""
    model, _ = _model(_weibull_ph(0.8), [MedianNotReached(1), RestrictedMean(1, 30.0)], rho=RHO)
    [tau] = model.replace_rvs_by_values([model["os_horizon_arm1"]])
    names = [v.name for v in model.value_vars]
    compiled = pytensor.function(model.value_vars, [tau, *pytensor.grad(tau, model.value_vars)])

    def fn(point):
        return compiled(*[point[n] for n in names])[0]

    def grad(point):
        return compiled(*[point[n] for n in names])[1:]

    for log_m0, log_hr, raw in [
        (np.log(30.0), 0.2, 0.0),
        (np.log(12.0), -1.0, 2.5),
        (np.log(80.0), 0.5, -3.0),
    ]:
        point = {"log_m0": log_m0, "log_hr": log_hr, "os_horizon_raw_arm1": raw}
        value = float(fn(point))
        m1 = np.exp(log_m0) * np.exp(-log_hr / 0.8)
        u = 1.0 / (1.0 + np.exp(-raw))
        cdf = (
            1 - Weibull(m1, 0.8).survival_np(value) * FollowUp(A, F, RHO).censoring_survival(value)
        ) ** 12
        assert np.isclose(cdf, u, rtol=1e-9)
        assert float(fn(point)) == value  # deterministic: no random draws inside
        g = grad(point)
        # τ depends on the arm-1 median through log_m0 − log_hr/k only
        assert np.isclose(g[0], -0.8 * g[1], rtol=1e-8) and g[2] > 0


def test_not_reached_factor_matches_greenwood_formula():
    curve = Weibull(60.0, 1.0)
    trial = TrialModel((curve, curve), (15, 12), FollowUp(A, F, 0.0))
    tau = 30.0
    got = pytensor.function([], log_not_reached_factor(trial, 1, tau))()
    ref = Reference((curve, curve), (15, 12), rho=0.0)
    var = curve.survival_np(tau) ** 2 * _quad(lambda u: curve.hazard_np(u) / ref.pi(1, u), 0, tau)
    expected = stats.norm.logcdf((curve.survival_np(tau) - 0.5) / np.sqrt(var))
    assert np.isclose(got, expected, rtol=1e-8)


def _model(curves_fn, statistics, a=A, f=F, rho=0.0, n=(15, 12), influence="full"):
    with pm.Model() as model:
        log_m0 = pm.Normal("log_m0", np.log(30.0), 1.0)
        log_hr = pm.Normal("log_hr", 0.0, 1.0)
        summary = add_summary_likelihood(
            "os",
            curves_fn(log_m0, log_hr),
            n,
            FollowUp(a, f, rho),
            statistics,
            influence=influence,
        )
    return model, summary


def _weibull_ph(shape):
    def make(log_m0, log_hr):
        m0 = pt.exp(log_m0)
        return Weibull(m0, shape), Weibull(m0 * pt.exp(-log_hr / shape), shape)

    return make


def test_folded_piece_is_the_two_sign_mixture():
    mean = pt.as_tensor_variable(np.array([0.1, -0.4]))
    cov = pt.as_tensor_variable(np.array([[0.5, 0.2], [0.2, 1.0]]))
    x = np.array([0.3, 1.2])
    folded = pytensor.function([], normal_pieces(pt.as_tensor_variable(x), mean, cov, True))()
    ref_mean, ref_cov = np.array([0.1, -0.4]), np.array([[0.5, 0.2], [0.2, 1.0]])
    plus = stats.multivariate_normal(ref_mean, ref_cov).logpdf(x)
    minus = stats.multivariate_normal(ref_mean, ref_cov).logpdf(x * [1, -1])
    assert np.isclose(folded.sum(), np.logaddexp(plus, minus), rtol=1e-12)
    # first piece is the marginal of the first statistic
    assert np.isclose(folded[0], stats.norm(0.1, np.sqrt(0.5)).logpdf(0.3), rtol=1e-12)


def test_joint_normal_matches_scipy_and_data_swap():
    shape, n, a, f = 1.1, (15, 12), 60.0, 24.0
    first = [MedianReached(0, 34.9), MedianReached(1, 67.5), LogRank(0.217, -1)]
    second = [MedianReached(0, 20.0), LogRank(0.03, +1), MedianReached(1, 41.0)]
    model, summary = _model(_weibull_ph(shape), first, a=a, f=f, n=n)
    loglik = model.compile_logp(vars=[model["os_summary_loglik"]])
    m0, log_hr = 25.0, -0.3
    point = {"log_m0": np.log(m0), "log_hr": log_hr}
    curves = (Weibull(m0, shape), Weibull(m0 * np.exp(-log_hr / shape), shape))
    ref = Reference(curves, n, a, f, 0.0)
    influences = ref.influences(30.0, 9.0)
    cov = ref.covariance([influences[0], influences[1], influences[4]])
    shifts = [
        median_shift_by_quadrature(c, k, FollowUp(a, f, 0.0), c.median) for c, k in zip(curves, n)
    ]
    mean = np.array(
        [
            np.log(m0) + shifts[0],
            np.log(curves[1].median) + shifts[1],
            ref.score() / np.sqrt(ref.v()),
        ]
    )
    cov += np.diag(np.array([1e-3, 1e-3, 1e-3]) ** 2 / 12)
    for statistics in (first, second):
        with model:
            pm.set_data(summary.data_values(statistics))
        x = summary.data_values(statistics)["os_summary_observed"]
        expected = stats.multivariate_normal(mean, cov).logpdf(x)
        assert np.isclose(loglik(point), expected, rtol=1e-6)
    np.testing.assert_allclose(x, [np.log(20.0), np.log(41.0), z_from_p(0.03)])
    assert summary.observed_data == "os_summary_observed"
    assert summary.gaussian_labels == ["log_median_arm0", "log_median_arm1", "logrank_z"]
    with pytest.raises(ValueError, match="structure"):
        summary.data_values([MedianReached(0, 20.0), LogRank(0.03, -1)])


@pytest.mark.slow  # compiling logp and gradient of the full graph takes ~25 s
@pytest.mark.parametrize(
    "statistics",
    [
        [MedianNotReached(0), RestrictedMean(0, 50.0), EventCount(0, 15), EventCount(1, 12)],
        [MedianReached(1, 2.0), Landmark(1, 150.0, 0.0001), LogRank(1e-12), HazardRatio(3.0)],
    ],
    ids=["not-reached-mean-events", "median-landmark-logrank-hr"],
)
def test_far_tail_likelihood_and_gradient_are_finite(statistics):
    # follow-up out to 100 medians: both survival curves underflow long before A + F
    model, _ = _model(_weibull_ph(3.0), statistics, a=100.0, f=200.0, rho=0.01)
    fn = logp_and_dlogp(model)
    for log_m0, log_hr, raw in [
        (np.log(3.0), 0.0, 0.0),
        (np.log(3.0), 4.0, 3.0),
        (1.0, -5.0, -2.0),
    ]:
        point = {"log_m0": log_m0, "log_hr": log_hr, "os_horizon_raw_arm0": raw}
        point = {k: v for k, v in point.items() if k in model.initial_point()}
        logp, grad = fn(point)
        assert np.isfinite(logp)
        assert np.all(np.isfinite(grad))


def test_at_risk_weights_finite_when_both_curves_underflow():
    curves = (Weibull(1.0, 3.0), Weibull(1.5, 3.0))
    trial = TrialModel(curves, (15, 12), FollowUp(100.0, 100.0, 0.0))
    u = pt.as_tensor_variable(np.array([50.0, 100.0, 150.0]))  # S_j(u) = 0.0 in float64
    assert pytensor.function([], pt.exp(-trial.cum_hazard(0, u)))().max() == 0.0
    weights = logrank.influence(trial)
    arm1, arm0 = pytensor.function([], [weights[1].factor(u), weights[0].factor(u)])()
    assert np.all(np.isfinite(arm1)) and np.all(np.isfinite(arm0))
    # arm 1 has the longer median: far out, the patients still at risk are in arm 1, so
    # π₀/(π₀+π₁) → 0 and π₁/(π₀+π₁) → 1; the at-risk terms vanish at A + F
    inv_sqrt_v = pytensor.function([], pt.exp(-0.5 * logrank.log_variance(trial)))()
    assert abs(arm1[-1]) < 1e-12
    assert np.isclose(arm0[-1], -inv_sqrt_v, rtol=1e-6)


def test_table_influence_is_the_design_table_and_agrees_under_the_null():
    """The cheap design-table integrands equal the full ones when the arms have equal hazards."""
    curve = Weibull(20.0, 1.2)
    stats_kw = dict(n_per_arm=(15, 12), design=FollowUp(36.0, 24.0, 0.0))
    covs = {}
    for kind in ("table", "full"):
        trial = TrialModel((curve, curve), influence=kind, **stats_kw)
        model_stats = [
            median.model_statistic(trial, MedianReached(0, 1.0)),
            logrank.model_statistic(trial),
            hr.model_statistic(trial),
        ]
        covs[kind] = pytensor.function([], covariance_pieces(trial, model_stats))()
    np.testing.assert_allclose(covs["table"], covs["full"], rtol=1e-6, atol=1e-12)
    # and under an effect they differ (the full version adds the at-risk fluctuation)
    curves = (Weibull(20.0, 1.2), Weibull(40.0, 1.2))
    covs = {}
    for kind in ("table", "full"):
        trial = TrialModel(curves, influence=kind, **stats_kw)
        model_stats = [
            median.model_statistic(trial, MedianReached(0, 1.0)),
            logrank.model_statistic(trial),
        ]
        covs[kind] = pytensor.function([], covariance_pieces(trial, model_stats))()
    assert not np.allclose(covs["table"], covs["full"], rtol=1e-3)


def test_an_hr_printed_to_d_decimals_widens_its_rounding_variance_as_data():
    """An HR printed "1.02" stands for [1.015, 1.025): its log-HR width enters the diagonal, as data.

    At log HR = 0 under PH the log-rank Z and the Cox log HR have proportional influence
    integrands (Z = √V · log HR to first order), so the model covariance of the pair is of rank
    one: the joint normal is then the rank-one covariance [[1/V, 1/√V], [1/√V, 1]] plus the
    rounding variances, with V by quadrature (scipy).
    """
    shape, n, a, f = 1.0, (70, 70), 12.0, 12.0
    printed = HazardRatio(1.02, decimals=2)
    statistics = [printed, LogRank(0.92, +1)]
    model, summary = _model(_weibull_ph(shape), statistics, a=a, f=f, n=n)
    assert summary.rounding_data == "os_summary_rounding_variance"
    width = np.log(1.025) - np.log(1.015)
    assert printed.printed_rounding() == pytest.approx(width, rel=1e-12)
    variances = summary.data_values(statistics)[summary.rounding_data]
    np.testing.assert_allclose(variances, np.array([width, 1e-3]) ** 2 / 12, rtol=1e-12)
    loglik = model.compile_logp(vars=[model["os_summary_loglik"]])
    m0 = 2.5
    ref = Reference((Weibull(m0, shape), Weibull(m0, shape)), n, a, f, 0.0)
    v = ref.v()
    x = np.array([np.log(1.02), z_from_p(0.92)])
    for hr_record, decimals_width in ((printed, width), (HazardRatio(1.02), 1e-3)):
        if hr_record.decimals is None:  # the kind's resolution: constants of another graph
            model, summary = _model(_weibull_ph(shape), [hr_record, statistics[1]], a=a, f=f, n=n)
            assert summary.rounding_data is None
            loglik = model.compile_logp(vars=[model["os_summary_loglik"]])
        cov = np.array([[1 / v, 1 / np.sqrt(v)], [1 / np.sqrt(v), 1.0]])
        cov += np.diag(np.array([decimals_width, 1e-3]) ** 2 / 12)
        expected = stats.multivariate_normal(np.zeros(2), cov).logpdf(x)
        got = loglik({"log_m0": np.log(m0), "log_hr": 0.0})
        assert got == pytest.approx(expected, rel=1e-6)
    # another print of the same structure swaps the data, not the graph
    other = [HazardRatio(1.2, decimals=1), LogRank(0.5, +1)]
    model, summary = _model(_weibull_ph(shape), statistics, a=a, f=f, n=n)
    swapped = summary.data_values(other)[summary.rounding_data]
    assert swapped[0] == pytest.approx((np.log(1.25) - np.log(1.15)) ** 2 / 12, rel=1e-12)
