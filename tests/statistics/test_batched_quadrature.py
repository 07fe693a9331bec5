"""The restructured quadratures of the summary likelihood equal the forms they replace.

* The integrals ∫ |a_j|^k π_j h_j du (k = 2, 4) of a printed SE's law
  (:func:`resurv.statistics.base.log_se_variance`) are computed together on one node array
  (``_log_se_moments``); reference: two separate quadratures, one per power.
* The log-sum-exp over quadrature nodes is PyTensor's ``LogSumExp`` node; reference: the same
  steps written out (max, shift, exp, sum, log).
* The trapezoid sums of the SPSS mean's conditional experiment (:mod:`resurv.statistics.rmean`)
  are weighted sums of the values (``_trapezoid_weights``); reference: the sums of shifted
  copies, (v[1:] + v[:-1]) s / 2, and scipy's trapezoid rules.

With the references swapped in, the models' log densities and gradients must agree with the
new ones to 1e-10 (relative) at random points, for the bundled study's models and for study
files that between them hold every kind of published statistic.
Evaluated by PyTensor's Python linker (no numba kernels to build).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode
from scipy import integrate
from summary_curves import Weibull

from resurv.api import build, load_data
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.statistics import base, quadrature, rmean
from resurv.statistics.followup import FollowUp

ROOT = Path(__file__).resolve().parents[2]
#: Python linker, no rewrites: nothing compiled, the graphs evaluated as built
PLAIN = Mode(linker="py", optimizer=None)
BUNDLED = "data/studies/nmc2020_sirt_prrt.toml"

# Each about a minute of graph building and Python-linker evaluation: slow tests. The bundled PFS
# model and gbsg2_full hold a sum of more than 32 terms that the Python linker cannot evaluate;
# the SPSS mean's part of the PFS model is compared directly (test_conditional_area_...).
CASES = [
    # medians, log-rank p
    pytest.param(
        (BUNDLED, "models/os_weibull.toml", "priors/literature.toml"), marks=pytest.mark.slow
    ),
    # medians with CIs, HR with CI, events, median follow-up, numbers at risk
    pytest.param(
        (
            "data/studies/design_typical_rct.toml",
            "models/os_weibull.toml",
            "priors/designs/typical_rct.toml",
        ),
        marks=pytest.mark.slow,
    ),
]


def separate_se_moments(trial, arm, arm_influence):
    """∫ a_j² π_j h_j du and ∫ a_j⁴ π_j h_j du as two separate quadratures (the reference)."""
    upper = trial.cap(arm_influence.upper)
    out = []
    for power in (2.0, 4.0):

        def log_integrand(u, piece, k=power):
            return (
                k * arm_influence.log_abs_at(u, piece)
                + trial.log_at_risk(arm, u)
                + trial.log_hazard(arm, u)
            )

        if arm_influence.factor is None:
            value = pt.exp(trial.log_integral(log_integrand, upper, with_piece=True))
        else:

            def factor(u, k=power):
                return (arm_influence.factor(u) * pt.ones_like(u)) ** k

            value = trial.scaled_integral(log_integrand, factor, upper, with_piece=True)
        out.append(value)
    return out[0], out[1]


def shifted_cumulative_trapezoid(values, steps):
    """[0, cumulative sums of (v[1:] + v[:-1]) s / 2] (the reference)."""
    pieces = 0.5 * (values[1:] + values[:-1]) * steps
    return pt.concatenate([pt.zeros((1,)), pt.cumsum(pieces)])


def shifted_trapezoid(values, steps):
    """Σ (v[1:] + v[:-1]) s / 2 (the reference)."""
    return pt.sum(0.5 * (values[1:] + values[:-1]) * steps)


def stepwise_logsumexp(x, axis, xp):
    """Log-sum-exp written out step by step (the reference for PyTensor's LogSumExp node)."""
    top = xp.max(x, axis=axis, keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0.0)
    summed = xp.sum(xp.exp(x - top), axis=axis, keepdims=True)
    return xp.squeeze(xp.log(summed) + top, axis=axis)


REFERENCES = [
    (quadrature, "_logsumexp", stepwise_logsumexp),
    (base, "_log_se_moments", separate_se_moments),
    (rmean, "_cumulative_trapezoid", shifted_cumulative_trapezoid),
    (rmean, "_trapezoid", shifted_trapezoid),
]


def _logp_and_grad(study, model, priors):
    built = build(
        load_model_spec(ROOT / model), load_priors(ROOT / priors), load_data(ROOT / study)
    )
    m = built.model
    fn = m.compile_fn([m.logp(), m.dlogp()], mode=PLAIN)
    return m, fn


def _case_id(case):
    return f"{Path(case[0]).stem}-{Path(case[1]).stem}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_batched_log_density_and_gradient_equal_the_separate_ones(case, monkeypatch):
    model, batched = _logp_and_grad(*case)
    with monkeypatch.context() as patch:
        for module, name, reference in REFERENCES:
            patch.setattr(module, name, reference)
        _, separate = _logp_and_grad(*case)
    rng = np.random.default_rng(27)
    start = model.initial_point()
    compared = 0
    for _ in range(4):
        point = {k: v + rng.normal(0.0, 0.3, np.shape(v)) for k, v in start.items()}
        logp, grad = batched(point)
        logp_ref, grad_ref = separate(point)
        assert np.isfinite(logp_ref) and np.all(np.isfinite(grad_ref))
        np.testing.assert_allclose(logp, logp_ref, rtol=1e-10, atol=0.0)
        np.testing.assert_allclose(grad, grad_ref, rtol=1e-10, atol=1e-12 * np.abs(grad_ref).max())
        compared += 1
    assert compared == 4


@pytest.mark.parametrize("signed", [False, True])
def test_se_moments_are_the_two_integrals_by_scipy(signed):
    """The two batched integrals against QUADPACK for a Weibull arm and a smooth integrand."""
    curve = Weibull(14.0, 1.3)
    design = FollowUp(24.0, 12.0, 0.02)
    trial = base.TrialModel([curve, curve], [100, 100], design)
    upper = 30.0

    def log_abs(u):
        return 0.03 * u - 1.0

    def factor(u):
        return pt.cos(u / 5.0)

    influence = base.ArmInfluence(
        sign=1.0, log_abs=log_abs, upper=upper, factor=factor if signed else None
    )
    moments = list(base._log_se_moments(trial, 0, influence))
    got = pytensor.function([], moments, mode="FAST_COMPILE")()

    def a(u):
        return np.exp(0.03 * u - 1.0) * (np.cos(u / 5.0) if signed else 1.0)

    def at_risk_hazard(u):
        log_g = float(design.log_censoring_survival(u))
        return 100.0 * np.exp(-curve.cum_hazard(u, np) + log_g) * curve.hazard_np(u)

    for value, power in zip(got, (2, 4), strict=True):
        expected = sum(
            integrate.quad(lambda u, k=power: a(u) ** k * at_risk_hazard(u), lo, hi, epsabs=0)[0]
            for lo, hi in ((0.0, 12.0), (12.0, upper))
        )
        assert value == pytest.approx(expected, rel=1e-9)


def test_trapezoid_sums_equal_scipys():
    """The weighted trapezoid sums against scipy's, on uneven steps and signed values."""
    from scipy.integrate import cumulative_trapezoid, trapezoid

    rng = np.random.default_rng(5)
    x = np.cumsum(rng.uniform(0.01, 1.0, 40))
    v = rng.normal(size=40)
    steps = np.diff(x)
    got_sum, got_running = pytensor.function(
        [],
        [
            rmean._trapezoid(pt.constant(v), pt.constant(steps)),
            rmean._cumulative_trapezoid(pt.constant(v), pt.constant(steps)),
        ],
        mode=PLAIN,
    )()
    assert got_sum == pytest.approx(trapezoid(v, x), rel=1e-13)
    np.testing.assert_allclose(
        got_running, cumulative_trapezoid(v, x, initial=0.0), rtol=1e-12, atol=1e-13
    )
    assert got_running[0] == 0.0


def test_conditional_area_with_weighted_sums_equals_the_shifted_sums(monkeypatch):
    """The SPSS mean's conditional moments, products and covariance, and their gradients."""
    from resurv.statistics import logrank

    median, shape, tau = pt.dscalar("median"), pt.dscalar("shape"), pt.dscalar("tau")
    curves = [Weibull(median, shape), Weibull(1.3 * median, shape)]
    trial = base.TrialModel(curves, [15, 12], FollowUp(24.0, 12.0, 0.02))

    def outputs():
        area = rmean.conditional_area(trial, 0, tau)
        z = logrank.influence_table(trial)[0]
        values = [area.mean, area.variance, area.covariance(z), *area.influence_products(z)]
        grads = [g for v in values for g in pt.grad(v, [median, shape, tau])]
        return pytensor.function([median, shape, tau], values + grads, mode=PLAIN)

    weighted = outputs()
    with monkeypatch.context() as patch:
        for module, name, reference in REFERENCES:
            patch.setattr(module, name, reference)
        shifted = outputs()
    for point in ((14.0, 1.2, 30.0), (6.0, 0.7, 20.0), (30.0, 2.5, 33.0)):
        got, expected = np.array(weighted(*point)), np.array(shifted(*point))
        assert np.all(np.isfinite(expected))
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-13)
