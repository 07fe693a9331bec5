"""Elicitation: the elicited distributions meet the stated quantiles (checked with scipy)."""

import math

import numpy as np
import pytest
from scipy import stats

from helpers import MODELS, PRIORS
from resurv.cli import main
from resurv.errors import InputError
from resurv.io.elicit import elicit, prior_entry_toml, prior_predictive_curves
from resurv.io.priors import load_priors, robustify


def lognorm(spec):
    return stats.lognorm(spec.args["sigma"], scale=math.exp(spec.args["mu"]))


def test_lognormal_median_and_interval():
    got = elicit("lognormal", center=36, lower=20, upper=60, mass=0.9, unit="months")
    f = lognorm(got.spec)
    assert got.spec.dist == "lognormal"
    assert f.median() == pytest.approx(36, rel=1e-9)
    assert f.cdf(60) - f.cdf(20) == pytest.approx(0.9, abs=1e-3)
    assert "median 36 months, 90% sure it is between 20 and 60 months" in got.spec.source
    assert "PreliZ" in got.spec.source and "maxent" in got.spec.source


def test_lognormal_interval_alone_gives_equal_tails():
    got = elicit("lognormal", lower=20, upper=60, mass=0.9)
    f = lognorm(got.spec)
    assert f.ppf(0.05) == pytest.approx(20, rel=2e-3)
    assert f.ppf(0.95) == pytest.approx(60, rel=2e-3)
    # the median is then the geometric mean of the ends
    assert f.median() == pytest.approx(math.sqrt(20 * 60), rel=2e-3)


def test_lognormal_one_sided_bound():
    got = elicit("lognormal", center=36, upper=60, mass=0.9)
    f = lognorm(got.spec)
    assert f.median() == pytest.approx(36, rel=1e-9)
    assert f.ppf(0.9) == pytest.approx(60, rel=2e-3)
    assert got.spec.args["sigma"] == pytest.approx(
        (math.log(60) - math.log(36)) / stats.norm.ppf(0.9), rel=2e-3
    )


def test_ratio_interval_is_a_normal_on_log_hr():
    got = elicit("ratio", center=0.8, lower=0.5, upper=1.2, mass=0.9)
    f = stats.norm(got.spec.args["mu"], got.spec.args["sigma"])
    assert got.spec.dist == "normal"
    assert math.exp(f.median()) == pytest.approx(0.8, rel=1e-9)
    assert f.cdf(math.log(1.2)) - f.cdf(math.log(0.5)) == pytest.approx(0.9, abs=1e-3)


def test_ratio_without_center_and_one_sided():
    got = elicit("ratio", lower=0.5, upper=1.1, mass=0.95)
    f = stats.norm(got.spec.args["mu"], got.spec.args["sigma"])
    assert math.exp(f.ppf(0.025)) == pytest.approx(0.5, rel=2e-3)
    assert math.exp(f.ppf(0.975)) == pytest.approx(1.1, rel=2e-3)
    one = elicit("ratio", center=0.8, upper=1.1, mass=0.9)
    g = stats.norm(one.spec.args["mu"], one.spec.args["sigma"])
    assert math.exp(g.ppf(0.9)) == pytest.approx(1.1, rel=2e-3)
    assert math.exp(g.median()) == pytest.approx(0.8, rel=1e-9)


@pytest.mark.parametrize(("center", "lower", "upper"), [(0.8, 0.6, 0.95), (0.1, 0.02, 0.25)])
def test_beta_mean_and_interval(center, lower, upper):
    got = elicit("beta", center=center, lower=lower, upper=upper, mass=0.9)
    f = stats.beta(got.spec.args["alpha"], got.spec.args["beta"])
    assert f.mean() == pytest.approx(center, rel=1e-6)
    assert f.cdf(upper) - f.cdf(lower) == pytest.approx(0.9, abs=1e-3)


def test_beta_interval_alone_and_upper_bound():
    got = elicit("beta", lower=0.6, upper=0.9, mass=0.9)
    f = stats.beta(got.spec.args["alpha"], got.spec.args["beta"])
    assert f.cdf(0.9) - f.cdf(0.6) == pytest.approx(0.9, abs=1e-3)
    one = elicit("beta", center=0.1, upper=0.3, mass=0.95)
    g = stats.beta(one.spec.args["alpha"], one.spec.args["beta"])
    assert g.cdf(0.3) == pytest.approx(0.95, abs=1e-3)
    assert g.mean() == pytest.approx(0.1, rel=1e-6)


@pytest.mark.parametrize(
    ("kind", "kwargs", "field"),
    [
        ("lognormal", {"upper": 60}, "center"),
        ("ratio", {"center": 0.8, "upper": 1.1, "mass": 0.4}, "mass"),
        ("lognormal", {"center": 36, "lower": 40, "upper": 60}, "center"),
        ("beta", {"lower": 0.2, "upper": 1.5}, "upper"),
        ("ratio", {"lower": 0.5, "upper": 1.5, "mass": 1.2}, "mass"),
        ("gamma", {"upper": 3}, "kind"),
    ],
)
def test_impossible_statements_are_refused(kind, kwargs, field):
    with pytest.raises(InputError) as info:
        elicit(kind, **kwargs)
    assert info.value.field == field


def test_entry_round_trips_through_a_prior_file(tmp_path):
    got = elicit("lognormal", center=36, lower=20, upper=60, mass=0.9, unit="months")
    vague = load_priors(PRIORS / "vague.toml")
    robust = robustify(got.spec, vague.priors["os"]["median_comparator"], 0.8)
    path = tmp_path / "p.toml"
    path.write_text(
        'name = "x"\n\n'
        + prior_entry_toml("os", "median_reference", got.spec)
        + "\n"
        + prior_entry_toml("os", "median_comparator", robust)
    )
    loaded = load_priors(path).priors["os"]
    assert loaded["median_reference"].args == pytest.approx(got.spec.args, rel=1e-9)
    assert loaded["median_reference"].source == got.spec.source
    assert loaded["median_comparator"].weight == 0.8
    assert loaded["median_comparator"].informative.args == pytest.approx(got.spec.args, rel=1e-9)


def test_cli_elicit_appends_a_valid_entry(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text('name = "mine"\n')
    code = main(
        [
            "elicit",
            "ratio",
            "--center",
            "0.8",
            "--lower",
            "0.5",
            "--upper",
            "1.2",
            "--endpoint",
            "os",
            "--parameter",
            "log_hr",
            "--out",
            str(path),
        ]
    )
    assert code == 0
    assert "[os.log_hr]" in capsys.readouterr().out
    spec = load_priors(path).priors["os"]["log_hr"]
    f = stats.norm(spec.args["mu"], spec.args["sigma"])
    assert f.cdf(math.log(1.2)) - f.cdf(math.log(0.5)) == pytest.approx(0.9, abs=1e-3)
    assert "elicited: ratio 0.8, 90% sure it is between 0.5 and 1.2" in spec.source


def test_cli_elicit_bad_input_exits_2(capsys):
    code = main(["elicit", "beta", "--lower", "0.6", "--upper", "0.9", "--mass", "1.5"])
    assert code == 2
    assert "mass" in capsys.readouterr().err


def test_prior_predictive_curves_match_independent_simulation(tmp_path):
    png = tmp_path / "curves.png"
    out = prior_predictive_curves(
        PRIORS / "literature.toml", MODELS / "os_weibull.toml", png, n_draws=20000, seed=3
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # independent: S0(t) = exp(-ln2 (t/m)^k), S1 = S0^HR, with m, k, log HR drawn by scipy
    rng = np.random.default_rng(99)
    n = 40000
    m = stats.lognorm(0.25, scale=math.exp(3.46574)).rvs(n, random_state=rng)
    k = stats.lognorm(0.25, scale=math.exp(-0.0512933)).rvs(n, random_state=rng)
    hr = np.exp(stats.norm(-0.17, 0.34).rvs(n, random_state=rng))
    times = out["times"]
    for t in (12.0, 36.0, 60.0):
        i = int(np.argmin(np.abs(times - t)))
        s0 = np.exp(-math.log(2) * (times[i] / m) ** k)
        s1 = s0**hr
        for label, s in (("reference", s0), ("comparator", s1)):
            expected = np.quantile(s, [0.05, 0.5, 0.95])
            got = out[label][[0, 2, 4], i]
            assert np.allclose(got, expected, atol=0.015), (label, t, got, expected)


def test_cli_prior_curves(tmp_path):
    png = tmp_path / "c.png"
    code = main(
        [
            "--quiet",
            "elicit",
            "--curves",
            str(PRIORS / "literature_robust.toml"),
            "--model",
            str(MODELS / "pfs_weibull_separate.toml"),
            "--png",
            str(png),
            "--draws",
            "500",
        ]
    )
    assert code == 0 and png.stat().st_size > 1000


def test_cli_ess_table_names_both_methods(capsys):
    assert main(["elicit", "--ess", str(PRIORS / "literature_robust.toml")]) == 0
    out = capsys.readouterr().out
    assert "ELIR (Neuenschwander 2020)" in out
    assert "a + b of the moment-matched Beta" in out
    assert "p_reference" in out and "log_hr" in out and "rw_sd" not in out
