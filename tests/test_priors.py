"""Prior files: validation through the command line, ESS (moment and ELIR), robust mixtures."""

import dataclasses

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import integrate, stats

from helpers import MODELS, PRIORS, STUDY
from resurv.checks.prior_ess import effective_sample_size, ess_table
from resurv.cli import main
from resurv.io.priors import (
    PriorSpec,
    load_priors,
    make_prior,
    robustify,
    with_argument,
)

VAGUE_TEXT = (PRIORS / "vague.toml").read_text()


def simulated_csv(path, n=60, seed=5, log_hr=-0.5, shape=1.2, median=30.0):
    """Two-arm Weibull PH patient data with uniform censoring (NumPy only)."""
    rng = np.random.default_rng(seed)
    arm = np.repeat([0, 1], n // 2)
    scale = median / np.log(2) ** (1 / shape)
    t = scale * (rng.exponential(size=n) * np.exp(-log_hr * arm)) ** (1 / shape)
    c = rng.uniform(20, 80, size=n)
    pd.DataFrame(
        {
            "time": np.minimum(t, c),
            "event": (t <= c).astype(int),
            "arm": np.where(arm == 0, "A", "B"),
        }
    ).to_csv(path, index=False)
    return path


def replace_block(text, header, new_block):
    """Replace the ``[header]`` table of a prior file's text with ``new_block``."""
    start = text.index(f"[{header}]")
    end = text.find("\n[", start + 1)
    end = len(text) if end < 0 else end + 1
    return text[:start] + new_block.strip() + "\n" + text[end:]


# ---------------------------------------------------------------------------------------------
# 1. Bad prior files: exit code 2, a message naming file, field and rule, nothing written.

BAD_FILES = {
    "unknown_distribution": (
        "response",
        replace_block(
            VAGUE_TEXT,
            "disease_control.p_reference",
            '[disease_control.p_reference]\ndist = "betta"\nalpha = 1.0\nbeta = 1.0\nsource = "x"',
        ),
        "disease_control.p_reference.dist",
        "unknown distribution 'betta'",
    ),
    "negative_scale": (
        "os_weibull",
        replace_block(
            VAGUE_TEXT,
            "os.log_hr",
            '[os.log_hr]\ndist = "normal"\nmu = 0.0\nsigma = -1.0\nsource = "x"',
        ),
        "os.log_hr.sigma",
        "must be > 0",
    ),
    "negative_scale_in_robust_component": (
        "os_weibull",
        replace_block(
            VAGUE_TEXT,
            "os.log_hr",
            '[os.log_hr]\ndist = "robust"\nweight = 0.8\n'
            'informative = { dist = "normal", mu = -0.2, sigma = -0.3 }\n'
            'vague = { dist = "normal", mu = 0.0, sigma = 1.0 }\nsource = "x"',
        ),
        "os.log_hr.informative.sigma",
        "must be > 0",
    ),
    "parameter_the_model_does_not_have": (
        "os_weibull",
        VAGUE_TEXT
        + '\n[os.log_hazard_ratio]\ndist = "normal"\nmu = 0.0\nsigma = 1.0\nsource = "x"\n',
        "os.log_hazard_ratio",
        "has no parameter 'log_hazard_ratio'",
    ),
    "binomial_parameter_the_model_does_not_have": (
        "response",
        VAGUE_TEXT + '\n[disease_control.p_other]\ndist = "beta"\nalpha = 1\nbeta = 1\n'
        'source = "x"\n',
        "disease_control.p_other",
        "has no parameter 'p_other'",
    ),
    "needed_parameter_without_prior": (
        "os_weibull",
        replace_block(VAGUE_TEXT, "os.shape", ""),
        "os.shape",
        "needs a prior for this parameter but the file has none",
    ),
    "needed_binomial_parameter_without_prior": (
        "response",
        replace_block(VAGUE_TEXT, "disease_control.p_comparator", ""),
        "disease_control.p_comparator",
        "needs a prior for this parameter but the file has none",
    ),
    "malformed_toml": (
        "response",
        VAGUE_TEXT + "\n[os.log_hr\n",
        None,
        "is not valid TOML",
    ),
    "missing_source": (
        "response",
        replace_block(
            VAGUE_TEXT,
            "disease_control.p_reference",
            '[disease_control.p_reference]\ndist = "beta"\nalpha = 1.0\nbeta = 1.0',
        ),
        "disease_control.p_reference.source",
        "is required but missing",
    ),
    "support_outside_the_parameter": (
        "os_weibull",
        replace_block(
            VAGUE_TEXT,
            "os.median_reference",
            '[os.median_reference]\ndist = "normal"\nmu = 36.0\nsigma = 10.0\nsource = "x"',
        ),
        "os.median_reference.dist",
        "'normal' has real support",
    ),
    "robust_weight_above_one": (
        "response",
        replace_block(
            VAGUE_TEXT,
            "disease_control.p_reference",
            '[disease_control.p_reference]\ndist = "robust"\nweight = 1.5\n'
            'informative = { dist = "beta", alpha = 34.4, beta = 5.6 }\n'
            'vague = { dist = "beta", alpha = 1.0, beta = 1.0 }\nsource = "x"',
        ),
        "disease_control.p_reference.weight",
        "must be between 0 and 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_prior_file_exits_2_naming_file_field_rule(case, tmp_path, capsys):
    model, text, field, rule = BAD_FILES[case]
    prior_path = tmp_path / f"{case}.toml"
    prior_path.write_text(text)
    data = STUDY if model == "response" else simulated_csv(tmp_path / "ipd.csv")
    out = tmp_path / "out"
    code = main(
        [
            "--quiet",
            "fit",
            str(MODELS / f"{model}.toml"),
            "--data",
            str(data),
            "--priors",
            str(prior_path),
            "--out",
            str(out),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(prior_path) in err
    if field is not None:
        assert f": {field}: " in err, err
    assert rule in err, err
    assert not out.exists()
    assert not list(tmp_path.glob(".out.*"))


def test_every_bundled_prior_file_serves_every_model():
    from resurv.api import build, load_data
    from resurv.io.modelspec import load_model_spec
    from resurv.models.survival import chosen_priors, required_parameters

    # where each parameter lives, stated here independently of the registry
    positive = {"median_reference", "median_comparator", "shape", "sdlog", "sigma", "rw_sd"}
    unit = {"p_reference", "p_comparator"}
    study = load_data(STUDY)
    csv_models = [
        p for p in MODELS.glob("*.toml") if p.name != "plan.toml" and "likelihood" in p.read_text()
    ]
    assert {load_model_spec(p).likelihood for p in csv_models} == {"binomial", "survival"}
    served = 0
    for prior_path in sorted(PRIORS.glob("*.toml")):
        priors = load_priors(prior_path)
        for model_path in csv_models:
            spec = load_model_spec(model_path)
            table = priors.for_endpoint(spec.endpoint)
            if spec.likelihood == "binomial":
                built = build(spec, priors, study)
                needed = ["p_reference", "p_comparator"]
                assert built.model.free_RVs, (prior_path.name, model_path.name)
            else:
                chosen = chosen_priors(spec, priors)
                needed = required_parameters(spec)
                assert list(chosen) == needed, (prior_path.name, model_path.name)
                assert all(chosen[p] is table[p] for p in needed)
            for p in needed:
                prior = table[p]
                parts = [prior.informative, prior.vague] if prior.dist == "robust" else [prior]
                for part in parts:
                    draws = part.scipy_frozen().rvs(size=2000, random_state=1)
                    where = (prior_path.name, model_path.name, p, part.describe())
                    if p in positive:
                        assert (draws > 0).all(), where
                    if p in unit:
                        assert ((draws >= 0) & (draws <= 1)).all(), where
            served += 1
    assert served == len(list(PRIORS.glob("*.toml"))) * len(csv_models)


# ---------------------------------------------------------------------------------------------
# 2. ESS: closed forms, and ELIR of mixtures against an independent Monte Carlo computation.

BETA = PriorSpec("beta", {"alpha": 34.4, "beta": 5.6})
FLAT = PriorSpec("beta", {"alpha": 1.0, "beta": 1.0})
NORMAL = PriorSpec("normal", {"mu": -0.17, "sigma": 0.34})
NORMAL_VAGUE = PriorSpec("normal", {"mu": 0.0, "sigma": 2.0})
LOGNORMAL = PriorSpec("lognormal", {"mu": np.log(32.0), "sigma": 0.25})
LOGNORMAL_VAGUE = PriorSpec("lognormal", {"mu": np.log(36.0), "sigma": 1.0})


@pytest.mark.parametrize("method", ["moment", "elir"])
def test_ess_single_distributions_closed_forms(method):
    assert effective_sample_size(BETA, "probability", method)[0] == pytest.approx(40.0, rel=1e-6)
    assert effective_sample_size(NORMAL, "log_hr", method)[0] == pytest.approx(
        4 / 0.34**2, rel=1e-6
    )
    assert effective_sample_size(LOGNORMAL, "log_median", method)[0] == pytest.approx(
        16.0, rel=1e-6
    )
    odd = PriorSpec("beta", {"alpha": 2.5, "beta": 7.5})
    assert effective_sample_size(odd, "probability", method)[0] == pytest.approx(10.0, rel=1e-6)


def mixture_logpdf(parts, x):
    return np.logaddexp.reduce([np.log(w) + f.logpdf(x) for w, f in parts if w > 0], axis=0)


def elir_monte_carlo(parts, info, rng, unit, n=400_000):
    """E_p[-(log p)''/i_F] by sampling the mixture and central finite differences of logpdf."""
    pick = rng.random(n) < parts[0][0]
    x = np.where(pick, parts[0][1].rvs(n, random_state=rng), parts[1][1].rvs(n, random_state=rng))
    h = 1e-3 * np.minimum(x, 1 - x) if unit else 1e-4
    second = (
        mixture_logpdf(parts, x + h) - 2 * mixture_logpdf(parts, x) + mixture_logpdf(parts, x - h)
    ) / h**2
    values = -second / info(x)
    return values.mean(), values.std() / np.sqrt(n)


@pytest.mark.parametrize(
    ("informative", "vague", "scale", "info", "to_working"),
    [
        (BETA, FLAT, "probability", lambda x: 1 / (x * (1 - x)), None),
        (BETA, PriorSpec("beta", {"alpha": 2.0, "beta": 2.0}), "probability", None, None),
        (NORMAL, NORMAL_VAGUE, "log_hr", lambda x: 0.25 + 0 * x, None),
        (LOGNORMAL, LOGNORMAL_VAGUE, "log_median", lambda x: 1 + 0 * x, "log"),
    ],
)
@pytest.mark.parametrize("weight", [0.8, 0.5])
def test_elir_of_robust_mixture_matches_monte_carlo(
    informative, vague, scale, info, to_working, weight, rng
):
    info = info or (lambda x: 1 / (x * (1 - x)))
    spec = robustify(informative, vague, weight)
    value, method = effective_sample_size(spec, scale, "elir")
    assert "ELIR" in method

    def working(s):
        f = s.scipy_frozen()
        if to_working == "log":  # a lognormal median is a normal log median
            return stats.norm(s.args["mu"], s.args["sigma"])
        return f

    parts = [(weight, working(informative)), (1 - weight, working(vague))]
    mc, se = elir_monte_carlo(parts, info, rng, unit=scale == "probability")
    assert abs(value - mc) < 5 * se + 1e-3 * abs(mc), (value, mc, se)
    # the informative component's own ESS bounds the mixture's from above here
    assert value < effective_sample_size(informative, scale, "elir")[0]


def test_elir_of_identical_components_is_the_component_ess():
    same = robustify(BETA, BETA, 0.3)
    assert effective_sample_size(same, "probability", "elir")[0] == pytest.approx(40, rel=1e-6)


def test_moment_ess_of_mixture_from_numerical_moments():
    spec = robustify(BETA, FLAT, 0.8)
    pdf = lambda x: 0.8 * stats.beta(34.4, 5.6).pdf(x) + 0.2 * stats.beta(1, 1).pdf(x)  # noqa: E731
    mean = integrate.quad(lambda x: x * pdf(x), 0, 1)[0]
    var = integrate.quad(lambda x: (x - mean) ** 2 * pdf(x), 0, 1)[0]
    value, method = effective_sample_size(spec, "probability", "moment")
    assert value == pytest.approx(mean * (1 - mean) / var - 1, rel=1e-6)
    assert "moment" in method


def test_ess_table_states_both_methods():
    table = ess_table(load_priors(PRIORS / "literature_robust.toml"))
    row = table.set_index(["endpoint", "parameter"]).loc[("disease_control", "p_reference")]
    assert row["moment_method"].startswith("a + b of the moment-matched Beta")
    assert row["elir_method"].startswith("ELIR")
    assert row["ess_moment"] < row["ess_elir"] < 40


# ---------------------------------------------------------------------------------------------
# 3. The robust literature set; robustify; argument swaps.


def test_literature_robust_is_the_literature_set_robustified():
    lit = load_priors(PRIORS / "literature.toml")
    vague = load_priors(PRIORS / "vague.toml")
    robust = load_priors(PRIORS / "literature_robust.toml")
    assert robust.priors.keys() == lit.priors.keys()
    n_robust = 0
    for ep, table in lit.priors.items():
        assert robust.priors[ep].keys() == table.keys()
        for name, spec in table.items():
            got = robust.priors[ep][name]
            assert got.source
            if got.dist == "robust":
                n_robust += 1
                assert got.weight == 0.8
                assert got.informative.dist == spec.dist
                assert got.informative.args == pytest.approx(spec.args, rel=1e-6)
                assert got.vague.dist == vague.priors[ep][name].dist
                assert got.vague.args == pytest.approx(vague.priors[ep][name].args, rel=1e-6)
                assert spec.source[:40] in got.source
            else:
                assert got.dist == spec.dist and got.args == pytest.approx(spec.args)
    assert n_robust == 4 + 2 * 5  # response, toxicity, and five per survival endpoint


def test_with_argument_and_robustify_rules():
    spec = robustify(NORMAL, NORMAL_VAGUE, 0.8)
    assert with_argument(spec, "weight", 0.3).weight == 0.3
    assert with_argument(spec, "sigma", 0.5).informative.args["sigma"] == 0.5
    assert with_argument(spec, "vague_sigma", 3.0).vague.args["sigma"] == 3.0
    assert with_argument(NORMAL, "sigma", 0.1).args == {"mu": -0.17, "sigma": 0.1}
    with pytest.raises(ValueError, match="no argument 'weight'"):
        with_argument(NORMAL, "weight", 0.5)
    with pytest.raises(ValueError, match="must be > 0"):
        with_argument(NORMAL, "sigma", -1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        with_argument(spec, "weight", 1.2)
    with pytest.raises(ValueError, match="already a robust"):
        robustify(spec, NORMAL_VAGUE)


@pytest.mark.parametrize(
    ("name", "informative", "vague"),
    [("median_reference", LOGNORMAL, LOGNORMAL_VAGUE), ("log_hr", NORMAL, NORMAL_VAGUE)],
)
def test_robust_prior_on_survival_parameters_matches_scipy_mixture(name, informative, vague, rng):
    spec = robustify(informative, vague, 0.7)
    with pm.Model() as model:
        make_prior(name, spec)
    logp = model.compile_logp(jacobian=False)
    f1, f2 = informative.scipy_frozen(), vague.scipy_frozen()
    value_name = model.rvs_to_values[model[name]].name
    for x in f1.ppf([0.01, 0.3, 0.5, 0.9]).tolist() + f2.ppf([0.001, 0.999]).tolist():
        point = {value_name: np.log(x) if name.startswith("median") else x}
        expected = np.logaddexp(np.log(0.7) + f1.logpdf(x), np.log(0.3) + f2.logpdf(x))
        assert float(logp(point)) == pytest.approx(expected, rel=1e-9, abs=1e-9)
    draws = pm.draw(model[name], draws=4000, random_seed=rng)
    cdf = lambda x: 0.7 * f1.cdf(x) + 0.3 * f2.cdf(x)  # noqa: E731
    assert stats.kstest(draws, cdf).pvalue > 1e-3
    if name.startswith("median"):
        assert model.rvs_to_transforms[model[name]] is not None  # sampled on the log scale


def test_prior_file_replace_changes_hash_not_file():
    pf = load_priors(PRIORS / "vague.toml")
    new = pf.replace("os", "log_hr", dataclasses.replace(NORMAL, source="x"))
    assert new.priors["os"]["log_hr"].args["sigma"] == 0.34
    assert pf.priors["os"]["log_hr"].args["sigma"] == 1.0
    assert new.sha256 != pf.sha256


# ---------------------------------------------------------------------------------------------
# 4. A robust prior with weight 1 is the informative prior; with weight 0 the vague one.


def quantiles_agree(tree_a, tree_b, name, probs=(0.05, 0.5, 0.95)):
    """Posterior quantiles of ``name`` equal within Monte Carlo error (4 combined MCSEs)."""
    import arviz as az

    a = tree_a.posterior[name]
    b = tree_b.posterior[name]
    for q in probs:
        qa = a.quantile(q, dim=("chain", "draw"))
        qb = b.quantile(q, dim=("chain", "draw"))
        ea = az.mcse(a.to_dataset(name="x"), method="quantile", prob=q)["x"]
        eb = az.mcse(b.to_dataset(name="x"), method="quantile", prob=q)["x"]
        gap = np.abs(qa - qb).values
        tol = 4 * np.sqrt(ea**2 + eb**2).values
        assert np.all(gap < tol), (name, q, gap, tol)


def clearly_differ(tree_a, tree_b, name):
    a = tree_a.posterior[name].median(("chain", "draw")).values
    b = tree_b.posterior[name].median(("chain", "draw")).values
    sd = tree_a.posterior[name].std(("chain", "draw")).values
    return np.any(np.abs(a - b) > 0.5 * sd)


@pytest.mark.slow
def test_robust_beta_weight_one_and_zero_reproduce_plain_priors(fitter):
    from resurv.api import build, load_data
    from resurv.io.modelspec import load_model_spec

    spec = load_model_spec(MODELS / "response.toml")
    study = load_data(STUDY)
    robust = load_priors(PRIORS / "literature_robust.toml")

    def at_weight(w):
        out = robust
        for p in ("p_reference", "p_comparator"):
            out = out.replace(
                "disease_control", p, with_argument(out.priors["disease_control"][p], "weight", w)
            )
        return out

    plain_inf = fitter.sample(build(spec, load_priors(PRIORS / "literature.toml"), study), seed=1)
    plain_vague = fitter.sample(build(spec, load_priors(PRIORS / "vague.toml"), study), seed=2)
    robust_one = fitter.sample(build(spec, at_weight(1.0), study), seed=3)
    robust_zero = fitter.sample(build(spec, at_weight(0.0), study), seed=4)
    quantiles_agree(robust_one, plain_inf, "p")
    quantiles_agree(robust_zero, plain_vague, "p")
    assert clearly_differ(plain_inf, plain_vague, "p")


@pytest.mark.slow
def test_robust_normal_log_hr_weight_one_and_zero_reproduce_plain_priors_ipd_weibull(
    fitter, tmp_path
):
    from resurv.api import build, load_data
    from resurv.io.modelspec import load_model_spec

    spec = load_model_spec(MODELS / "os_weibull.toml")
    study = load_data(simulated_csv(tmp_path / "ipd.csv"))
    vague = load_priors(PRIORS / "vague.toml")
    informative = PriorSpec("normal", {"mu": 0.3, "sigma": 0.15}, "test: far from the data")
    plain_inf = vague.replace("os", "log_hr", informative)
    robust = robustify(informative, vague.priors["os"]["log_hr"], 0.8)

    def robust_at(w):
        return vague.replace("os", "log_hr", with_argument(robust, "weight", w))

    fits = {
        "plain_inf": fitter.sample(build(spec, plain_inf, study), seed=1),
        "plain_vague": fitter.sample(build(spec, vague, study), seed=2),
        "robust_one": fitter.sample(build(spec, robust_at(1.0), study), seed=3),
        "robust_zero": fitter.sample(build(spec, robust_at(0.0), study), seed=4),
    }
    for name in ("log_hr", "median_months", "shape"):
        quantiles_agree(fits["robust_one"], fits["plain_inf"], name)
        quantiles_agree(fits["robust_zero"], fits["plain_vague"], name)
    assert clearly_differ(fits["plain_inf"], fits["plain_vague"], "log_hr")
    for tree in fits.values():
        assert int(tree.sample_stats["diverging"].sum()) == 0
