"""A log-rank p as printed: rounding, "<x", ">x", "NS" as an interval-censored last piece.

The interval-censored piece of the joint normal against the conditional normal of scipy; the
printed forms parsed into intervals of |Z|; bad forms refused naming file, field and rule; the
bundled study's log-rank term (p = 0.217, three decimals) barely moves.
"""

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import stats

from resurv.errors import StudyValidationError
from resurv.io.study import Arm
from resurv.io.tables import TableReader
from resurv.statistics.likelihood import normal_pieces, structure_key
from resurv.statistics.published import LogRank

MEAN = np.array([0.1, -0.4])
COV = np.array([[0.5, 0.2], [0.2, 1.0]])
X1 = 0.3


def _conditional():
    centre = MEAN[1] + COV[0, 1] / COV[0, 0] * (X1 - MEAN[0])
    sd = math.sqrt(COV[1, 1] - COV[0, 1] ** 2 / COV[0, 0])
    return stats.norm(centre, sd)


def _pieces(bounds, folded, form):
    observed = pt.as_tensor_variable(np.array([X1, 0.5 * (bounds[0] + bounds[1])]))
    pieces = normal_pieces(
        observed,
        pt.as_tensor_variable(MEAN),
        pt.as_tensor_variable(COV),
        folded_last=folded,
        last_bounds=pt.as_tensor_variable(np.array(bounds, dtype=float)),
        last_form=form,
    )
    return pytensor.function([], pieces)()


@pytest.mark.parametrize("folded", [False, True])
@pytest.mark.parametrize(
    ("bounds", "form"),
    [((1.2, 1.9), "interval"), ((0.0, 1.96), "interval"), ((3.29, 1e3), "above")],
)
def test_interval_piece_is_the_conditional_probability(bounds, form, folded):
    pieces = _pieces(bounds, folded, form)
    law = _conditional()
    low, high = bounds[0], (np.inf if form == "above" else bounds[1])
    expected = law.cdf(high) - law.cdf(low)
    if folded:
        expected += law.cdf(-low) - law.cdf(-high)
    assert pieces[1] == pytest.approx(math.log(expected), rel=1e-10)
    assert pieces[0] == pytest.approx(stats.norm(MEAN[0], math.sqrt(COV[0, 0])).logpdf(X1))


def test_below_piece_for_a_negative_signed_z():
    pieces = _pieces((-1e3, -3.29), False, "below")
    assert pieces[1] == pytest.approx(_conditional().logcdf(-3.29), rel=1e-10)


def test_tiny_interval_is_the_density_times_its_width():
    """p = 0.217 to three decimals: the piece is the density at Z times the width of Z's range."""
    p_low, p_high = 0.2165, 0.2175
    z_low, z_high = stats.norm.isf(p_high / 2), stats.norm.isf(p_low / 2)
    pieces = _pieces((z_low, z_high), False, "interval")
    z = stats.norm.isf(0.217 / 2)
    density = _conditional().logpdf(z) + math.log(z_high - z_low)
    assert abs(pieces[1] - density) < 1e-4


ARMS = {"a": Arm(id="a", index=0, n=50, label="A"), "b": Arm(id="b", index=1, n=50, label="B")}


def parse(**fields):
    table = {"endpoint": "os", **fields}
    reader = TableReader(table, "s.toml", "survival[3]", StudyValidationError)
    return LogRank.parse(reader, ARMS)


@pytest.mark.parametrize(
    ("printed", "better", "p_interval", "form"),
    [
        (0.217, None, (0.2165, 0.2175), "interval"),
        ("0.20", "b", (0.195, 0.205), "interval"),
        ("<0.001", "b", (0.0, 0.001), "below"),
        ("<0.001", "a", (0.0, 0.001), "above"),
        ("P>0.05".removeprefix("P"), None, (0.05, 1.0), "interval"),
        ("NS", None, (0.05, 1.0), "interval"),
        ("P < 0.001", "a", (0.0, 0.001), "above"),
        ("p = 0.20", None, (0.195, 0.205), "interval"),
    ],
)
def test_printed_p_gives_z_bounds(printed, better, p_interval, form):
    fields = {"p_value": printed} | ({"better_arm": better} if better else {})
    record = parse(**fields)
    with np.errstate(divide="ignore"):
        z_high, z_low = stats.norm.isf(np.array(p_interval) / 2)
    sign = -1.0 if better == "b" else 1.0
    expected = sorted([sign * z_low, sign * z_high])
    np.testing.assert_allclose(record.observed_bounds(), expected, rtol=1e-12)
    assert record.structure()[-1] == form


def test_ns_uses_its_alpha():
    record = parse(p_value="NS", alpha=0.1)
    assert record.observed_bounds()[1] == pytest.approx(stats.norm.isf(0.05))


@pytest.mark.parametrize(
    ("fields", "field", "rule"),
    [
        ({"p_value": "<0"}, "p_value", "strictly between 0 and 1"),
        ({"p_value": "<1.5"}, "p_value", "strictly between 0 and 1"),
        ({"p_value": "about 0.2"}, "p_value", "must be a number"),
        ({"p_value": 0.2, "alpha": 0.1}, "alpha", "NS"),
        ({"p_value": True}, "p_value", "must be a number"),
    ],
)
def test_bad_printed_p_refused(fields, field, rule):
    with pytest.raises(StudyValidationError) as err:
        parse(**fields)
    message = str(err.value)
    assert "s.toml" in message and f"survival[3].{field}" in message and rule in message


def test_usage_and_structure():
    exact = LogRank(0.217)
    printed = parse(p_value=0.217)
    assert structure_key([exact]) != structure_key([printed])
    assert {(f, r) for f, r, _ in printed.usage()} == {
        ("p_value", "likelihood"),
        ("p_value", "check"),
    }
    assert {(f, r) for f, r, _ in parse(p_value="<0.001").usage()} == {("p_value", "likelihood")}


def test_bundled_logrank_term_barely_moves():
    """OS of the bundled study (medians 34.9 and 67.5, P = 0.217 to 3 decimals, combination arm
    better): the interval-censored piece minus the exact-Z density is a constant (the log width
    of Z's interval) up to a variation across parameter values below 1e-4."""
    import pymc as pm
    from summary_curves import Weibull

    from resurv.statistics.followup import FollowUp
    from resurv.statistics.likelihood import add_summary_likelihood
    from resurv.statistics.published import MedianReached

    printed = parse(p_value=0.217, better_arm="b")
    assert printed.direction == -1

    def loglik(logrank):
        statistics = [MedianReached(0, 34.9), MedianReached(1, 67.5), logrank]
        with pm.Model() as model:
            log_m0 = pm.Normal("log_m0", np.log(30.0), 1.0)
            log_hr = pm.Normal("log_hr", 0.0, 1.0)
            m0 = pt.exp(log_m0)
            curves = (Weibull(m0, 1.1), Weibull(m0 * pt.exp(-log_hr / 1.1), 1.1))
            add_summary_likelihood("os", curves, (15, 12), FollowUp(60.0, 24.0, 0.0), statistics)
        return model.compile_logp(vars=[model["os_summary_loglik"]])

    exact, interval = loglik(LogRank(0.217, -1)), loglik(printed)
    points = [
        {"log_m0": np.log(m0), "log_hr": lhr}
        for m0 in (20.0, 35.0, 60.0)
        for lhr in (-1.0, -0.4, 0.0, 0.5)
    ]
    difference = np.array([interval(p) - exact(p) for p in points])
    z_low, z_high = stats.norm.isf(np.array([0.2175, 0.2165]) / 2)
    np.testing.assert_allclose(difference.mean(), math.log(z_high - z_low), atol=1e-4)
    assert np.ptp(difference) < 1e-4, np.ptp(difference)
