"""Report sections on prior-data conflict and on how each assumption moves the conclusions."""

import json
from types import SimpleNamespace

import pandas as pd

from resurv.inference.diagnostics import passes_gates
from resurv.report.conflict_sections import (
    conclusions_sensitivity_section,
    prior_conflict_section,
    prior_conflict_table,
)
from resurv.report.document import render_markdown


class _Run:
    """A saved fit as the report sees it: folder files, model, prior set, gates."""

    def __init__(self, folder, model, prior, passed, prior_rows, term_rows=()):
        self.folder, self.model, self.prior_name = folder, model, prior
        self.record = {"setting": ""}
        folder.mkdir(parents=True)
        (folder / "diagnostics.json").write_text(json.dumps({"passed": passed}))
        pd.DataFrame(prior_rows).to_csv(folder / "prior_predictive.csv", index=False)
        if term_rows:
            pd.DataFrame(term_rows).to_csv(folder / "psense_terms.csv", index=False)

    def table(self, name):
        path = self.folder / name
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    def diagnostics(self):
        return json.loads((self.folder / "diagnostics.json").read_text())


def _row(arm, published, p, flag):
    return {
        "statistic": "disease_control_percent",
        "arm": arm,
        "published": published,
        "checked": published,
        "prior_predictive_p": p,
        "method": "density",
        "prior_conflict": flag,
        "prior_median": 80.0,
    }


def test_prior_conflict_table_per_prior_set_with_flags_and_gate_marks(tmp_path):
    runs = [
        _Run(
            tmp_path / "a",
            "response",
            "vague",
            True,
            [_row("SIRT alone", 86.6, 1.0, ""), _row("SIRT + PRRT", 66.6, 0.9, "")],
        ),
        _Run(
            tmp_path / "b",
            "response",
            "literature",
            False,
            [_row("SIRT alone", 86.6, 0.75, ""), _row("SIRT + PRRT", 66.6, 0.118, "tension")],
            [
                {"quantity": "p[SIRT alone]", "term": "events_observed", "psense_likelihood": 0.2},
                {"quantity": "expected_events[x]", "term": "t", "psense_likelihood": 0.5},
            ],
        ),
    ]
    assert passes_gates(runs[0]) and not passes_gates(runs[1]) and passes_gates(tmp_path / "a")
    table = prior_conflict_table(runs)
    assert list(table.columns) == [
        "model",
        "statistic",
        "arm",
        "published",
        "vague",
        "literature (gates failed)",
    ]
    combo = table.set_index("arm").loc["SIRT + PRRT"]
    assert combo["literature (gates failed)"] == "0.118 tension" and combo["vague"] == "0.900"
    md, _ = render_markdown("t", [prior_conflict_section(SimpleNamespace(runs=runs))])
    assert "vague: nothing flagged" in md
    assert "literature: disease_control_percent (SIRT + PRRT) = 66.6: tension, p 0.118" in md
    assert "Likelihood sensitivity per term" in md and "expected_events" not in md


def test_conclusions_table_sets_every_variant_beside_the_others():
    rows = []
    for study, priors, p, passed in [
        ("s", "literature", 0.94, True),
        ("s_followup_narrow", "literature", 0.91, True),
        ("s", "vague", 0.89, False),
    ]:
        base = {"study": study, "model": "os_exponential", "priors": priors, "endpoint": "os"}
        rows.append({**base, "quantity": "P(HR < 1)", "mean": p, "ci_low": p, "ci_high": p})
        rows.append({**base, "quantity": "hr", "mean": 0.7, "ci_low": 0.4, "ci_high": 1.2})
        rows[-1]["gates_passed"] = rows[-2]["gates_passed"] = passed
        rows[-1]["grid_parameter"] = rows[-2]["grid_parameter"] = ""
    results = SimpleNamespace(table=pd.DataFrame(rows), plan={"studies": ["data/s.toml"]})
    section = conclusions_sensitivity_section(results)
    md, _ = render_markdown("t", [section])
    assert "as in the study file" in md and "followup narrow" in md
    assert "0.94" in md and "0.91" in md and "0.7 (0.4 to 1.2)" in md
    assert md.count("FAILED gates") >= 1
    one = SimpleNamespace(table=pd.DataFrame(rows[:2]), plan={"studies": ["data/s.toml"]})
    assert conclusions_sensitivity_section(one) is None  # nothing to compare
