"""The report's conclusions: first, with every number equal to the saved draws.

Built from a synthetic sweep folder (draws made with NumPy, no sampling; the fixture of
``test_report.py``): the expected values are computed here from each fit's ``posterior.nc``
with xarray and NumPy, not with the report's code.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from helpers import MODELS
from resurv.report.build import build_report
from test_report import _synthetic_survival_sweep


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The synthetic OS sweep, literature priors primary, the vague fit failing its gates."""
    folder = tmp_path_factory.mktemp("conclusions")
    _synthetic_survival_sweep(folder, np.random.default_rng(20))
    plan = json.loads((folder / "plan.json").read_text())
    plan["primary"] = [{"model": str(MODELS / "os_weibull.toml"), "priors": "literature"}]
    (folder / "plan.json").write_text(json.dumps(plan))
    diag_path = folder / "fits" / "nmc2020_sirt_prrt__os_weibull__vague" / "diagnostics.json"
    diag = json.loads(diag_path.read_text())
    diag.update(passed=False, failures=["max R-hat 1.02 > 1.01"])
    diag_path.write_text(json.dumps(diag))
    build_report(folder)
    return folder


def _expected(folder, priors: str) -> dict[str, tuple[float, ...]]:
    path = folder / "fits" / f"nmc2020_sirt_prrt__os_weibull__{priors}" / "posterior.nc"
    with xr.open_datatree(path) as tree:
        post = tree["posterior"].to_dataset().load()
    hr = post["hr"].values.ravel()
    med = post["median_months"].values.reshape(-1, 2)
    diff = med[:, 1] - med[:, 0]
    return {
        "hazard ratio (comparator / reference)": tuple(np.percentile(hr, [50, 2.5, 97.5])),
        "P(HR < 1)": (np.count_nonzero(hr < 1) / hr.size,),
        "P(HR < 0.8)": (np.count_nonzero(hr < 0.8) / hr.size,),
        "median difference (comparator − reference)": tuple(np.percentile(diff, [50, 2.5, 97.5])),
    }


def test_conclusions_come_first_then_alerts_then_details(built):
    md = (built / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[:3] == [
        "Conclusions",
        "⚠ Convergence gates failed",
        "The study and its published values",
    ]
    html = (built / "index.html").read_text()
    assert html.index("<h2>Conclusions</h2>") < html.index("Convergence gates failed</h2>")
    conclusions = md.split("## Conclusions")[1].split("\n## ")[0]
    # the design caveats of the study file beside the numbers
    assert "non-randomised" in conclusions and "disease extent" in conclusions
    assert "published abstract only" in conclusions
    assert "os_weibull.toml under the prior set 'literature'" in conclusions


def test_every_number_of_the_conclusions_equals_the_saved_draws(built):
    saved = pd.read_csv(built / "conclusions.csv")
    assert set(saved["priors"]) == {"literature", "vague"}
    for priors in ("literature", "vague"):
        rows = saved[saved["priors"] == priors].set_index("quantity")
        expected = _expected(built, priors)
        assert set(rows.index) == set(expected)
        for quantity, values in expected.items():
            got = rows.loc[quantity, ["value", "eti95_lb", "eti95_ub"]].to_numpy(dtype=float)
            np.testing.assert_allclose(got[: len(values)], values, rtol=1e-9)
        assert rows["primary"].all() == (priors == "literature")
        assert rows["gates_passed"].all() == (priors == "literature")

    # the shown table: every number in it is one of the expected values as printed
    md = (built / "report.md").read_text()
    conclusions = md.split("## Conclusions")[1].split("\n## ")[0]
    table = [line for line in conclusions.splitlines() if line.startswith("| os |")]
    assert len(table) == 4
    for line in table:
        cells = [c.strip() for c in line.strip("|").split("|")]
        quantity = cells[2]
        header = conclusions.split("| endpoint | model | quantity |")[1].splitlines()[0]
        order = [c.strip() for c in header.strip("|").split("|")]
        by_priors = dict(zip(order, cells[3:], strict=True))
        for priors, cell in by_priors.items():
            values = _expected(built, priors)[quantity]
            if len(values) == 1:
                printed = [f"{values[0]:.2f}"]
            else:
                printed = [f"{values[0]:.3g}", f"{values[1]:.3g}", f"{values[2]:.3g}"]
            numbers = re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", cell)
            assert numbers == printed, (quantity, priors, cell)
            assert cell.endswith("†") == (priors == "literature")
            assert ("⚠" in cell) == (priors == "vague")


def test_the_sentence_uses_the_primary_analysis_and_leaves_failed_fits_out(built):
    md = (built / "report.md").read_text()
    conclusions = md.split("## Conclusions")[1].split("\n## ")[0]
    sentence = next(s for s in conclusions.splitlines() if s.startswith("OS:"))
    p_lit = _expected(built, "literature")["P(HR < 1)"][0]
    p_vague = _expected(built, "vague")["P(HR < 1)"][0]
    assert "primary analysis (os_weibull × literature)" in sentence
    assert f"is {p_lit:.2f} ({p_lit:.2f} across every gate-passing fit)" in sentence
    if f"{p_vague:.2f}" != f"{p_lit:.2f}":
        assert f"{p_vague:.2f}" not in sentence
    assert "os_weibull × vague" in conclusions.split("⚠ the fit failed")[1]


def test_a_plan_without_a_primary_analysis_says_so(built, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(built, folder)
    plan = json.loads((folder / "plan.json").read_text())
    del plan["primary"]
    (folder / "plan.json").write_text(json.dumps(plan))
    build_report(folder)
    md = (folder / "report.md").read_text()
    conclusions = md.split("## Conclusions")[1].split("\n## ")[0]
    assert "The plan names no primary analysis" in conclusions
    assert "†" not in conclusions
    assert "OS: across the prior sets" in conclusions
