"""Extrapolation beyond the data and the background (general-population) hazard.

References are written here: the background's cumulative hazard by an explicit loop over its
intervals, the all-cause survival as S_excess · S_pop, RMST by scipy quadrature; the patient
likelihood with a background hazard against a hand-written NumPy log-likelihood.
"""

import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

from resurv.cli import main
from resurv.errors import ModelSpecError
from resurv.families.background import BackgroundHazard
from resurv.inference.extrapolation import extrapolate
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors

ROOT = Path(__file__).resolve().parents[1]
LN2 = math.log(2.0)
TIMES, RATES = (0.0, 24.0, 60.0), (0.001, 0.002, 0.005)


def _pop_cum_hazard(t):
    edges = [*TIMES, np.inf]
    return sum(r * max(0.0, min(t, edges[j + 1]) - edges[j]) for j, r in enumerate(RATES))


def test_background_hazard_against_an_explicit_loop():
    bg = BackgroundHazard(TIMES, RATES)
    t = np.array([0.0, 5.0, 24.0, 30.0, 60.0, 200.0])
    np.testing.assert_allclose(bg.cum_hazard(t), [_pop_cum_hazard(x) for x in t], rtol=1e-13)
    np.testing.assert_allclose(np.exp(bg.log_hazard(t[1:])), [0.001, 0.002, 0.002, 0.005, 0.005])
    log_h, cum_h = bg.add_to(np.log(0.01), 0.3, 30.0)
    assert math.exp(log_h) == pytest.approx(0.012) and cum_h == pytest.approx(0.3 + 0.036)
    for times, rates, rule in [
        ((1.0, 5.0), (0.1, 0.1), "start at 0"),
        ((0.0, 5.0), (0.1,), "one length"),
        ((0.0, 5.0), (0.1, -0.1), "positive"),
    ]:
        with pytest.raises(ValueError, match=rule):
            BackgroundHazard(times, rates)


def _posterior(**columns):
    """A posterior dataset of 2 chains × n draws from arrays of shape (2 n,)."""
    data = {k: (("chain", "draw"), np.asarray(v, float).reshape(2, -1)) for k, v in columns.items()}
    return xr.Dataset(data)


def test_extrapolated_rmst_and_survival_against_scipy_with_and_without_background():
    rng = np.random.default_rng(2)
    medians, shapes, log_hr = rng.uniform(20, 40, 8), rng.uniform(0.8, 1.6, 8), -0.3
    post = _posterior(median_reference=medians, shape=shapes, log_hr=np.full(8, log_hr))
    spec = load_model_spec(ROOT / "models" / "os_weibull.toml")
    with_bg = dataclasses.replace(spec, background_times=TIMES, background_rates=RATES)
    for model, bg in ((spec, None), (with_bg, BackgroundHazard(TIMES, RATES))):
        ext = extrapolate(model, post, ["a", "b"], [60.0, 120.0], n_grid=13, data_end=50.0)

        def surv(t, i, arm, bg=bg):
            scale = medians[i] / LN2 ** (1 / shapes[i])
            s = stats.weibull_min(c=shapes[i], scale=scale).sf(t) ** (
                math.exp(log_hr) if arm else 1
            )
            return s * (math.exp(-_pop_cum_hazard(t)) if bg else 1.0)

        for arm, label in enumerate(("a", "b")):
            for tau in (60.0, 120.0):
                values = [
                    integrate.quad(surv, 0, tau, args=(i, arm), limit=200)[0] for i in range(8)
                ]
                row = ext.rmst[(ext.rmst.arm == label) & (ext.rmst.horizon == tau)].iloc[0]
                assert row.rmst == pytest.approx(np.quantile(values, 0.5), rel=1e-7)
                assert row.rmst_low == pytest.approx(np.quantile(values, 0.025), rel=1e-7)
                assert row.extrapolated == (tau > 50.0)
            at_90 = ext.curves[(ext.curves.arm == label) & (ext.curves.time == 90.0)].iloc[0]
            assert at_90.survival == pytest.approx(
                np.quantile([surv(90.0, i, arm) for i in range(8)], 0.5), rel=1e-10
            )
            assert at_90.extrapolated
    # the background never lets the all-cause hazard fall below the population's
    ext = extrapolate(with_bg, post, ["a", "b"], [120.0], n_grid=13)
    assert (ext.curves[ext.curves.time > 60].hazard_low >= 0.005).all()


def test_patient_likelihood_with_background_is_the_relative_survival_likelihood(rng):
    """log p = Σ δ log(h_pop + h_exc) − H_pop − H_exc at a point, written here with scipy."""
    from resurv.io.patient_data import PatientData
    from resurv.models.survival import build_survival_patients

    n = 40
    time = rng.uniform(1, 100, n)
    event = (rng.uniform(size=n) < 0.6).astype(int)
    arm = np.repeat([0, 1], n // 2)
    spec = dataclasses.replace(
        load_model_spec(ROOT / "models" / "os_weibull.toml"),
        background_times=TIMES,
        background_rates=RATES,
    )
    data = PatientData(time, event, arm, None, ("a", "b"), "sim.csv")
    built = build_survival_patients(spec, load_priors(ROOT / "priors" / "vague.toml"), data, "ab")
    point = {"median_reference": 30.0, "shape": 1.3, "log_hr": -0.4}
    with built.model:
        logp = built.model.compile_logp(vars=[built.model["survival_ipd"]], sum=True)
        ip = built.model.initial_point()
    for name, value in point.items():
        rv = built.model[name]
        key = built.model.rvs_to_values[rv].name
        assert key in (name, f"{name}_log__"), key  # positive parameters: log transform
        ip[key] = np.float64(math.log(value) if key.endswith("_log__") else value)
    scale = 30.0 / LN2 ** (1 / 1.3)
    hr = np.where(arm == 1, math.exp(-0.4), 1.0)
    cum_exc = hr * (time / scale) ** 1.3
    h_exc = (
        hr
        * stats.weibull_min(c=1.3, scale=scale).pdf(time)
        / stats.weibull_min(c=1.3, scale=scale).sf(time)
    )
    h_pop = np.select([time < 24, time < 60], [0.001, 0.002], 0.005)
    cum_pop = np.array([_pop_cum_hazard(t) for t in time])
    expected = np.sum(event * np.log(h_pop + h_exc) - cum_pop - cum_exc)
    assert float(logp(ip)) == pytest.approx(expected, rel=1e-10)


def test_background_refused_for_published_summaries(tmp_path):
    from resurv.api import build, load_data

    spec = dataclasses.replace(
        load_model_spec(ROOT / "models" / "os_weibull.toml"),
        background_times=TIMES,
        background_rates=RATES,
    )
    study = load_data(ROOT / "data" / "studies" / "nmc2020_sirt_prrt.toml")
    with pytest.raises(ModelSpecError, match="background hazard needs patient data"):
        build(spec, load_priors(ROOT / "priors" / "vague.toml"), study)


@pytest.mark.parametrize(
    ("extra", "field", "rule"),
    [
        ("background_times = [0.0, 12.0]", "background_rates", "is needed with"),
        (
            "background_times = [0.0, 12.0]\nbackground_rates = [0.01]",
            "background_rates",
            "one rate per interval",
        ),
        (
            "background_times = [1.0, 12.0]\nbackground_rates = [0.01, 0.02]",
            "background_times",
            "must start at 0",
        ),
        (
            "background_times = [0.0, 12.0]\nbackground_rates = [0.01, 0.0]",
            "background_rates[1]",
            "must be > 0",
        ),
    ],
)
def test_bad_background_refused_with_field_and_exit_2(tmp_path, capsys, extra, field, rule):
    text = (ROOT / "models" / "os_weibull.toml").read_text()
    path = tmp_path / "bg.toml"
    path.write_text(text.replace('effect = "ph"', f'effect = "ph"\n{extra}', 1))
    with pytest.raises(ModelSpecError) as err:
        load_model_spec(path)
    assert field in str(err.value) and rule in str(err.value) and str(path) in str(err.value)
    out = tmp_path / "out"
    code = main(
        [
            "fit",
            str(path),
            "--data",
            str(ROOT / "data/studies/nmc2020_sirt_prrt.toml"),
            "--out",
            str(out),
        ]
    )
    assert code == 2 and not out.exists()
    assert field in capsys.readouterr().err


def test_extrapolate_cli_refuses_a_folder_without_a_fit(tmp_path, capsys):
    assert main(["extrapolate", str(tmp_path), "--out", str(tmp_path / "x")]) == 2
    assert "no posterior.nc" in capsys.readouterr().err
