"""Model files: validation, and the sampler setting a model file may carry."""

import pytest

from helpers import MODELS, PRIORS, STUDY, assert_refused
from resurv.cli import main
from resurv.errors import ModelSpecError
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study
from resurv.models.binomial import build_binomial

BAD_MODELS = [
    ("response.toml", 'likelihood = "binomial"', 'likelihood = "poisson"', "likelihood", "one of"),
    (
        "response.toml",
        'likelihood = "binomial"',
        'likelihood = "binomial"\nfamily = "weibull"',
        "family",
        "applies only to likelihood 'survival'",
    ),
    ("os_weibull.toml", 'family = "weibull"', 'family = "weibul"', "family", "one of"),
    (
        "os_weibull.toml",
        'effect = "ph"',
        'effect = "ph"\ncuts = [12.0]',
        "cuts",
        "applies only to family 'pwexp'",
    ),
    ("os_lognormal.toml", 'effect = "aft"', 'effect = "po"', "effect", "one of"),
    ("os_pwexp.toml", "cuts = [", "cuts = [40.0, 30.0, ", "cuts", "strictly increasing"),
    (
        "os_weibull.toml",
        'effect = "ph"',
        'effect = "ph"\ntarget_accept = 1.0',
        "target_accept",
        "below 1",
    ),
    (
        "os_weibull.toml",
        'effect = "ph"',
        'effect = "ph"\ntarget_accept = 0.3',
        "target_accept",
        "at least 0.5",
    ),
    (
        "os_weibull.toml",
        'effect = "ph"',
        'effect = "ph"\ntarget_accept = "high"',
        "target_accept",
        "must be a number",
    ),
    ("os_weibull.toml", 'effect = "ph"', 'effect = "ph"\nadapt_delta = 0.99', "adapt_delta", ""),
    (
        "os_weibull.toml",
        'effect = "ph"',
        'effect = "ph"\nknots = [6.0, 60.0]',
        "knots",
        "applies only to family 'rp_spline'",
    ),
    ("os_rp_spline.toml", "knots = [6.0, 24.0, 60.0]", "knots = [6.0]", "knots", "two boundary"),
    ("os_rp_spline.toml", "knots = [6.0, 24.0, 60.0]", "", "knots", "missing"),
    (
        "os_rp_spline.toml",
        "knots = [6.0, 24.0, 60.0]",
        "knots = [6.0, 60.0, 24.0]",
        "knots",
        "strictly increasing",
    ),
    ("os_weibull.toml", "draws = 1000", "draws = 0", "draws", "> 0"),
    ("os_weibull.toml", "draws = 1000", "draws = 10.5", "draws", "whole number"),
]


def _edit(tmp_path, name, old, new):
    text = (MODELS / name).read_text()
    assert old in text, f"test setup: {old!r} not in {name}"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(("name", "old", "new", "field", "rule"), BAD_MODELS)
def test_bad_model_file_refused_with_file_field_and_rule(tmp_path, name, old, new, field, rule):
    path = _edit(tmp_path, name, old, new)
    with pytest.raises(ModelSpecError) as err:
        load_model_spec(path)
    message = str(err.value)
    assert str(path) in message and field in message and rule in message


@pytest.mark.parametrize(
    ("name", "old", "new", "field", "rule"), BAD_MODELS[:3] + BAD_MODELS[6:7] + BAD_MODELS[-1:]
)
def test_bad_model_file_cli_exit_2_nothing_written(tmp_path, capsys, name, old, new, field, rule):
    path = _edit(tmp_path, name, old, new)
    out = tmp_path / "out"
    code = main(
        [
            "fit",
            str(path),
            "--data",
            str(STUDY),
            "--priors",
            str(PRIORS / "vague.toml"),
            "--out",
            str(out),
        ]
    )
    assert_refused(code, capsys.readouterr().err, out, str(path), field, rule)


def test_every_bundled_model_and_plan_file_loads():
    import tomllib

    from resurv.inference.sweep import load_plan

    plans = 0
    for path in sorted(MODELS.glob("*.toml")):
        if "studies" in tomllib.loads(path.read_text()):
            plan = load_plan(path)  # an analysis plan: its model files must load too
            assert plan.priors and all(load_model_spec(m).name == m.stem for m in plan.models)
            plans += 1
            continue
        spec = load_model_spec(path)
        assert spec.name == path.stem
    assert plans == 2


def test_target_accept_reaches_the_sampler_but_not_the_compiled_key(tmp_path):
    plain = load_model_spec(MODELS / "response.toml")
    raised = load_model_spec(
        _edit(
            tmp_path,
            "response.toml",
            'likelihood = "binomial"',
            'likelihood = "binomial"\ntarget_accept = 0.99',
        )
    )
    assert plain.target_accept is None and raised.target_accept == 0.99
    # the same graph: one compiled model serves both
    assert plain.key == raised.key
    study, priors = load_study(STUDY), load_priors(PRIORS / "vague.toml")
    assert build_binomial(plain, priors, study).target_accept is None
    assert build_binomial(raised, priors, study).target_accept == 0.99
    assert raised.to_dict()["target_accept"] == 0.99


def test_model_draws_raise_a_fits_draws_but_not_a_simulation_studys(tmp_path):
    """A model file's ``draws``: at least that many per chain in fits; not in the compiled key."""
    from resurv.api import build
    from resurv.inference.fit import Fitter, SamplerSettings

    plain = load_model_spec(MODELS / "response.toml")
    more = load_model_spec(
        _edit(
            tmp_path,
            "response.toml",
            'likelihood = "binomial"',
            'likelihood = "binomial"\ndraws = 900',
        )
    )
    assert plain.draws is None and more.draws == 900 and plain.key == more.key
    study, priors = load_study(STUDY), load_priors(PRIORS / "vague.toml")
    fitter = Fitter(SamplerSettings(draws=500))
    assert fitter.draws(build(plain, priors, study)) == 500
    built = build(more, priors, study)
    assert fitter.draws(built) == 900
    assert fitter.draws(built, posterior_only=True) == 500  # simulation studies set their own
    assert Fitter(SamplerSettings(draws=2000)).draws(built) == 2000  # never lowered
