"""Power-scaling sensitivity: flags in constructed prior-data conflicts, none under vague priors."""

import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from helpers import MODELS, STUDY
from resurv.api import build
from resurv.checks.sensitivity import diagnose, power_scaling, power_scaling_by_term
from resurv.io.modelspec import load_model_spec
from resurv.io.priors import load_priors
from resurv.io.study import load_study


def prior_file(tmp_path, name, alpha, beta):
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\n'
        + "".join(
            f'[disease_control.{p}]\ndist = "beta"\nalpha = {alpha}\nbeta = {beta}\n'
            f'source = "test"\n'
            for p in ("p_reference", "p_comparator")
        )
    )
    return load_priors(path)


def big_study(tmp_path):
    """The bundled study with 20 times the patients and 10% disease control in both arms."""
    text = STUDY.read_text()
    for old, new in [
        ("n = 15\n", "n = 300\n"),
        ("n = 12\n", "n = 240\n"),
        ("events = 13\n", "events = 30\n"),
        ("events = 8\n", "events = 24\n"),
    ]:
        assert text.count(old) == 1
        text = text.replace(old, new)
    # the printed percentages belong to the real counts
    text = re.sub(r"(?m)^published_percent = .*\n", "", text)
    path = tmp_path / "big.toml"
    path.write_text(text)
    return load_study(path)


@pytest.fixture(scope="module")
def fits(fitter, tmp_path_factory):
    """Binomial fits: strong prior far from strong data, vague prior, strong prior + weak data."""
    tmp = tmp_path_factory.mktemp("psense")
    spec = load_model_spec(MODELS / "response.toml")
    strong = prior_file(tmp, "strong", 900, 100)  # mean 0.9, ESS 1000
    vague = prior_file(tmp, "weak", 2, 2)
    uniform = prior_file(tmp, "uniform", 1, 1)
    big, small = big_study(tmp), load_study(STUDY)
    return {
        "conflict": fitter.sample(build(spec, strong, big), seed=1),
        "vague": fitter.sample(build(spec, vague, big), seed=2),
        "weak_data": fitter.sample(build(spec, strong, small), seed=3),
        "uniform": fitter.sample(build(spec, uniform, big), seed=4),
    }


def test_conflict_is_flagged(fits):
    table = power_scaling(fits["conflict"], ["p"])
    assert set(table.index) == {"p[SIRT alone]", "p[SIRT + PRRT]"}
    assert (table["psense_diagnosis"] == "prior-data conflict").all(), table
    assert (table["psense_prior"] > 0.05).all() and (table["psense_likelihood"] > 0.05).all()


def test_no_flag_under_vague_prior(fits):
    table = power_scaling(fits["vague"], ["p", "p_difference", "odds_ratio"])
    assert (table["psense_diagnosis"] == "ok").all(), table
    assert (table["psense_prior"] < 0.05).all()
    assert (table["psense_likelihood"] > 0.05).all()


def test_strong_prior_weak_likelihood(fits):
    table = power_scaling(fits["weak_data"], ["p"])
    assert (table["psense_diagnosis"] == "strong prior / weak likelihood").all(), table


def test_uniform_prior_has_zero_prior_sensitivity(fits):
    table = power_scaling(fits["uniform"], ["p"])
    assert (table["psense_prior"] == 0).all()
    assert (table["psense_diagnosis"] == "ok").all()


def test_per_term_scaling_of_the_only_term_equals_likelihood_scaling(fits):
    tree = fits["conflict"]
    whole = power_scaling(tree, ["p"])
    by_term = power_scaling_by_term(tree, ["events_observed"], ["p"]).set_index("quantity")
    assert np.allclose(by_term.loc[whole.index, "psense_likelihood"], whole["psense_likelihood"])
    assert set(by_term["term"]) == {"events_observed"}
    with pytest.raises(ValueError, match="no log-likelihood term 'nonsense'"):
        power_scaling_by_term(tree, ["nonsense"])


def test_missing_groups_are_refused(fits):
    tree = fits["vague"].copy()
    del tree["log_prior"]
    with pytest.raises(ValueError, match="log_prior"):
        power_scaling(tree)


@pytest.mark.parametrize(
    ("prior", "likelihood", "expected"),
    [
        (0.06, 0.06, "prior-data conflict"),
        (0.05, 0.05, "prior-data conflict"),
        (0.2, 0.01, "strong prior / weak likelihood"),
        (0.01, 0.3, "ok"),
        (0.01, 0.01, "ok"),
    ],
)
def test_diagnosis_rule(prior, likelihood, expected):
    assert diagnose(prior, likelihood) == expected


def split_by_arm(tree):
    """The binomial fit with its one likelihood term split into one term per arm."""
    tree = tree.copy()
    ll = tree["log_likelihood"].to_dataset()["events_observed"]
    tree["log_likelihood"] = xr.DataTree(
        xr.Dataset(
            {
                "events_reference": ll.isel(arm=0, drop=True),
                "events_comparator": ll.isel(arm=1, drop=True),
            }
        )
    )
    return tree


def test_each_arm_term_moves_only_its_own_arm(fits):
    # independent priors per arm: arm 0's likelihood carries no information on p in arm 1
    tree = split_by_arm(fits["vague"])
    table = power_scaling_by_term(
        tree, ["events_reference", "events_comparator", ["events_reference", "events_comparator"]]
    ).set_index(["term", "quantity"])["psense_likelihood"]
    assert table[("events_reference", "p[SIRT alone]")] > 0.05
    assert table[("events_reference", "p[SIRT + PRRT]")] < 0.02
    assert table[("events_comparator", "p[SIRT + PRRT]")] > 0.05
    assert table[("events_comparator", "p[SIRT alone]")] < 0.02
    whole = power_scaling(fits["vague"], ["p"])["psense_likelihood"]
    both = table.xs("events_reference+events_comparator", level="term")
    assert np.allclose(both[whole.index], whole)


def test_a_term_that_barely_varies_has_zero_sensitivity(fits):
    """A term like log P(observed at a median far inside follow-up) ≈ −1e-15 in every draw."""
    tree = split_by_arm(fits["vague"])
    ll = tree["log_likelihood"].to_dataset()
    tiny = -1e-15 * (1.0 + np.random.default_rng(0).random(ll["events_reference"].shape))
    tree["log_likelihood"] = xr.DataTree(ll.assign(support=(ll["events_reference"].dims, tiny)))
    table = power_scaling_by_term(tree, ["support", "events_reference"]).set_index(
        ["term", "quantity"]
    )["psense_likelihood"]
    assert (table.xs("support", level="term") == 0.0).all()
    assert table[("events_reference", "p[SIRT alone]")] > 0.05


def test_sweep_run_with_several_terms_writes_per_term_table(fits, tmp_path):
    from resurv.inference.sweep import _write_psense

    table = _write_psense(split_by_arm(fits["vague"]), ["p"], tmp_path)
    assert (tmp_path / "psense.csv").is_file()
    terms = pd.read_csv(tmp_path / "psense_terms.csv")
    assert set(terms["term"]) == {"events_reference", "events_comparator"}
    assert set(table.index) == {"p[SIRT alone]", "p[SIRT + PRRT]"}
