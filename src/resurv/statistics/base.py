"""Reported statistics and the model-side building blocks of the summary-data likelihood.

A paper reports statistics (medians, "median not reached", SPSS-style means, a log-rank p-value,
landmark survival, a hazard ratio, event counts); the records of
:mod:`resurv.statistics.published` hold them as reported, one module per kind. Reported standard
errors and confidence-interval widths are never used as variances, because a reported SE is
itself a noisy statistic of the same deaths (resurv statistical design, section 4): every
variance and covariance of the joint normal is the model-implied one, and a printed SE enters as
its own statistic, log ŝ around the model SE (:func:`log_se_variance`,
:func:`resurv.statistics.likelihood.se_term`).

Model side. Every statistic X is, asymptotically, its model value plus a sum of martingale
integrals over the arms' deaths, X ≈ x(θ) + Σ_j ∫ a_j^X(u) dM_j(u) with
d⟨M_j⟩ = π_j(u) h_j(u) du and π_j = n_j S_j G (the expected number at risk). Each statistic's
terms module returns a :class:`ModelStatistic`: its mean x(θ) and, per arm, an
:class:`ArmInfluence` holding the upper limit b of the integrand's support (a_j(u) = 0 for
u > b), the constant sign of a_j and log |a_j(u)|. Working with log |a_j| keeps every covariance
integral in log space (no 0/0 when both survival curves underflow far in the tail).
:class:`TrialModel` evaluates log h_j, H_j, log G and log π_j on quadrature nodes.

References: Andersen PK et al. Statistical Models Based on Counting Processes, 1993;
Brookmeyer R, Crowley J. Biometrics 1982;38:29; Lakatos E. Biometrics 1988;44:229.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import disconnected_grad
from scipy import stats

from resurv.statistics.followup import FollowUp
from resurv.statistics.quadrature import GRADING_POWER, integrate, log_integrate, scaled_integrate

__all__ = [
    "ArmInfluence",
    "ModelStatistic",
    "SOFT_MIN_WIDTH",
    "SUMMARY_NODES",
    "SurvivalCurve",
    "TrialModel",
    "covariance_pieces",
    "log_se_variance",
    "z_from_p",
]


def z_from_p(p_value: float) -> float:
    """|Z| of a two-sided normal test from its p-value, |Z| = Φ⁻¹(1 − p/2) (accurate for tiny p)."""
    if not 0.0 < p_value <= 1.0:
        raise ValueError(f"p-value must be in (0, 1], got {p_value}")
    return float(stats.norm.isf(p_value / 2.0))


# --------------------------------------------------------------------------------------------
# Model side
# --------------------------------------------------------------------------------------------


class SurvivalCurve(Protocol):
    """What the summary likelihood needs of an arm's survival curve."""

    def log_hazard(self, t, xp): ...  # noqa: D102

    def cum_hazard(self, t, xp): ...  # noqa: D102


@dataclass
class ArmInfluence:
    """Influence integrand of one statistic on one arm, a_j(u) = sign · e^{log_abs(u)} · factor(u).

    ``upper`` is the end of the support (None: the whole follow-up, A + F). ``factor`` (None: 1)
    is a bounded, possibly sign-changing part computed in linear space; the rest stays in log
    space. ``log_abs_on_piece`` (None: ``log_abs``) is the same function evaluated on the nodes
    of one quadrature piece, ``log_abs_on_piece(u, piece)``, for integrands that are themselves
    integrals and are cheaper computed for all nodes at once
    (:class:`resurv.statistics.quadrature.Piece`).
    ``products_with`` (None: by quadrature) gives (⟨a_j, a_j⟩, ⟨a_j, a_Z⟩), the integrals of
    a_j² π_j h_j and a_j a_Z π_j h_j, for an integrand a_Z over the whole follow-up, computed by
    the statistic itself (the SPSS mean: on the grid of its conditional experiment);
    :func:`covariance_pieces` uses it on an arm where that Z is the only other statistic.
    """

    sign: float
    log_abs: Callable[[Any], Any]
    upper: Any = None
    factor: Callable[[Any], Any] | None = None
    log_abs_on_piece: Callable[[Any, Any], Any] | None = None
    products_with: Callable[[ArmInfluence], tuple[Any, Any]] | None = None

    def log_abs_at(self, u, piece):
        """Log |a_j| at the nodes ``u`` of ``piece``."""
        if self.log_abs_on_piece is None:
            return self.log_abs(u)
        return self.log_abs_on_piece(u, piece)


@dataclass
class ModelStatistic:
    """Model value x(θ) of a reported statistic and its influence integrands by arm.

    ``variance`` (None: the influence integral) is the statistic's variance where a better one
    than the influence integral is known (the SPSS mean given its largest observed time); its
    covariances with the other statistics are then the influence integrals rescaled to it, so
    that the correlations stay those of the influence integrands, unless ``covariance_with``
    gives its covariance with the one statistic whose integrand on its arm spans the whole
    follow-up (the log-rank Z): see :func:`_with_variances`.
    """

    label: str
    mean: Any
    influence: dict[int, ArmInfluence] = field(default_factory=dict)
    variance: Any = None
    covariance_with: Callable[[ArmInfluence], Any] | None = None
    #: The statistic's exact variance when its integrands are only the projection of the
    #: statistic on the death martingales (an event count: :mod:`resurv.statistics.events`);
    #: the remainder, exact_variance − ⟨a, a⟩ ≥ 0, is independent of every other statistic and
    #: is added to the diagonal (:func:`_with_exact_variances`).
    exact_variance: Any = None


#: Gauss–Legendre nodes per smooth piece in the summary-data likelihood (each piece is smooth:
#: split at the kink of G at F, the piece from 0 graded as u = b s³). Error and cost against 16
#: and 96 nodes at posterior draws of the bundled study: benchmarks/bench_summary_nodes.py.
SUMMARY_NODES = 32

#: Small-time power k_j taken for a curve whose cumulative hazard vanishes faster than any power
#: of u at 0 (and the largest k_j used): no grading beyond the default is needed for it.
NO_SINGULARITY = 1e6

#: Largest grading power of the pieces from 0 (reached for a Weibull shape of 2/64 ≈ 0.03).
MAX_GRADING = 64.0


@dataclass
class TrialModel:
    """The model of one trial: per-arm curves, sizes and the follow-up design (PyTensor).

    Parameters
    ----------
    curves : sequence of SurvivalCurve
        Curve of arm 0 (reference) and arm 1 (comparator).
    n_per_arm : sequence of int
        Number of patients per arm.
    design : FollowUp
        Follow-up design A, F, ρ (resurv statistical design, section 3); its values may be
        random variables. Held as float64 tensors.
    n_nodes : int
        Gauss–Legendre nodes per smooth piece of each integral (default
        :data:`SUMMARY_NODES`).
    influence : {"table", "full"}
        Influence integrands of the log-rank Z and the Cox log HR: ``"table"`` the martingale
        integrands of the design table (exact under the null, cheap); ``"full"`` adds the
        at-risk and variance-estimate fluctuations that matter when E[U] ≠ 0 (nested
        integrals: about 40 times the gradient cost; see
        :func:`resurv.statistics.logrank.influence`).
    """

    curves: Sequence[SurvivalCurve]
    n_per_arm: Sequence[int]
    design: FollowUp
    n_nodes: int = SUMMARY_NODES
    influence: str = "table"

    def __post_init__(self):
        if self.influence not in ("table", "full"):
            raise ValueError(f"influence must be 'table' or 'full'; got {self.influence!r}")
        self.design = self.design.as_tensors()
        self.grading = self.grading_power(GRADING_POWER)

    def small_time_power(self, arm: int):
        """k_j = d log H_j / d log u near 0 (H_j ∝ u^{k_j}; the Weibull shape), at u = 1e−6 (A + F).

        Evaluated as u h_j(u) / H_j(u), at most :data:`NO_SINGULARITY`, which it also is where
        H_j(u) < 1e−280 (log-normal: H_j vanishes faster than any power). No inf or NaN arises:
        they would reach the gradient through the nodes (0 · inf) even with no gradient taken
        through the power itself.
        """
        u = 1e-6 * self.max_followup
        cum = self.cum_hazard(arm, u)
        resolved = cum > 1e-280
        log_k = pt.log(u) + self.log_hazard(arm, u) - pt.log(pt.switch(resolved, cum, 1.0))
        log_k = pt.switch(resolved, log_k, np.log(NO_SINGULARITY))
        return pt.exp(pt.clip(log_k, -np.log(NO_SINGULARITY), np.log(NO_SINGULARITY)))

    def grading_power(self, floor: float):
        """P = max(floor, 2 / min_j k_j), at most MAX_GRADING; no gradient flows through it.

        Pieces from 0 use the nodes u = b s^p, so that h_j du ∝ s^{p k_j − 1} ds and H_j ∝
        s^{p k_j}: with p k_j ≥ 2 both are smooth in s even when h_j is singular at 0 (a Weibull
        shape of 0.04 left a fixed p = 3 with errors of 15-30% in the integrals). The integral
        does not depend on p, only its quadrature error does, hence no gradient.
        """
        smallest = pt.min(pt.stack([self.small_time_power(j) for j in range(len(self.curves))]))
        return disconnected_grad(pt.clip(2.0 / smallest, floor, MAX_GRADING))

    @property
    def max_followup(self):
        """A + F, the end of all follow-up (π_j = 0 beyond)."""
        return self.design.max_followup_months

    @property
    def breakpoints(self):
        """Points where G has a kink (its value at F); integrals are split there."""
        return [self.design.followup_months]

    def log_hazard(self, arm: int, t):
        """Log h_j(t)."""
        return self.curves[arm].log_hazard(t, pt)

    def cum_hazard(self, arm: int, t):
        """H_j(t)."""
        return self.curves[arm].cum_hazard(t, pt)

    def log_survival(self, arm: int, t):
        """Log S_j(t) = −H_j(t)."""
        return -self.cum_hazard(arm, t)

    def log_censoring(self, t):
        """Log G(t)."""
        return self.design.log_censoring_survival(t, xp=pt)

    def censoring_density(self, t):
        """g(t) = −dG/dt."""
        return self.design.censoring_density(t, xp=pt)

    def log_at_risk(self, arm: int, t):
        """Log π_j(t) = log n_j − H_j(t) + log G(t)."""
        return np.log(float(self.n_per_arm[arm])) - self.cum_hazard(arm, t) + self.log_censoring(t)

    def cap(self, upper):
        """min(upper, A + F): no statistic carries information beyond the end of follow-up."""
        if upper is None:
            return self.max_followup
        return pt.minimum(upper, self.max_followup)

    def log_integral(self, log_f, upper, lower=0.0, with_piece=False):
        """Log ∫_lower^upper exp(log_f(u)) du, split at the kink of G."""
        return log_integrate(
            log_f,
            lower,
            upper,
            self.n_nodes,
            breakpoints=self.breakpoints,
            with_piece=with_piece,
            grading=self.grading,
        )

    def scaled_integral(self, log_f, factor, upper, lower=0.0, with_piece=False):
        """∫_lower^upper exp(log_f(u)) · factor(u) du for a signed, bounded ``factor``."""
        return scaled_integrate(
            log_f,
            factor,
            lower,
            upper,
            self.n_nodes,
            breakpoints=self.breakpoints,
            with_piece=with_piece,
            grading=self.grading,
        )

    def integral(self, f, upper, lower=0.0):
        """∫_lower^upper f(u) du (linear space), split at the kink of G."""
        return integrate(
            f,
            lower,
            upper,
            self.n_nodes,
            breakpoints=self.breakpoints,
            xp=pt,
            grading=self.grading,
        )

    def log_rmst(self, arm: int, upper, lower=0.0):
        """Log ∫_lower^upper S_j(t) dt (log-sum-exp over nodes; positive for lower < upper)."""
        return log_integrate(
            lambda t: -self.cum_hazard(arm, t), lower, upper, self.n_nodes, grading=self.grading
        )

    def log_variance_piece(self, arm: int, log_abs_x, log_abs_y, upper):
        """Log ∫_0^upper |a^X(u) a^Y(u)| π_j(u) h_j(u) du."""

        def log_integrand(u):
            return log_abs_x(u) + log_abs_y(u) + self.log_at_risk(arm, u) + self.log_hazard(arm, u)

        return self.log_integral(log_integrand, upper)


def covariance_pieces(trial: TrialModel, stats_: Sequence[ModelStatistic]):
    """Model covariance matrix Σ_j ∫ a_j^X a_j^Y π_j h_j du of the statistics (PyTensor, K × K).

    A statistic with its own ``variance`` gets that variance, and its covariances are rescaled
    to keep the correlations of the influence integrals (:class:`ModelStatistic`).

    For each arm, the integrals of all pairs that involve the arm are computed together by
    quadrature (:func:`_quadrature_pieces`), except on an arm whose statistics are one X that
    computes its own products (``ArmInfluence.products_with``) and one Z over the whole
    follow-up: there ⟨a_X, a_X⟩ and ⟨a_X, a_Z⟩ are X's own and only ⟨a_Z, a_Z⟩ is integrated.
    """
    k = len(stats_)
    total = pt.zeros((k, k))
    gram = {}
    for arm in sorted({arm for s in stats_ for arm in s.influence}):
        members = [i for i, s in enumerate(stats_) if arm in s.influence]
        own = _own_products(stats_, arm, members)
        if own is not None:
            (i, m), (own_square, own_cross) = own
            spanning = _quadrature_pieces(trial, stats_, arm, [m])
            # |ρ| ≤ 1: the two rules' errors (the grid's largest for Weibull shapes below ~0.1)
            # must not break the Cauchy–Schwarz inequality that keeps Σ positive definite
            bound = pt.sqrt(own_square * spanning[0])
            values = [own_square, pt.clip(own_cross, -bound, bound), spanning]
            pairs = [(i, i), (i, m), (m, m)]
        else:
            pairs = [(i, m) for a, i in enumerate(members) for m in members[a:]]
            values = [_quadrature_pieces(trial, stats_, arm, members)]
        selector = np.zeros((k * k, len(pairs)))
        for p, (i, m) in enumerate(pairs):
            selector[i * k + m, p] = 1.0
            selector[m * k + i, p] = 1.0
        gram[arm] = pt.dot(selector, pt.concatenate([pt.atleast_1d(v) for v in values]))
        gram[arm] = gram[arm].reshape((k, k))
        total = total + gram[arm]
    return _with_exact_variances(_with_variances(total, stats_, gram), stats_)


def _with_exact_variances(cov, stats_: Sequence[ModelStatistic]):
    """Raise the variance of each statistic with an ``exact_variance`` v to v (smoothly).

    The diagonal element ⟨a, a⟩ becomes ⟨a, a⟩ + w softplus((v − ⟨a, a⟩)/w), w = 10⁻³ v: the
    remainder v − ⟨a, a⟩ (≥ 0 in exact arithmetic) enters as an independent term, so Σ stays
    positive semi-definite even where quadrature error makes the difference slightly negative.
    """
    remainders = []
    for s in stats_:
        if s.exact_variance is None:
            remainders.append(pt.as_tensor_variable(0.0))
            continue
        width = 1e-3 * s.exact_variance
        own = cov[len(remainders), len(remainders)]
        remainders.append(width * pt.softplus((s.exact_variance - own) / width))
    if any(s.exact_variance is not None for s in stats_):
        cov = cov + pt.diag(pt.stack(remainders))
    return cov


def _own_products(stats_, arm, members):
    """The statistics' own products on the arm, ((i, m), (⟨a_i, a_i⟩, ⟨a_i, a_m⟩)), or None.

    Not None when the arm's statistics are one X = i that computes its own products
    (``products_with``) and one Z = m over the whole follow-up.
    """
    if len(members) != 2:
        return None
    for i, m in (members, members[::-1]):
        x, z = stats_[i].influence[arm], stats_[m].influence[arm]
        if x.products_with is not None and z.upper is None:
            return (i, m), x.products_with(z)
    return None


def _quadrature_pieces(trial: TrialModel, stats_, arm: int, members):
    """Signed ∫ a_j^X a_j^Y π_j h_j du of all pairs of ``members`` on the arm, in pair order.

    The integrals of all pairs (X, Y) run on [0, min(b_X, b_Y, A + F)] and are computed
    together: one matrix of nodes (pairs × nodes), each influence integrand evaluated once on
    it, each pair's integrand summed in log space. The sign of each integrand is constant on
    its support, so each piece is sign_X · sign_Y · exp(log integral).
    """
    pairs = [(i, m) for a, i in enumerate(members) for m in members[a:]]
    position = {i: r for r, i in enumerate(members)}
    first = np.array([position[i] for i, _ in pairs])
    second = np.array([position[m] for _, m in pairs])
    rows = np.arange(len(pairs))
    limits = [stats_[i].influence[arm].upper for i in members]
    uppers = pt.stack(
        [
            trial.cap(
                limits[position[i]]
                if i == m
                else _min_upper(limits[position[i]], limits[position[m]])
            )
            for i, m in pairs
        ]
    )

    def log_integrand(u, piece):
        log_abs = pt.stack([stats_[i].influence[arm].log_abs_at(u, piece) for i in members])
        return (
            _pair_rows(log_abs, first, rows)
            + _pair_rows(log_abs, second, rows)
            + trial.log_at_risk(arm, u)
            + trial.log_hazard(arm, u)
        )

    factors = [stats_[i].influence[arm].factor for i in members]
    if any(f is not None for f in factors):

        def factor(u):
            ones = pt.ones_like(u)
            stacked = pt.stack([ones if f is None else f(u) * ones for f in factors])
            return _pair_rows(stacked, first, rows) * _pair_rows(stacked, second, rows)

        values = trial.scaled_integral(log_integrand, factor, uppers, with_piece=True)
    else:
        values = pt.exp(trial.log_integral(log_integrand, uppers, with_piece=True))
    signs = np.array(
        [stats_[i].influence[arm].sign * stats_[m].influence[arm].sign for i, m in pairs]
    )
    return signs * values


def _pair_rows(values, member, rows):
    """values[member[p], rows[p]] for every pair p: each pair's row of one member's values.

    An arm with a single statistic has one pair, (0, 0); it is read as values[0] because PyTensor
    rewrites values[[0], [0]] into a diagonal whose lift then fails (logged as a rewrite failure).
    """
    if len(rows) == 1:
        return values[int(member[0]), int(rows[0])][None]
    return values[member, rows]


def _with_variances(cov, stats_: Sequence[ModelStatistic], gram: dict):
    """Give the statistics that carry their own variance that variance, keeping Σ a Gram matrix.

    A statistic X with its own ``variance`` v on arm j (one arm) gets the integrand
    ã = s a_X + β a_Z on arm j, s = √(v / ⟨a_X, a_X⟩_j), where Z is the one statistic whose
    integrand on arm j spans the whole follow-up and β = (c − s ⟨a_X, a_Z⟩_j) / ⟨a_Z, a_Z⟩_j
    makes Cov(X, Z) the statistic's own value c (``covariance_with``; β = 0 without it, which
    is the rescaling D Σ D). ⟨·,·⟩_j are the arm's integrals in ``gram``. Its covariances are
    then ⟨ã, a_Y⟩_j and its variance max(v, ⟨ã, ã⟩_j) (smoothly): the remaining
    v − ⟨ã, ã⟩_j ≥ 0 enters as an independent term. Σ stays a Gram matrix plus a non-negative
    diagonal, so positive semi-definite for every parameter value.
    """
    if all(s.variance is None for s in stats_):
        return cov
    eye = np.eye(len(stats_))
    for i, s in enumerate(stats_):
        if s.variance is None:
            continue
        (arm,) = s.influence
        g = gram[arm]
        scale = pt.sqrt(s.variance / g[i, i])
        row = scale * g[i]
        spanning = [
            m
            for m, other in enumerate(stats_)
            if m != i and arm in other.influence and other.influence[arm].upper is None
        ]
        if s.covariance_with is not None and len(spanning) == 1:
            (m,) = spanning
            beta = (s.covariance_with(stats_[m].influence[arm]) - row[m]) / g[m, m]
            row = row + beta * g[m]
            own = scale**2 * g[i, i] + 2.0 * scale * beta * g[i, m] + beta**2 * g[m, m]
            width = 1e-3 * s.variance
            variance = own + width * pt.softplus((s.variance - own) / width)
        else:
            variance = s.variance
        row = row * (1.0 - eye[i]) + variance * eye[i]
        cov = cov - g[i][:, None] * eye[i][None, :] - eye[i][:, None] * g[i][None, :]
        cov = cov + g[i, i] * eye[i][:, None] * eye[i][None, :]
        cov = cov + row[:, None] * eye[i][None, :] + eye[i][:, None] * row[None, :]
        cov = cov - variance * eye[i][:, None] * eye[i][None, :]
    return cov


#: Width of the smooth minimum of two integration limits, relative to their mean.
SOFT_MIN_WIDTH = 0.01


def _min_upper(a, b):
    """Smooth min(a, b) of two statistics' limits: −w log(e^{−a/w} + e^{−b/w}), w = 1% of (a+b)/2.

    The covariance of two statistics of one arm integrates to min(b_X, b_Y) (e.g. a median m and
    a landmark t*); the exact min puts a kink in the log-likelihood where m crosses t*, which
    NUTS reports as divergences (seen with a median and a landmark at 24 months). Limits more
    than ~10 w apart are unaffected (relative change < e^{−10}).
    """
    if a is None:
        return b
    if b is None:
        return a
    width = SOFT_MIN_WIDTH * 0.5 * (a + b)
    return -width * pt.logaddexp(-a / width, -b / width)


def log_se_variance(trial: TrialModel, statistic: ModelStatistic):
    """(τ₁², τ_P²): first-order variances of log ŝ of a plug-in SE that is a sum over the deaths.

    A plug-in variance estimator of X is, to first order, a sum over the patients' deaths,
    V̂ ≈ Σ_j Σ_{i ∈ arm j} δ_i a_j(X_i)², with a_j the statistic's influence integrand. Patients
    being independent, E V̂ = Σ_j ∫ a_j² π_j h_j du and

        Var V̂ = Σ_j [∫ a_j⁴ π_j h_j du − (∫ a_j² π_j h_j du)² / n_j],

    so by the delta method (ŝ = √V̂) τ₁² = Var(log ŝ) = ¼ Var V̂ / (E V̂)². τ_P² is the same
    without the binomial term (deaths as a Poisson process), ¼ Σ_j ∫ a_j⁴ π_j h_j / (E V̂)²:
    1/(4D) for a log hazard ratio with D deaths and equal arms; the kinds use it for their
    small-sample terms (``Published.se_small_sample``). Both integrals use the statistic's
    influence integrands (scale-free: a statistic with its own ``variance`` gets the τ² its
    integrands imply). Reference: Andersen PK et al. Statistical Models Based on Counting
    Processes, 1993, section IV.1 (Greenwood and Cox information as sums over deaths).
    """
    second, fourth = [], []
    arms = sorted(statistic.influence)
    for arm in arms:
        moments = _log_se_moments(trial, arm, statistic.influence[arm])
        second.append(moments[0])
        fourth.append(moments[1])
    sizes = np.array([float(trial.n_per_arm[j]) for j in arms])
    second, fourth = pt.stack(second), pt.stack(fourth)
    total = pt.sum(second) ** 2
    return 0.25 * pt.sum(fourth - second**2 / sizes) / total, 0.25 * pt.sum(fourth) / total


#: Powers k of |a_j| in the integrals ∫ |a_j|^k π_j h_j du of :func:`log_se_variance`.
_SE_POWERS = np.array([2.0, 4.0])


def _log_se_moments(trial: TrialModel, arm: int, arm_influence: ArmInfluence):
    """(∫ a_j² π_j h_j du, ∫ a_j⁴ π_j h_j du) on [0, min(b, A + F)], computed together.

    Both integrals run on the same nodes: log |a_j|, log π_j and log h_j are evaluated once and
    the two integrands are the rows of one (power × node) array, reduced in one log-sum-exp (or
    one rescaled sum when the integrand has a signed ``factor``). Row by row this is the
    arithmetic of two separate quadratures (equal to round-off: tests/statistics).
    """
    upper = trial.cap(arm_influence.upper)
    powers = _SE_POWERS[:, None]

    def log_integrand(u, piece):
        log_abs = arm_influence.log_abs_at(u, piece)
        rest = trial.log_at_risk(arm, u) + trial.log_hazard(arm, u)
        return powers * log_abs[None] + rest[None]

    if arm_influence.factor is None:
        values = pt.exp(trial.log_integral(log_integrand, upper, with_piece=True))
    else:

        def factor(u):
            return (arm_influence.factor(u) * pt.ones_like(u))[None] ** powers

        values = trial.scaled_integral(log_integrand, factor, upper, with_piece=True)
    return values[0], values[1]
