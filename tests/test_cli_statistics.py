"""Every kind of published survival statistic, alone and combined, fitted through the command line.

A small two-arm study (about a hundred patients per arm, known follow-up design) is written into
``tmp_path`` with one set of statistics; ``resurv fit`` runs a small exponential model on it with
a short run and must exit 0 and write every result file. Short runs may fail the convergence gates
(no ``--strict``): the matrix checks that each statistic and each realistic combination builds,
compiles, samples and is written, not the quality of the posterior.

Compile time dominates (each set of statistics is a new model structure), so the default run holds
each kind alone, the reported crash and three realistic abstracts; more combinations are ``slow``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import xarray as xr

from resurv.cli import main

ROOT = Path(__file__).resolve().parents[1]
PRIORS = ROOT / "priors" / "vague.toml"
RESULT_FILES = (
    "posterior.nc",
    "summary.csv",
    "published_vs_posterior.csv",
    "frequentist.csv",
    "diagnostics.json",
)
SHORT_RUN = ["--draws", "60", "--tune", "60", "--chains", "2", "--seed", "5"]

MODEL = """\
name = "os_exponential_small"
endpoint = "os"
likelihood = "survival"
family = "exponential"
effect = "ph"
description = "Small test model: exponential proportional hazards."
rmst_horizons = [24.0]
landmarks = [12.0]
"""

HEADER = """\
reference_arm = "control"
unknown = ["whatever the statistics below leave out"]
reported_without_numbers = []

[study]
id = "matrix"
title = "A two-arm study reporting {title}"
citation = "test matrix"

[[arms]]
id = "control"
n = 100

[[arms]]
id = "treated"
n = 96

[followup]
note = "design values of the test matrix"
accrual_months = 24.0
followup_months = 12.0
dropout_rate = 0.0
"""

# One published statistic per entry: (statistic, fields). Values are plausible for an exponential
# trial with control median 14 months, HR 0.7, accrual 24 and follow-up 12 months.
ENTRIES = {
    "median": [
        ("median", {"arm": "control", "value": 14.0}),
        ("median", {"arm": "treated", "value": 19.5}),
    ],
    "median_ci": [
        ("median", {"arm": "control", "value": 14.0, "ci": [11.2, 17.9]}),
        ("median", {"arm": "treated", "value": 19.5, "ci": [15.0, 25.1]}),
    ],
    "median_not_reached": [
        ("median_not_reached", {"arm": "control"}),
        ("median_not_reached", {"arm": "treated"}),
    ],
    "treated_not_reached": [
        ("median", {"arm": "control", "value": 14.0}),
        ("median_not_reached", {"arm": "treated"}),
    ],
    "rmean": [
        ("rmean", {"arm": "control", "value": 15.8, "spread": 1.1}),
        ("rmean", {"arm": "treated", "value": 18.9, "spread": 1.2, "spread_kind": "se"}),
    ],
    "logrank_signed": [("logrank", {"p_value": 0.04, "better_arm": "treated"})],
    "logrank_unsigned": [("logrank", {"p_value": 0.21})],
    "landmark": [
        ("landmark", {"arm": "control", "value": 0.55, "t_months": 12.0}),
        ("landmark", {"arm": "treated", "value": 0.65, "t_months": 12.0, "ci": [0.55, 0.74]}),
    ],
    "hr": [("hr", {"value": 0.70})],
    "hr_ci_p": [("hr", {"value": 0.70, "ci": [0.51, 0.96], "p_value": 0.027})],
    "events": [
        ("events", {"arm": "control", "value": 70}),
        ("events", {"arm": "treated", "value": 61}),
    ],
    "at_risk": [
        (
            "at_risk",
            {"arm": "control", "times": [0.0, 6.0, 12.0, 24.0], "numbers": [100, 74, 55, 15]},
        ),
        ("at_risk", {"arm": "treated", "times": [6.0, 12.0, 24.0], "numbers": [78, 63, 21]}),
    ],
    "median_followup": [
        ("median_followup", {"value": 23.8, "range": [0.4, 35.6]}),
    ],
    "median_followup_survivors": [
        ("median_followup", {"arm": "treated", "value": 21.6, "method": "survivors"}),
    ],
    # printed uncertainty as data: an upper median limit "NR", a transform, an HR with only a
    # p-value printed as an inequality, a log-rank p kept with its trailing zero
    "median_ci_nr": [
        ("median", {"arm": "control", "value": 14.0, "ci": [11.2, 17.9]}),
        ("median", {"arm": "treated", "value": 19.5, "ci": [15.0, "NR"], "ci_transform": "loglog"}),
    ],
    "hr_p_below": [("hr", {"value": 0.70, "p_value": "<0.05"})],
    "logrank_printed": [("logrank", {"p_value": "0.040", "better_arm": "treated"})],
}


def _toml_value(value) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def study_text(parts: tuple[str, ...]) -> str:
    """A study file with the statistics of ``parts`` (keys of ENTRIES), all for endpoint os."""
    lines = [HEADER.format(title=" + ".join(parts))]
    for part in parts:
        for statistic, fields in ENTRIES[part]:
            lines += ["[[survival]]", 'endpoint = "os"', f'statistic = "{statistic}"']
            lines += [f"{k} = {_toml_value(v)}" for k, v in fields.items()]
            lines.append("")
    return "\n".join(lines)


def fit_through_cli(tmp_path: Path, parts: tuple[str, ...]) -> Path:
    model = tmp_path / "model.toml"
    model.write_text(MODEL, encoding="utf-8")
    study = tmp_path / "study.toml"
    study.write_text(study_text(parts), encoding="utf-8")
    out = tmp_path / "fit"
    argv = ["--quiet", "fit", str(model), "--data", str(study), "--priors", str(PRIORS)]
    code = main([*argv, "--out", str(out), *SHORT_RUN])
    assert code == 0, f"resurv fit exited {code} on a study reporting {parts}"
    return out


def check_written(out: Path, parts: tuple[str, ...]) -> None:
    for name in RESULT_FILES:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    published = pd.read_csv(out / "published_vs_posterior.csv")
    assert len(published) >= 1
    assert published["posterior_median"].notna().any()
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    assert len(summary) >= 1
    tree = xr.open_datatree(out / "posterior.nc")
    try:
        assert {"posterior", "sample_stats", "constant_data"} <= set(tree.children)
        assert tree.posterior.sizes["chain"] == 2 and tree.posterior.sizes["draw"] == 60
        # Every pm.Data container keeps its own length (the crash: one shared dim_0).
        data = tree.constant_data.to_dataset()
        assert len(data.data_vars) >= 1
        for name, array in data.data_vars.items():
            assert all(d.startswith(f"{name}_dim_") for d in array.dims), (name, array.dims)
    finally:
        tree.close()


ALONE = [
    ("median",),
    ("median_not_reached",),
    ("rmean",),
    ("logrank_signed",),
    ("landmark",),
    ("hr",),
    ("events",),
    ("at_risk",),
    ("median_followup",),
]

COMBINED = [
    # The reported crash: both medians, a signed log-rank p and both arms' deaths.
    pytest.param(("median", "logrank_signed", "events"), id="crash-median-logrank-events"),
    # A randomised trial's abstract: medians with CIs and a Cox HR with CI and p.
    pytest.param(("median_ci", "hr_ci_p"), id="rct-median_ci-hr"),
    # Printed uncertainty in its other forms: "NR", a loglog median CI, "P < 0.05" for the HR.
    pytest.param(("median_ci_nr", "hr_p_below"), id="printed-nr-inequality"),
    pytest.param(
        ("median_ci", "logrank_printed", "hr_p_below"),
        id="printed-p-strings",
        marks=pytest.mark.slow,
    ),
    # Immature follow-up: the treated arm's median not reached, landmarks, an unsigned log-rank.
    pytest.param(
        ("treated_not_reached", "landmark", "logrank_unsigned"),
        id="immature-notreached-landmark-logrank",
    ),
    # A typical randomised trial's paper: medians with CIs, HR with CI and p, events, median
    # follow-up and the numbers at risk under the KM plot.
    pytest.param(
        ("median_ci", "hr_ci_p", "events", "median_followup", "at_risk"),
        id="typical-rct-followup-at_risk",
    ),
    pytest.param(
        ("median", "logrank_signed", "median_followup_survivors", "at_risk"),
        id="survivors-followup-at_risk",
        marks=pytest.mark.slow,
    ),
    # The bundled study's PFS: medians not reached, KM means, unsigned log-rank.
    pytest.param(
        ("median_not_reached", "rmean", "logrank_unsigned"),
        id="nmc2020-pfs-like",
        marks=pytest.mark.slow,
    ),
    pytest.param(("median", "hr_ci_p", "events"), id="median-hr-events", marks=pytest.mark.slow),
    pytest.param(("rmean", "landmark", "hr"), id="rmean-landmark-hr", marks=pytest.mark.slow),
    pytest.param(
        ("median_ci", "logrank_signed", "landmark", "hr_ci_p", "events"),
        id="everything-but-means",
        marks=pytest.mark.slow,
    ),
    pytest.param(
        ("treated_not_reached", "rmean", "landmark", "logrank_signed", "hr", "events"),
        id="everything-with-means",
        marks=pytest.mark.slow,
    ),
]


@pytest.mark.parametrize("parts", ALONE, ids=[p[0] for p in ALONE])
def test_each_statistic_alone_fits_through_the_cli(tmp_path, parts):
    out = fit_through_cli(tmp_path, parts)
    check_written(out, parts)


@pytest.mark.parametrize("parts", COMBINED)
def test_realistic_combinations_fit_through_the_cli(tmp_path, parts):
    out = fit_through_cli(tmp_path, parts)
    check_written(out, parts)


def test_every_kind_of_statistic_is_in_the_matrix():
    from resurv.statistics.published import KINDS

    covered = {s for parts in ALONE for part in parts for s, _ in ENTRIES[part]}
    assert covered == set(KINDS)


def test_a_median_beside_not_reached_for_the_same_arm_is_refused(tmp_path, capsys):
    model = tmp_path / "model.toml"
    model.write_text(MODEL, encoding="utf-8")
    study = tmp_path / "study.toml"
    text = study_text(("median",)) + (
        '[[survival]]\nendpoint = "os"\nstatistic = "median_not_reached"\narm = "control"\n'
    )
    study.write_text(text, encoding="utf-8")
    argv = ["--quiet", "fit", str(model), "--data", str(study), "--priors", str(PRIORS)]
    assert main([*argv, "--out", str(tmp_path / "fit"), *SHORT_RUN]) == 2
    err = capsys.readouterr().err
    assert "study.toml" in err and "survival[2]" in err and "not reached" in err
    assert not (tmp_path / "fit").exists()


BAD_PRINTED_UNCERTAINTY = [
    ("hr", {"value": 0.7, "p_value": "<0"}, "p_value", "strictly between 0 and 1"),
    ("hr", {"value": 0.7, "p_value": "<1.5"}, "p_value", "strictly between 0 and 1"),
    ("hr", {"value": 0.7, "ci": [0.5, 0.9], "p_value": "NS"}, "p_value", "excludes 1"),
    ("hr", {"value": 1.0, "p_value": 0.03, "p_test": "logrank"}, "p_test", "no direction"),
    ("median", {"arm": "control", "value": 14.0, "ci": [15.0, "NR"]}, "ci", "does not contain"),
    (
        "median",
        {"arm": "control", "value": 14.0, "ci": [11.0, 17.0], "ci_transform": "arcsine"},
        "ci_transform",
        "must be one of",
    ),
    ("logrank", {"p_value": ">1.5"}, "p_value", "strictly between 0 and 1"),
    ("logrank", {"p_value": "maybe"}, "p_value", "must be a number"),
]


@pytest.mark.parametrize(
    ("statistic", "fields", "field", "rule"),
    BAD_PRINTED_UNCERTAINTY,
    ids=[f"{s}-{f}-{i}" for i, (s, _, f, _) in enumerate(BAD_PRINTED_UNCERTAINTY)],
)
def test_bad_printed_uncertainty_is_refused_with_exit_2(
    tmp_path, capsys, statistic, fields, field, rule
):
    model = tmp_path / "model.toml"
    model.write_text(MODEL, encoding="utf-8")
    study = tmp_path / "study.toml"
    lines = [HEADER.format(title="a bad print"), "[[survival]]", 'endpoint = "os"']
    lines += [f'statistic = "{statistic}"'] + [f"{k} = {_toml_value(v)}" for k, v in fields.items()]
    study.write_text("\n".join(lines) + "\n", encoding="utf-8")
    argv = ["--quiet", "fit", str(model), "--data", str(study), "--priors", str(PRIORS)]
    assert main([*argv, "--out", str(tmp_path / "fit"), *SHORT_RUN]) == 2
    err = capsys.readouterr().err
    assert "study.toml" in err and f"survival[0].{field}" in err and rule in err, err
    assert not (tmp_path / "fit").exists()


def test_a_logrank_p_given_twice_is_refused_naming_both(tmp_path, capsys):
    model = tmp_path / "model.toml"
    model.write_text(MODEL, encoding="utf-8")
    study = tmp_path / "study.toml"
    text = study_text(("logrank_signed",)) + (
        '[[survival]]\nendpoint = "os"\nstatistic = "hr"\nvalue = 0.7\np_value = 0.04\n'
        'p_test = "logrank"\n'
    )
    study.write_text(text, encoding="utf-8")
    argv = ["--quiet", "fit", str(model), "--data", str(study), "--priors", str(PRIORS)]
    assert main([*argv, "--out", str(tmp_path / "fit"), *SHORT_RUN]) == 2
    err = capsys.readouterr().err
    assert "study.toml" in err and "survival[1]" in err and "survival[0]" in err, err
    assert "log-rank p once" in err
