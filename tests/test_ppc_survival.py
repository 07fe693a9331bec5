"""Posterior predictive checks of published survival statistics.

References: an independent trial simulator and estimators written here with plain loops,
closed forms (binomial counts before the minimum follow-up, expected events by quadrature), and
calibration of the ppp over data generated from the model.
"""

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

from helpers import MODELS
from resurv.checks.ppc import two_sided_ppp
from resurv.checks.ppc_survival import (
    design_from_posterior,
    fixed_design,
    printed_decimals,
    published_survival_values,
    replicate_trials,
)
from resurv.io.modelspec import load_model_spec
from resurv.io.study import Arm, Study
from resurv.statistics.followup import FollowUp
from resurv.statistics.published import from_table

LN2 = np.log(2.0)
EXP_SPEC = load_model_spec(MODELS / "os_exponential.toml")
WEIBULL_SPEC = load_model_spec(MODELS / "os_weibull.toml")


def exp_posterior(median, log_hr, n_draws, **extra):
    """A 'posterior' with every draw at the same exponential parameters."""
    values = {"median_reference": median, "log_hr": log_hr, **extra}
    return xr.Dataset(
        {k: (("chain", "draw"), np.full((2, n_draws // 2), float(v))) for k, v in values.items()}
    )


def study_arms(n=(15, 12)):
    return (Arm("ref", "Reference", n[0], 0), Arm("cmp", "Comparator", n[1], 1))


def make_study(*survival, n=(15, 12)):
    arms = study_arms(n)
    records = tuple(from_table({"endpoint": "os", **s}, arms) for s in survival)
    return Study(id="s", title="t", citation="c", arms=arms, survival=records)


def stat(statistic, **kw):
    """A study-file [[survival]] table (made a record by :func:`make_study`)."""
    return {"statistic": statistic, **kw}


def rows_by_name(values):
    return {(v.statistic, v.arm): v for v in values}


# --- independent reference: simulate one trial at a time, estimate with plain loops ---


def simulate_reference(rng, rates, n, accrual, follow):
    times, events, arms = [], [], []
    for j in (0, 1):
        t = rng.exponential(1.0 / rates[j], n[j])
        c = accrual + follow - rng.uniform(0.0, accrual, n[j])
        times.append(np.minimum(t, c))
        events.append(t <= c)
        arms.append(np.full(n[j], j))
    return np.concatenate(times), np.concatenate(events), np.concatenate(arms)


def km_steps(time, event):
    """Distinct times with (at risk, deaths) and the KM value after each."""
    out, surv = [], 1.0
    for t in np.unique(time):
        at_risk = np.sum(time >= t)
        deaths = np.sum((time == t) & event)
        surv *= 1.0 - deaths / at_risk
        out.append((t, at_risk, deaths, surv))
    return out


def median_reference(time, event):
    for t, _, _, surv in km_steps(time, event):
        if surv <= 0.5 + 1e-12:
            return t
    return np.inf


def rmean_reference(time, event):
    steps = km_steps(time, event)
    tau = time.max()
    area, prev_t, prev_s, knots = 0.0, 0.0, 1.0, []
    for t, at_risk, deaths, surv in steps:
        area += prev_s * (t - prev_t)
        knots.append((t, at_risk, deaths, area))
        prev_t, prev_s = t, surv
    area += prev_s * (tau - prev_t)
    var = sum((area - a_t) ** 2 * d / (r * (r - d)) for t, r, d, a_t in knots if d > 0 and r > d)
    return area, np.sqrt(var)


def logrank_reference(time, event, arm):
    u = v = 0.0
    for t in np.unique(time[event]):
        at = time >= t
        n_all, n1 = at.sum(), (at & (arm == 1)).sum()
        d_all = ((time == t) & event).sum()
        d1 = ((time == t) & event & (arm == 1)).sum()
        u += d1 - d_all * n1 / n_all
        if n_all > 1:
            v += (n_all - n1) * n1 * d_all * (n_all - d_all) / (n_all**2 * (n_all - 1))
    z = u / np.sqrt(v)
    return z, 2 * stats.norm.sf(abs(z))


# --- tests ---


def test_printed_decimals():
    assert [printed_decimals(v) for v in (34.9, 0.217, 5.0, 1e-5, 67.25)] == [1, 3, 0, 5, 2]


def test_replicate_trials_use_each_draws_design(rng):
    spec_post = exp_posterior(12.0, -0.3, 400)
    from resurv.models.survival import curves_from_posterior

    curves = curves_from_posterior(EXP_SPEC, spec_post)
    accrual = np.linspace(6.0, 60.0, 400)
    follow = np.linspace(1.0, 3.0, 400)
    trials = replicate_trials(curves, (15, 12), FollowUp(accrual, follow, 0.0), rng)
    assert trials.time.shape == (400, 27)
    assert np.all(trials.time.max(axis=1) <= accrual + follow)
    # administrative censoring only: nobody is censored before the minimum follow-up F
    assert np.all(trials.event[trials.time < follow[:, None]])
    with pytest.raises(ValueError, match="inconsistent"):
        replicate_trials(curves, (15, 12), FollowUp(accrual[:10], 2.0, 0.0), rng)


def test_design_helpers():
    post = exp_posterior(12.0, 0.0, 6, accrual_months=30.0, followup_months=9.0)
    design = design_from_posterior({"dropout_rate": 0.01})(post)
    assert isinstance(design, FollowUp)
    accrual, follow, dropout = design.accrual_months, design.followup_months, design.dropout_rate
    assert np.all(accrual == 30.0) and np.all(follow == 9.0) and np.all(dropout == 0.01)
    assert np.all(design_from_posterior()(post).dropout_rate == 0.0)
    post = post.assign(dropout_rate=post["accrual_months"] * 0 + 0.05)
    assert np.all(design_from_posterior({"dropout_rate": 0.01})(post).dropout_rate == 0.05)
    # a design value fixed in the study file is not in the posterior
    partial = post.drop_vars("accrual_months")
    assert np.all(design_from_posterior({"accrual_months": 36.0})(partial).accrual_months == 36.0)
    with pytest.raises(KeyError, match="accrual_months"):
        design_from_posterior()(partial)
    fixed = fixed_design(FollowUp(24.0, 12.0))(post)
    values = (fixed.accrual_months, fixed.followup_months, fixed.dropout_rate)
    assert [v.shape for v in values] == [(6,)] * 3


def test_predictive_matches_independent_simulation():
    """Replicate KM medians, SPSS means ± SE and signed log-rank Z equal an independent sim."""
    median0, log_hr, accrual, follow, n = 10.0, -0.5, 24.0, 18.0, (15, 12)
    study = make_study(
        stat("median", arm="ref", value=10.123456),
        stat("median", arm="cmp", value=15.123456),
        stat("rmean", arm="ref", value=11.123456, spread=2.123456),
        stat("logrank", p_value=0.123456, better_arm="cmp"),
    )
    post = exp_posterior(median0, log_hr, 4000)
    values = rows_by_name(
        published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(accrual, follow)))
    )
    rng = np.random.default_rng(11)
    draws = {key: pv.predictive(post, rng) for key, pv in values.items()}

    ref_rng = np.random.default_rng(12)
    rates = [LN2 / median0, LN2 / median0 * np.exp(log_hr)]
    ref = {"m0": [], "m1": [], "rmean": [], "se": [], "z": []}
    for _ in range(1500):
        time, event, arm = simulate_reference(ref_rng, rates, n, accrual, follow)
        ref["m0"].append(median_reference(time[arm == 0], event[arm == 0]))
        ref["m1"].append(median_reference(time[arm == 1], event[arm == 1]))
        area, se = rmean_reference(time[arm == 0], event[arm == 0])
        ref["rmean"].append(area)
        ref["se"].append(se)
        ref["z"].append(logrank_reference(time, event, arm)[0])
    pairs = {
        "m0": draws[("os_median_months", "Reference")],
        "m1": draws[("os_median_months", "Comparator")],
        "rmean": draws[("os_rmean_months", "Reference")],
        "se": draws[("os_rmean_se", "Reference")],
        "z": draws[("os_logrank_z", "between arms")],
    }
    for key, predicted in pairs.items():
        reference = np.asarray(ref[key])
        # not reached: +inf, never nan, at the same rate as the reference
        assert not np.isnan(predicted).any()
        p_inf, r_inf = np.isinf(predicted).mean(), np.isinf(reference).mean()
        assert abs(p_inf - r_inf) < 4 * np.sqrt(r_inf * (1 - r_inf) / 1500 + 1e-4), key
        ks = stats.ks_2samp(predicted[np.isfinite(predicted)], reference[np.isfinite(reference)])
        assert ks.pvalue > 1e-3, (key, ks)
    # signed Z: the comparator has the lower hazard, so Z is mostly negative, as in the reference
    assert np.mean(pairs["z"] < 0) > 0.6


def test_signed_logrank_uses_direction():
    post = exp_posterior(10.0, -0.6, 2000)  # expected Z about -2.5 at n = 40/40
    design = fixed_design(FollowUp(24.0, 24.0))
    ppp = {}
    for better in ("cmp", "ref"):
        study = make_study(stat("logrank", p_value=0.01, better_arm=better), n=(40, 40))
        (pv,) = published_survival_values(EXP_SPEC, study, design)
        assert pv.statistic == "os_logrank_z"
        assert pv.published == pytest.approx((-1 if better == "cmp" else 1) * stats.norm.isf(0.005))
        ppp[better] = two_sided_ppp(pv.predictive(post, np.random.default_rng(3)), pv.published)
    # HR = e^-0.6 favours the comparator: a significant result for it is typical, against it is not
    assert ppp["cmp"] > 0.3
    assert ppp["ref"] < 0.01
    # unsigned: the same p from either direction is one value
    study = make_study(stat("logrank", p_value=0.01), n=(40, 40))
    (pv,) = published_survival_values(EXP_SPEC, study, design)
    assert pv.statistic == "os_logrank_p" and pv.published == 0.01
    p_draws = pv.predictive(post, np.random.default_rng(3))
    assert np.all((p_draws >= 0) & (p_draws <= 1))


def test_not_reached_rows():
    design = fixed_design(FollowUp(12.0, 6.0))
    study = make_study(stat("median_not_reached", arm="ref"), stat("median", arm="cmp", value=30.0))
    # medians of 1000 months followed for at most 18: almost never reached (a KM curve still
    # drops to 0 when the patient followed longest has the event)
    post = exp_posterior(1000.0, 0.0, 1000)
    values = rows_by_name(published_survival_values(EXP_SPEC, study, design))
    nr = values[("os_median_not_reached", "Reference")]
    assert nr.published == 1.0 and nr.check_value == 1.0
    indicator = nr.predictive(post, np.random.default_rng(1))
    assert set(np.unique(indicator)) <= {0.0, 1.0} and indicator.mean() > 0.9
    assert two_sided_ppp(indicator, nr.observed_for_check) == 1.0
    median = values[("os_median_months", "Comparator")].predictive(post, np.random.default_rng(1))
    assert not np.isnan(median).any() and np.isposinf(median).mean() > 0.9
    # the not-reached replicates lie above 30, so only finite ones at most 30 count below
    below = np.mean(median <= 30.0)
    assert two_sided_ppp(median, 30.0) == pytest.approx(2 * below) and below < 0.05
    # medians of 2 months: always reached, so "not reached" is far out
    post = exp_posterior(2.0, 0.0, 1000)
    indicator = nr.predictive(post, np.random.default_rng(1))
    assert indicator.max() == 0.0
    assert two_sided_ppp(indicator, 1.0) == 0.0


def test_not_reached_rate_matches_reference():
    median0, accrual, follow, n = 20.0, 24.0, 6.0, (15, 12)
    study = make_study(stat("median_not_reached", arm="ref"))
    post = exp_posterior(median0, 0.0, 4000)
    (pv,) = published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(accrual, follow)))
    share = pv.predictive(post, np.random.default_rng(5)).mean()
    ref_rng = np.random.default_rng(6)
    rate = LN2 / median0
    ref = []
    for _ in range(3000):
        time, event, arm = simulate_reference(ref_rng, [rate, rate], n, accrual, follow)
        ref.append(np.isinf(median_reference(time[arm == 0], event[arm == 0])))
    expected = np.mean(ref)
    assert 0.1 < expected < 0.9  # the design makes "not reached" a coin toss
    se = np.sqrt(expected * (1 - expected) * (1 / 4000 + 1 / 3000))
    assert abs(share - expected) < 4 * se


def test_landmark_and_events_against_closed_forms():
    """Before the minimum follow-up nobody is censored, so n·Ŝ(t*) ~ Binomial(n, S(t*));
    events per arm ~ Binomial(n, ∫ f G dt)."""
    median0, log_hr, accrual, follow, n = 12.0, -0.4, 24.0, 12.0, (15, 12)
    t_star = 9.0
    rates = [LN2 / median0, LN2 / median0 * np.exp(log_hr)]
    study = make_study(
        stat("landmark", arm="cmp", value=0.62, t_months=t_star),
        stat("events", arm="ref", value=9),
        n=n,
    )
    post = exp_posterior(median0, log_hr, 6000)
    values = rows_by_name(
        published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(accrual, follow)))
    )
    land = values[("os_survival_9m", "Comparator")]
    s_true = np.exp(-rates[1] * t_star)
    np.testing.assert_allclose(land.posterior(post), s_true, rtol=1e-12)
    assert "design-dependent" not in land.note
    rng = np.random.default_rng(8)
    survival = land.predictive(post, rng)
    # the check rounds to the printed precision (2 decimals); compare counts of the rounded grid
    counts = np.arange(n[1] + 1)
    expected = stats.binom.pmf(counts, n[1], s_true) * survival.size
    observed = np.array([np.sum(survival == np.round(k / n[1], 2)) for k in counts])
    keep = expected > 5
    chi2 = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3

    events = values[("os_events", "Reference")]
    assert events.check_value == 9.0
    d = events.predictive(post, rng)  # same replicates (shared), fine for a marginal check

    def density_times_g(t):
        g = min(1.0, (accrual + follow - t) / accrual)
        return rates[0] * np.exp(-rates[0] * t) * g

    p_event, _ = integrate.quad(density_times_g, 0.0, accrual + follow, points=[follow])
    expected = stats.binom.pmf(np.arange(n[0] + 1), n[0], p_event) * d.size
    observed = np.bincount(d.astype(int), minlength=n[0] + 1)
    keep = expected > 5
    chi2 = np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep])
    assert stats.chi2.sf(chi2, keep.sum() - 1) > 1e-3


def test_hr_rows_and_shared_replicates():
    median0, log_hr, n = 12.0, -0.5, (150, 150)
    study = make_study(
        stat("hr", value=0.61, ci=(0.45, 0.82)),
        stat("rmean", arm="ref", value=20.0, spread=1.5, spread_kind="se"),
        stat("rmean", arm="cmp", value=25.0, spread=15.0, spread_kind="sd"),
        n=n,
    )
    post = exp_posterior(median0, log_hr, 1000, hr=np.exp(log_hr))
    values = rows_by_name(
        published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(24.0, 24.0)))
    )
    hr = values[("os_hr", "between arms")]
    np.testing.assert_allclose(hr.posterior(post), np.exp(log_hr))
    rng = np.random.default_rng(4)
    log_hr_rep = np.log(hr.predictive(post, rng))
    assert abs(log_hr_rep.mean() - log_hr) < 4 * log_hr_rep.std() / np.sqrt(log_hr_rep.size) + 0.01
    ratio = values[("os_hr_ci_ratio", "between arms")]
    assert ratio.published == pytest.approx(0.82 / 0.45)
    # asymptotically SE ≈ sqrt(1/E d0 + 1/E d1) (Tsiatis 1981): compare the typical CI ratio
    se = np.log(ratio.predictive(post, rng)) / (2 * 1.959963984540054)
    assert se.std() < 0.02 and abs(np.median(se) - np.std(log_hr_rep)) < 0.1 * np.std(log_hr_rep)
    # an SD-type spread is the SE of the same replicate times √n
    se_row = values[("os_rmean_se", "Reference")]
    sd_row = values[("os_rmean_se", "Comparator")]
    assert "SD read as SE" in sd_row.note
    se_ref = se_row.predictive(post, rng)
    assert np.all(se_ref > 0)
    sd_cmp = sd_row.predictive(post, rng)
    assert np.median(sd_cmp) > 5 * np.median(se_ref)


def test_ppp_calibrated_at_the_truth():
    """With the parameters known, the ppp of a reached median is uniform (n = 15/12)."""
    median0, log_hr, accrual, follow, n = 12.0, -0.3, 24.0, 36.0, (15, 12)
    rates = [LN2 / median0, LN2 / median0 * np.exp(log_hr)]
    # every dataset meets the same predictive distribution: simulate it once, with many draws
    post = exp_posterior(median0, log_hr, 20000)
    study = make_study(stat("median", arm="ref", value=12.345678), n=n)
    (pv,) = published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(accrual, follow)))
    predicted = pv.predictive(post, np.random.default_rng(22))
    data_rng = np.random.default_rng(21)
    ppps = []
    for _ in range(600):
        time, event, arm = simulate_reference(data_rng, rates, n, accrual, follow)
        observed = median_reference(time[arm == 0], event[arm == 0])
        assert np.isfinite(observed)
        ppps.append(two_sided_ppp(predicted, round(float(observed), 6)))
    ppps = np.asarray(ppps)
    assert stats.kstest(ppps, "uniform").pvalue > 1e-3
    for alpha in (0.1, 0.25, 0.5):
        assert abs(np.mean(ppps <= alpha) - alpha) < 4 * np.sqrt(alpha * (1 - alpha) / 600)


def test_ppp_conservative_under_the_posterior():
    """Data from the prior, conjugate Gamma posteriors of the two exponential rates: the ppp of
    the reference median is never anti-conservative, and flags a median three times too long."""
    a0, b0, accrual, follow, n = 3.0, 3.0 * 12.0 / LN2, 24.0, 24.0, (15, 12)
    design = fixed_design(FollowUp(accrual, follow))
    rng = np.random.default_rng(31)
    ppps, flagged = [], []
    for _ in range(150):
        rates = rng.gamma(a0, 1.0 / b0, size=2)
        time, event, arm = simulate_reference(rng, rates, n, accrual, follow)
        post_rates = [
            rng.gamma(a0 + event[arm == j].sum(), 1.0 / (b0 + time[arm == j].sum()), 1000)
            for j in (0, 1)
        ]
        post = xr.Dataset(
            {
                "median_reference": (("chain", "draw"), (LN2 / post_rates[0]).reshape(2, -1)),
                "log_hr": (("chain", "draw"), np.log(post_rates[1] / post_rates[0]).reshape(2, -1)),
            }
        )
        observed = median_reference(time[arm == 0], event[arm == 0])
        study = make_study(
            stat("median", arm="ref", value=round(float(min(observed, 1e6)), 6)),
            stat("median", arm="cmp", value=round(float(3 * LN2 / rates[1]), 6)),
            n=n,
        )
        values = published_survival_values(EXP_SPEC, study, design)
        ppps.append(two_sided_ppp(values[0].predictive(post, rng), values[0].observed_for_check))
        flagged.append(two_sided_ppp(values[1].predictive(post, rng), values[1].published) < 0.1)
    ppps = np.asarray(ppps)
    assert np.mean(ppps <= 0.1) < 0.1 + 3 * np.sqrt(0.09 / 150)
    assert np.mean(ppps <= 0.5) < 0.5 + 3 * np.sqrt(0.25 / 150)
    assert np.mean(flagged) > 0.5


def test_weibull_posterior_from_curves():
    """Without ``median_months`` in the posterior, the median comes from the curves."""
    post = exp_posterior(20.0, np.log(0.5), 10, shape=2.0)
    study = make_study(stat("median", arm="cmp", value=28.0))
    (pv,) = published_survival_values(WEIBULL_SPEC, study, fixed_design(FollowUp(30.0, 30.0)))
    # Weibull PH: m1 = m0 · HR^(−1/k)
    np.testing.assert_allclose(pv.posterior(post), 20.0 * 0.5 ** (-1 / 2.0), rtol=1e-10)


def test_hr_p_value_is_a_check_target_matching_lifelines():
    """A p-value printed with an HR is checked against the replicate Cox Wald p (lifelines)."""
    import pandas as pd
    from lifelines import CoxPHFitter

    median0, log_hr, accrual, follow, n = 10.0, -0.5, 24.0, 18.0, (40, 40)
    study = make_study(stat("hr", value=0.61, ci=[0.38, 0.98], p_value=0.0412), n=n)
    values = rows_by_name(
        published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(accrual, follow)))
    )
    assert set(values) == {
        ("os_hr", "between arms"),
        ("os_hr_ci_ratio", "between arms"),
        ("os_hr_p", "between arms"),
    }
    row = values[("os_hr_p", "between arms")]
    assert row.published == 0.0412
    predicted = row.predictive(exp_posterior(median0, log_hr, 1000), np.random.default_rng(5))
    assert np.all((predicted >= 0) & (predicted <= 1))
    # printed to 4 decimals: the replicate p-values are rounded alike
    np.testing.assert_allclose(predicted, np.round(predicted, 4))

    ref_rng = np.random.default_rng(6)
    rates = [LN2 / median0, LN2 / median0 * np.exp(log_hr)]
    reference = []
    for _ in range(300):
        time, event, arm = simulate_reference(ref_rng, rates, n, accrual, follow)
        frame = pd.DataFrame({"time": time, "event": event.astype(int), "arm": arm})
        fit = CoxPHFitter().fit(frame, "time", "event")
        reference.append(float(fit.summary.loc["arm", "p"]))
    ks = stats.ks_2samp(predicted, np.round(reference, 4))
    assert ks.pvalue > 1e-3, ks
    # about half the replicates at HR = e^-0.5 and 80 patients reach p < 0.05
    assert 0.2 < np.mean(predicted < 0.05) < 0.8


def test_landmark_ci_limits_are_check_targets():
    """A landmark's printed CI is compared with the replicate's log(-log) limits."""
    from resurv.checks.ppc import two_sided_ppp

    median0, log_hr, accrual, follow, n = 10.0, -0.5, 24.0, 18.0, (60, 60)
    study = make_study(stat("landmark", arm="ref", value=0.44, t_months=12.0, ci=[0.31, 0.56]), n=n)
    values = rows_by_name(
        published_survival_values(EXP_SPEC, study, fixed_design(FollowUp(accrual, follow)))
    )
    names = {"os_survival_12m", "os_survival_12m_ci_low", "os_survival_12m_ci_high"}
    assert {name for name, _ in values} == names
    post = exp_posterior(median0, log_hr, 2000)
    draws = {
        name: values[(name, "Reference")].predictive(post, np.random.default_rng(8))
        for name in sorted(names)
    }
    low, mid, high = (draws[f"os_survival_12m{s}"] for s in ("_ci_low", "", "_ci_high"))
    ok = ~np.isnan(mid)
    assert ok.mean() > 0.99  # follow-up of 18-42 months reaches 12 months
    # same replicates for every row: the limits bracket the estimate (to the printed rounding)
    assert np.all(low[ok] <= mid[ok] + 0.005) and np.all(mid[ok] <= high[ok] + 0.005)
    # S(12) = 2^(-12/10) = 0.435 at n = 60: the printed limits are typical, much narrower are not
    for name, published in (("_ci_low", 0.31), ("_ci_high", 0.56)):
        assert two_sided_ppp(draws[f"os_survival_12m{name}"], published) > 0.2
    assert two_sided_ppp(high - low, 0.05) < 0.01
