"""Guyot's reconstruction against an independent port of IPDfromKM's ``getIPD`` (R, CRAN 0.1.10)
on the same inputs, and round trips through the Kaplan–Meier curves of lifelines' data sets."""

import numpy as np
import pytest
from lifelines import KaplanMeierFitter
from lifelines.datasets import load_gbsg2, load_leukemia, load_rossi, load_waltons

from resurv.reconstruct.digitization import at_risk_numbers, km_points
from resurv.reconstruct.guyot import curve_gap, reconstruct_patients, step_values, with_risk_times


def _ratio(a, b):
    """R's a / b: NaN for 0 / 0."""
    return a / b if b != 0 else float("nan")


def ipdfromkm_getipd(tt, ss, t_risk, n_risk, tot_events=None):
    """IPDfromKM's preprocess() interval table and getIPD(), transcribed line by line from its R
    source (1-based arrays padded at index 0). Returns (event times, censoring times)."""
    tt = np.concatenate([[np.nan], tt])
    ss = np.concatenate([[np.nan], ss])
    total = tt.size - 1
    nint = len(t_risk)
    interval = [max(i + 1 for i in range(nint) if x >= t_risk[i]) for x in tt[1:]]
    lower = [0] + [interval.index(i) + 1 for i in range(1, nint + 1)]
    upper = [0] + [len(interval) - interval[::-1].index(i) for i in range(1, nint + 1)]
    n_risk = [0] + list(n_risk)
    t_risk = [0] + list(t_risk)
    ncensor = [0] * (nint + 1)
    lasti = [1] * (nint + 1)
    cen = [0] * (total + 2)
    nhat = [n_risk[1] + 1] * (total + 2)
    d = [0] * (total + 2)
    km = [1.0] * (total + 2)

    def est_cen(ncen, i):
        k = upper[i] - lower[i] + 1
        out = [0] * k
        if ncen > 0:
            cen_t = [
                tt[lower[i]] + j * (tt[upper[i]] - tt[lower[i]]) / (ncen + 1)
                for j in range(1, ncen + 1)
            ]
            for m, j in enumerate(range(lower[i], upper[i] + 1)):
                if j + 1 > total:
                    out[m] = sum(tt[j] <= c for c in cen_t)
                else:
                    out[m] = sum(tt[j] <= c < tt[j + 1] for c in cen_t)
        return out, sum(out)

    def events(i, las):
        for k in range(lower[i], upper[i] + 1):
            if k == 1:
                d[k] = 0
                km[k] = 1.0
            else:
                d[k] = round(nhat[k] * (1 - ss[k] / km[las])) if km[las] != 0 else 0
                km[k] = km[las] * (1 - _ratio(d[k], nhat[k]))
            nhat[k + 1] = nhat[k] - d[k] - cen[k]
            if d[k] != 0:
                las = k
            yield k

    for i in range(1, nint):
        ncensor[i] = round(n_risk[i] * ss[lower[i + 1]] / ss[lower[i]] - n_risk[i + 1])
        las = lasti[i]
        while (
            nhat[lower[i + 1]] > n_risk[i + 1] and ncensor[i] < n_risk[i] - n_risk[i + 1] + 1
        ) or (nhat[lower[i + 1]] < n_risk[i + 1] and ncensor[i] > 0):
            out, ncensor[i] = est_cen(ncensor[i], i)
            cen[lower[i] : upper[i] + 1] = out
            nhat[lower[i]] = n_risk[i]
            las = lasti[i]
            for k in range(lower[i], upper[i] + 1):
                if k == 1:
                    d[k], km[k] = 0, 1.0
                else:
                    d[k] = round(nhat[k] * (1 - ss[k] / km[las])) if km[las] != 0 else 0
                    km[k] = km[las] * (1 - _ratio(d[k], nhat[k]))
                nhat[k + 1] = nhat[k] - d[k] - cen[k]
                if d[k] != 0:
                    las = k
                if nhat[k + 1] < 0:
                    nhat[k + 1] = 0
            ncensor[i] = ncensor[i] + (nhat[lower[i + 1]] - n_risk[i + 1])
        n_risk[i + 1] = nhat[lower[i + 1]]
        lasti[i + 1] = las
    if nint > 1:
        leftd = 0 if tot_events is None else max(tot_events - sum(d[1 : upper[nint - 1] + 1]), 0)
        mm = 0  # endpts: NULL when the table does not run past the curve
        ncensor[nint] = min(
            np.mean(ncensor[1:nint])
            * (tt[total] - t_risk[nint])
            / (t_risk[nint] - t_risk[nint - 1]),
            n_risk[nint] - mm - leftd,
        )
    else:
        ncensor[nint] = 0 if tot_events is None else n_risk[nint] - tot_events
    # R's rep(0, ncen) and 1:ncen with a fractional ncen: 1:ncen runs to floor(ncen)
    out, ncensor[nint] = est_cen(int(np.floor(ncensor[nint])), nint)
    cen[lower[nint] : upper[nint] + 1] = out
    nhat[lower[nint]] = n_risk[nint]
    las = lasti[nint]
    for k in range(lower[nint], upper[nint] + 1):
        if k == 1:
            d[k], km[k] = 0, 1.0
        else:
            d[k] = round(nhat[k] * (1 - ss[k] / km[las])) if km[las] != 0 else 0
            km[k] = km[las] * (1 - _ratio(d[k], nhat[k]))
        nhat[k + 1] = nhat[k] - d[k] - cen[k]
        if nhat[k + 1] < 0:
            nhat[k + 1] = 0
            cen[k] = nhat[k] - d[k]
        if d[k] != 0:
            las = k
    event_times, censor_times = [], []
    for i in range(1, total + 1):
        event_times += [tt[i]] * d[i]
        if cen[i] > 0:
            censor_times += [(tt[i] + tt[i + 1]) / 2 if i < total else tt[i]] * cen[i]
    censor_times += [tt[total]] * nhat[total + 1]
    return np.array(event_times), np.array(censor_times)


def _arm(loader, time, event, group, value):
    frame = loader()
    rows = frame[group] == value
    return frame.loc[rows, time].to_numpy(float), frame.loc[rows, event].to_numpy(bool)


ARMS = {
    "gbsg2 no hormone": lambda: _arm(load_gbsg2, "time", "cens", "horTh", "no"),
    "gbsg2 hormone": lambda: _arm(load_gbsg2, "time", "cens", "horTh", "yes"),
    "rossi no aid": lambda: _arm(load_rossi, "week", "arrest", "fin", 0),
    "leukemia 6-MP": lambda: _arm(load_leukemia, "t", "status", "Rx", 0),
    "waltons control": lambda: _arm(load_waltons, "T", "E", "group", "control"),
}


def _inputs(name, intervals=5):
    time, event = ARMS[name]()
    # printed at-risk times: equal steps of the follow-up, none at the curve's end
    risk_times = np.linspace(0.0, time.max(), intervals + 1)[:-1]
    points_t, points_s = with_risk_times(*km_points(time, event), risk_times)
    return time, event, points_t, points_s, risk_times, at_risk_numbers(time, risk_times)


def _km_at(time, event, at):
    fitter = KaplanMeierFitter().fit(time, event)
    return fitter.survival_function_at_times(at).to_numpy()


def test_curve_gap_is_the_supremum_on_a_fine_grid():
    time, event, pt, ps, tau, nr = _inputs("leukemia 6-MP")
    rec = reconstruct_patients(pt, ps, tau, nr)
    gap, _ = curve_gap(pt, ps, rec.time, rec.event)
    grid = np.linspace(0, pt[-1], 20001)
    fine = np.max(np.abs(step_values(pt, ps, grid) - _km_at(rec.time, rec.event, grid)))
    assert gap >= fine - 1e-12
    assert gap == pytest.approx(fine, abs=1e-12) or gap > fine  # a jump between grid nodes


@pytest.mark.parametrize("name", list(ARMS))
def test_reconstruction_agrees_with_ipdfromkm(name):
    """Both implementations match the at-risk table at every printed time; they differ only in
    where censorings fall inside an interval (IPDfromKM spreads them up to the interval's last
    point, Guyot's appendix up to the next interval's first point, here a point at the at-risk
    time) and in the last interval's censoring rate. Before the last at-risk time the numbers
    at risk differ by the censorings displaced within an interval, which moves a drop's
    rounded event count by at most one: the KM curves differ by at most one patient's step
    among those at risk, and an interval's event count (over its few drops where the rounding
    turns) by at most two (the largest difference measured on these five arms)."""
    time, event, pt, ps, tau, nr = _inputs(name)
    ref_events, ref_cens = ipdfromkm_getipd(pt, ps, tau, nr)
    ours = reconstruct_patients(pt, ps, tau, nr)
    ref_time = np.concatenate([ref_events, ref_cens])
    ref_event = np.r_[np.ones(ref_events.size, bool), np.zeros(ref_cens.size, bool)]
    assert ours.n == nr[0] == ref_time.size
    np.testing.assert_array_equal(at_risk_numbers(ours.time, tau), nr)
    np.testing.assert_array_equal(at_risk_numbers(ref_time, tau), nr)
    edges = np.append(tau, np.inf)
    ours_per = np.histogram(ours.time[ours.event], edges)[0]
    ref_per = np.histogram(ref_events, edges)[0]
    assert np.all(np.abs(ours_per - ref_per)[:-1] <= 2), (ours_per, ref_per)
    grid = np.union1d(ours.time, ref_time)
    grid = grid[grid < tau[-1]]
    gap = np.max(np.abs(_km_at(ours.time, ours.event, grid) - _km_at(ref_time, ref_event, grid)))
    assert gap <= 1.0 / nr[-1] + 1e-12


@pytest.mark.parametrize("name", list(ARMS))
def test_round_trip_reproduces_the_curve_the_table_and_the_events(name):
    """KM of known patient data, clicked at its steps, with its at-risk table and total events:
    the reconstruction's numbers at risk are the table's, its KM follows the curve up to the
    last at-risk time within one patient's step (a drop's events are rounded to whole
    patients, with numbers at risk off by the censorings displaced inside an interval), and its
    events are the data's up to that rounding (Guyot's total-events step moves censoring in the
    last interval only, so it cannot undo an event rounded up earlier)."""
    time, event, pt, ps, tau, nr = _inputs(name)
    rec = reconstruct_patients(pt, ps, tau, nr, total_events=int(event.sum()))
    np.testing.assert_array_equal(at_risk_numbers(rec.time, tau), nr)
    np.testing.assert_array_equal(rec.at_risk_used, nr)
    gap, _ = curve_gap(pt, ps, rec.time, rec.event, until=tau[-1])
    assert gap <= 1.0 / nr[-1] + 1e-12
    edges = np.append(tau, np.inf)
    per = np.histogram(rec.time[rec.event], edges)[0] - np.histogram(time[event], edges)[0]
    assert np.all(np.abs(per[:-1]) <= 1), per
    assert abs(rec.events - event.sum()) <= 2


def test_total_events_are_reached_when_censoring_can_absorb_them():
    """Without the total, the last interval's censoring is the earlier rate; with it, censoring
    is adjusted until the event count is the published one (Guyot's appendix)."""
    time, event, pt, ps, tau, nr = _inputs("waltons control")
    without = reconstruct_patients(pt, ps, tau, nr)
    given = reconstruct_patients(pt, ps, tau, nr, total_events=int(event.sum()))
    assert without.events != event.sum()
    assert given.events == event.sum()
    assert without.n == given.n == nr[0]


@pytest.mark.parametrize("name", list(ARMS))
def test_km_points_are_lifelines_kaplan_meier(name):
    """The clicked corners used above are the KM curve of lifelines: the bottom corner at each
    event time is S(t), the top corner S(t−)."""
    time, event = ARMS[name]()
    t, s = km_points(time, event)
    assert (t[0], s[0]) == (0.0, 1.0)
    bottoms = np.r_[False, np.diff(t) == 0]  # second point of each pair is the bottom
    np.testing.assert_allclose(s[bottoms], _km_at(time, event, t[bottoms]), atol=1e-12)
    tops = np.r_[np.diff(t) == 0, False]
    np.testing.assert_allclose(s[tops], _km_at(time, event, t[tops] - 1e-9), atol=1e-12)


def test_isotonic_fit_is_the_constrained_least_squares_solution():
    """Pool-adjacent-violators against scipy's bounded least squares on ŷ = c − Σ increments."""
    from scipy.optimize import lsq_linear

    from resurv.reconstruct.curve import isotonic_decreasing

    rng = np.random.default_rng(7)
    for _ in range(20):
        y = np.sort(rng.uniform(0, 1, 12))[::-1] + rng.normal(0, 0.05, 12)
        design = np.tril(-np.ones((12, 12)))
        design[:, 0] = 1.0
        lower = np.r_[-np.inf, np.zeros(11)]
        solution = lsq_linear(design, y, bounds=(lower, np.full(12, np.inf)), tol=1e-12)
        np.testing.assert_allclose(isotonic_decreasing(y), design @ solution.x, atol=1e-7)


def test_a_curve_without_events_reconstructs_everyone_censored():
    t, s = km_points([3.0, 5.0, 8.0], [False, False, False])
    np.testing.assert_array_equal(t, [0.0, 8.0])
    np.testing.assert_array_equal(s, [1.0, 1.0])
    rec = reconstruct_patients(t, s, [0.0, 4.0], [3, 2])
    assert rec.events == 0 and rec.n == 3
    np.testing.assert_array_equal(at_risk_numbers(rec.time, [0.0, 4.0]), [3, 2])
