"""The posterior report: built from a tiny sweep, rendered in headless Chromium, byte-stable.

The sweep fits the two binomial models under two prior files (the session's compile cache), so
the whole report path runs: tables from the saved CSV files and figures from the saved draws.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from helpers import MODELS, PRIORS, ROOT, STUDY
from resurv.inference.sweep import load_plan, run_plan
from resurv.io.priors import PriorSpec
from resurv.report.build import build_report
from resurv.report.posterior_figures import predictive_panel, prior_density, survival_bands

#: Headings the report must have (the task's list of contents).
HEADINGS = (
    "The study and its published values",
    "Assumptions added to the published values",
    "Calibration of the summary-data likelihood",
    "Prior sets",
    "Published values beside the posterior",
    "Published numbers and how they were used",
    "Prior against posterior",
    "Posterior survival curves",
    "Hazard ratios and time ratios",
    "Model comparison across families",
    "Sensitivity to the prior and the model",
    "Convergence diagnostics",
    "Provenance",
)

ARTIFACTS = ROOT / "test-artifacts"


def _write_plan(folder: Path) -> Path:
    path = folder / "plan.toml"
    path.write_text(
        'name = "tiny"\n'
        f'studies = ["{STUDY}"]\n'
        f"models = {json.dumps([str(MODELS / m) for m in ('response.toml', 'hepatotoxicity.toml')])}\n"
        f"priors = {json.dumps([str(PRIORS / p) for p in ('vague.toml', 'literature.toml')])}\n"
        "seed = 11\n"
    )
    return path


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, fitter):
    """Two sweeps of the same plan and seed into two folders, each with its report."""
    base = tmp_path_factory.mktemp("report")
    plan = load_plan(_write_plan(base))
    out = []
    for name in ("first", "second"):
        folder = base / name
        run_plan(plan, folder, fitter=fitter, command="resurv run plan.toml")
        build_report(folder)
        out.append(folder)
    return out


def _files(folder: Path, pattern: str) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.glob(pattern))}


def test_rerun_with_the_same_seed_gives_identical_tables_and_report(sweeps):
    first, second = sweeps
    tables = _files(first, "**/*.csv")
    assert "sweep.csv" in tables and len(tables) >= 4 * 4
    assert tables == _files(second, "**/*.csv")
    assert _files(first, "figures/*.png") == _files(second, "figures/*.png")
    for name in ("report.md", "index.html"):
        # the same text but for the folder named in the rebuild command
        text = (first / name).read_text().replace(first.as_posix(), second.as_posix())
        assert text == (second / name).read_text(), name


def test_report_rebuild_is_byte_stable_and_has_every_section(sweeps):
    folder = sweeps[0]
    before = {**_files(folder, "report.md"), **_files(folder, "index.html")}
    before.update(_files(folder, "figures/*.png"))
    build_report(folder)
    after = {**_files(folder, "report.md"), **_files(folder, "index.html")}
    after.update(_files(folder, "figures/*.png"))
    assert after == before
    md = (folder / "report.md").read_text()
    html = (folder / "index.html").read_text()
    for heading in HEADINGS:
        assert f"## {heading}\n" in md, heading
        assert f"<h2>{heading}</h2>" in html, heading
    # every figure the Markdown links exists, and the HTML embeds as many
    links = re.findall(r"\]\((figures/[^)]+\.png)\)", md)
    assert links and all((folder / link).is_file() for link in links)
    assert html.count('src="data:image/png;base64,') == len(links)
    assert "http://" not in html and "https://" not in html.replace("https://doi", "")


def test_report_numbers_come_from_the_saved_fits(sweeps):
    folder = sweeps[0]
    md = (folder / "report.md").read_text()
    fit = folder / "fits" / "nmc2020_sirt_prrt__response__literature"
    published = pd.read_csv(fit / "published_vs_posterior.csv")
    # the posterior median of the first published value, formatted as the report formats floats
    assert f"{published['posterior_median'].iloc[0]:.3g}" in md
    # the frequentist values: Clopper-Pearson interval of 13/15 computed here with scipy
    low = stats.beta.ppf(0.025, 13, 3)
    assert f"{low:.3g}" in md
    assert "Calibration was not run" in md
    assert "resurv report" in md and "resurv run plan.toml" in md


def test_failed_gate_is_shown_first(sweeps, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(sweeps[0], folder)
    diag_path = folder / "fits" / "nmc2020_sirt_prrt__hepatotoxicity__vague" / "diagnostics.json"
    diag = json.loads(diag_path.read_text())
    diag.update(passed=False, divergences=3, failures=["3 divergent transitions"])
    diag_path.write_text(json.dumps(diag))
    build_report(folder)
    md = (folder / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[:2] == ["Conclusions", "⚠ Convergence gates failed"]
    # the failed fit stays in the conclusions table, marked, and the legend names it
    conclusions = md.split("## Conclusions")[1].split("\n## ")[0]
    assert "⚠ the fit failed its convergence gates" in conclusions
    assert "hepatotoxicity × vague" in conclusions
    assert "3 divergent transitions" in md.split("## The study")[0]
    html = (folder / "index.html").read_text()
    assert re.search(r'<section id="[a-z-]+" class="alert"><h2>Convergence gates failed', html)
    assert html.index("Convergence gates failed</h2>") < html.index("<h2>The study and its")


def test_a_single_fit_folder_is_reported(sweeps, tmp_path):
    import xarray as xr

    folder = tmp_path / "fit"
    shutil.copytree(sweeps[0] / "fits" / "nmc2020_sirt_prrt__response__literature", folder)
    (folder / "run.json").unlink()  # as `resurv fit --out DIR` leaves it
    build_report(folder)
    md = (folder / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[0] == "Conclusions" and "Provenance" in headings
    saved = pd.read_csv(folder / "conclusions.csv")
    with xr.open_datatree(folder / "posterior.nc") as tree:
        diff = tree["posterior"]["p_difference"].values.ravel()
    row = saved.set_index("quantity").loc["P(comparator proportion > reference)"]
    assert row["value"] == pytest.approx(np.mean(diff > 0), rel=1e-12)
    assert (row["model"], row["priors"]) == ("response", "literature")


def test_report_of_a_folder_without_fits_exits_2(tmp_path, capsys):
    from resurv.cli import main

    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "fit folder (posterior.nc)" in err


def _report_with_calibration(sweeps, tmp_path, model, target, coverage, within):
    """Rebuild a copy of a sweep's report with one calibration/<model>/coverage.csv."""
    folder = tmp_path / "copy"
    shutil.copytree(sweeps[0], folder)
    cal = folder / "calibration" / model
    cal.mkdir(parents=True)
    pd.DataFrame(
        {
            "target": [target, target],
            "nominal": [0.5, 0.95],
            "coverage": coverage,
            "replicates": [200, 200],
            "binomial_se": [0.0354, 0.0154],
            "within_2se": within,
            "sbc_uniformity_p": [0.61, 0.61],
        }
    ).to_csv(cal / "coverage.csv", index=False)
    build_report(folder)
    return (folder / "report.md").read_text()


def test_calibration_table_is_read_when_present(sweeps, tmp_path):
    md = _report_with_calibration(
        sweeps, tmp_path, "os_weibull", "log_hr", [0.4321, 0.9512], [True, True]
    )
    assert "Calibration was not run" not in md
    assert "calibration/os_weibull/coverage.csv" in md and "0.432" in md
    assert "Calibration below nominal" not in md


def test_calibration_record_gives_model_priors_sampler_and_times(sweeps, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(sweeps[0], folder)
    cal = folder / "calibration" / "pfs_weibull_separate"
    cal.mkdir(parents=True)
    pd.DataFrame(
        {
            "target": ["log_hr"],
            "nominal": [0.5],
            "coverage": [0.5],
            "replicates": [200],
            "binomial_se": [0.0354],
            "within_2se": [True],
            "sbc_uniformity_p": [0.5],
        }
    ).to_csv(cal / "coverage.csv", index=False)
    record = {
        "replicates": 200,
        "compile_seconds": {"a": 51.25, "b": 7.5},
        "summary_models": ["a"],
        "total_seconds": 1234.0,
        "replicates_with_divergences": 1,
        "replicates_refitted": 6,
        "sampler": {
            "draws": 500,
            "tune": 500,
            "chains": 2,
            "target_accept": 0.9,
            "cores": 2,
            "target_accept_after_divergences": 0.99,
        },
        "seed": 11,
        "model": {"name": "pfs_weibull_separate"},
        "priors": "priors/literature.toml",
    }
    (cal / "calibration.json").write_text(json.dumps(record))
    build_report(folder)
    md = (folder / "report.md").read_text()
    assert "model pfs_weibull_separate, priors literature.toml, seed 11" in md
    assert "target acceptance 0.9 (0.99 after divergences)" in md
    assert "compiled 1 summary-data model structure(s): 51.2 s" in md
    assert "200 replicates in 1234 s (6.2 s each" in md
    assert "6 sampled again" in md and "1 with divergences in the fit kept" in md
    # a record written before the resampling rule does not claim the settings' value
    del record["sampler"]["target_accept_after_divergences"]
    (cal / "calibration.json").write_text(json.dumps(record))
    build_report(folder)
    md = (folder / "report.md").read_text()
    assert "the model's target acceptance (value not recorded)" in md
    assert "target acceptance 0.9" not in md


@pytest.mark.parametrize(
    ("text", "field"),
    [('{"replicates": 200, "sampl', None), ('{"replicates": 200}', "model"), ("[1, 2]", None)],
)
def test_malformed_calibration_record_is_refused_and_nothing_is_written(
    sweeps, tmp_path, capsys, text, field
):
    from resurv.cli import main

    folder = tmp_path / "copy"
    shutil.copytree(sweeps[0], folder)
    cal = folder / "calibration" / "os_weibull"
    cal.mkdir(parents=True)
    pd.DataFrame(
        {
            "target": ["log_hr"],
            "nominal": [0.5],
            "coverage": [0.5],
            "replicates": [200],
            "binomial_se": [0.0354],
            "within_2se": [True],
            "sbc_uniformity_p": [0.5],
        }
    ).to_csv(cal / "coverage.csv", index=False)
    (cal / "calibration.json").write_text(text)
    before = (folder / "report.md").read_bytes()
    assert main(["report", str(folder)]) == 2
    err = capsys.readouterr().err
    assert str(cal / "calibration.json") in err and (field is None or f": {field}: " in err)
    assert (folder / "report.md").read_bytes() == before


def test_calibration_below_nominal_is_shown_first(sweeps, tmp_path):
    md = _report_with_calibration(
        sweeps, tmp_path, "pfs_weibull_separate", "median_reference", [0.49, 0.865], [True, False]
    )
    top = md.split("## The study")[0]
    assert "## ⚠ Calibration below nominal" in top
    assert "calibration/pfs_weibull_separate" in top and "0.865" in top and "0.49" not in top


# --- figure helpers against independent references ---


def test_prior_density_of_a_robust_mixture_integrates_to_one_and_matches_scipy():
    inf = PriorSpec("normal", {"mu": -0.2, "sigma": 0.3})
    vague = PriorSpec("normal", {"mu": 0.0, "sigma": 2.0})
    spec = PriorSpec("robust", weight=0.7, informative=inf, vague=vague)
    x = np.linspace(-3, 3, 7)
    expected = 0.7 * stats.norm.pdf(x, -0.2, 0.3) + 0.3 * stats.norm.pdf(x, 0, 2)
    np.testing.assert_allclose(prior_density(spec, x), expected, rtol=1e-12)
    total, _ = integrate.quad(lambda v: float(prior_density(spec, v)), -np.inf, np.inf)
    assert total == pytest.approx(1.0, abs=1e-8)
    beta = PriorSpec("beta", {"alpha": 34.4, "beta": 5.6})
    assert prior_density(beta, 0.8) == pytest.approx(stats.beta.pdf(0.8, 34.4, 5.6))


def test_survival_bands_match_direct_quantiles_of_weibull_curves(rng):
    from resurv.families import Curve

    medians = rng.lognormal(np.log(30), 0.2, size=(500, 1))
    shapes = rng.lognormal(0.0, 0.1, size=(500, 1))
    curve = Curve("weibull", {"median": medians, "shape": shapes})
    grid = np.array([0.0, 10.0, 30.0, 60.0])
    med, lo, hi = survival_bands(curve, grid)
    # S(t) = exp(-ln2 (t/m)^k), computed here from the parametrisation by the median
    surv = np.exp(-np.log(2) * (grid[None, :] / medians) ** shapes)
    np.testing.assert_allclose(med, np.quantile(surv, 0.5, axis=0), rtol=1e-10)
    np.testing.assert_allclose(lo, np.quantile(surv, 0.025, axis=0), rtol=1e-10)
    np.testing.assert_allclose(hi, np.quantile(surv, 0.975, axis=0), rtol=1e-10)
    assert med[0] == 1.0 and lo[2] < 0.5 < hi[2]


def test_predictive_panel_draws_infinite_and_nan_draws():
    """A median never reached in any replicate (+inf draws only), or nan draws, still draws."""
    items = [("m · a", np.array([np.inf, np.nan, np.inf]), 3.0), ("z", np.array([np.nan]), 0.5)]
    assert predictive_panel(items, "t").startswith(b"\x89PNG")


# --- rendering in headless Chromium ---

_CHECK_SCRIPT = """<script>
window.__errors = [];
window.addEventListener('error', function (e) {
  window.__errors.push('error event: ' + (e.message || (e.target && e.target.tagName) || '?'));
}, true);
var __consoleError = console.error;
console.error = function () {
  window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
  __consoleError.apply(console, arguments);
};
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var out = {
    images: imgs.length,
    broken: imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).length,
    errors: window.__errors
  };
  var pre = document.createElement('pre');
  pre.id = '__check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""

_BROKEN_IMAGE = '<img alt="broken" src="data:image/png;base64,{}">'.format(
    base64.b64encode(b"not a png").decode()
)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(
        "headless Chromium not installed (scripts/test.sh installs the Debian package "
        "'chromium' when run as root with apt-get)"
    )


def _chromium_args(browser: str, profile: Path) -> list[str]:
    return [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
    ]


def _render_check(browser: str, html_path: Path, profile: Path) -> tuple[dict, str]:
    """Load ``html_path`` with the checking script injected; the check's JSON and stderr."""
    page = html_path.with_name("_checked_" + html_path.name)
    text = html_path.read_text(encoding="utf-8")
    page.write_text(text.replace("<head>", "<head>" + _CHECK_SCRIPT, 1), encoding="utf-8")
    proc = subprocess.run(
        [*_chromium_args(browser, profile), "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    match = re.search(r'<pre id="__check">(.*?)</pre>', proc.stdout, flags=re.S)
    assert match, f"the page did not finish loading; stderr:\n{proc.stderr[-2000:]}"
    import html as html_lib

    return json.loads(html_lib.unescape(match.group(1))), proc.stderr


def _console_errors(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "error" in line.lower())
    ]


def test_index_html_renders_in_headless_chromium(sweeps, tmp_path):
    browser = _chromium()
    folder = sweeps[0]
    check, stderr = _render_check(browser, folder / "index.html", tmp_path / "profile")
    n_figures = len(list((folder / "figures").glob("*.png")))
    assert check["images"] == n_figures > 0
    assert check["broken"] == 0
    assert check["errors"] == []
    assert _console_errors(stderr) == []

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "report_screenshot.png"
    shot.unlink(missing_ok=True)
    subprocess.run(
        [
            *_chromium_args(browser, tmp_path / "profile2"),
            f"--screenshot={shot}",
            "--window-size=1200,4000",
            (folder / "index.html").as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_the_rendering_check_detects_a_broken_image_and_a_console_error(sweeps, tmp_path):
    browser = _chromium()
    page = tmp_path / "index.html"
    text = (sweeps[0] / "index.html").read_text(encoding="utf-8")
    bad = _BROKEN_IMAGE + '<script>console.error("boom"); undefinedFunction();</script>'
    page.write_text(text.replace("</body>", bad + "</body>"), encoding="utf-8")
    check, stderr = _render_check(browser, page, tmp_path / "profile")
    assert check["broken"] == 1
    assert "console.error: boom" in check["errors"]
    assert any("undefinedFunction" in e for e in check["errors"])
    assert any("undefinedFunction" in line for line in _console_errors(stderr))


def _screenshot(browser: str, html_text: str, folder: Path, name: str) -> np.ndarray:
    """Render ``html_text`` in headless Chromium; the screenshot as an RGB array."""
    from PIL import Image

    page = folder / f"{name}.html"
    page.write_text(html_text, encoding="utf-8")
    shot = folder / f"{name}.png"
    subprocess.run(
        [
            *_chromium_args(browser, folder / f"profile_{name}"),
            f"--screenshot={shot}",
            "--window-size=1200,900",
            "--hide-scrollbars",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.is_file(), f"no screenshot of {name}"
    with Image.open(shot) as image:
        return np.asarray(image.convert("RGB"))


def _ink(pixels: np.ndarray) -> float:
    """Share of pixels that are not near-white (text, lines, markers)."""
    return float(np.mean(pixels.min(axis=2) < 200))


def _near(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 40) -> int:
    """Number of pixels within ``tol`` of a colour in every channel."""
    return int(np.count_nonzero(np.all(np.abs(pixels.astype(int) - rgb) <= tol, axis=2)))


def test_conclusions_and_a_figure_render_with_content_in_chromium(sweeps, tmp_path):
    browser = _chromium()
    text = (sweeps[0] / "index.html").read_text(encoding="utf-8")
    head = text[: text.index("<body>") + len("<body>")]
    section = re.search(r'<section id="conclusions">.*?</section>', text, flags=re.S).group(0)
    figure = re.search(r"<figure>.*?</figure>", section, flags=re.S).group(0)
    assert "conclusions" in figure.lower() or "effect" in figure.lower()
    blank = _screenshot(browser, head + "</body></html>", tmp_path, "blank")
    table_only = re.sub(r"<figure>.*?</figure>", "", section, flags=re.S)
    conclusions = _screenshot(browser, head + table_only + "</body></html>", tmp_path, "concl")
    forest = _screenshot(browser, head + figure + "</body></html>", tmp_path, "figure")
    # a blank page has no ink: the checks below can fail
    assert _ink(blank) == 0.0
    # the conclusions: a heading, sentences and a table (dark text and the table's header fill)
    assert _ink(conclusions) > 0.02
    assert _near(conclusions, (0xEE, 0xEE, 0xFF), tol=4) > 1000  # th background
    assert conclusions[:, :, :].min() < 60  # dark text
    # the forest plot: its markers and interval bars in the figure colour, the axes in black
    assert _ink(forest) > 0.005
    assert _near(forest, (0x1F, 0x4E, 0x79)) > 200
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("concl", "figure"):
        shutil.copy(tmp_path / f"{name}.png", ARTIFACTS / f"report_{name}_screenshot.png")


# --- survival sections from synthetic draws (no sampling) ---


def _synthetic_survival_sweep(folder: Path, rng) -> dict:
    """A sweep folder with os_weibull under two prior files, posterior draws made with NumPy.

    The draws are independent draws from each prior (a stand-in for a posterior); the tables
    are what the fit would have written, and ``posterior.nc`` holds what a fit saves beside the
    draws: the predictive groups of the published values and the provenance. Returns the HR
    draws per prior set.
    """
    from resurv.api import build
    from resurv.families import Curve
    from resurv.inference.results import add_predictive_groups, provenance
    from resurv.io.modelspec import load_model_spec
    from resurv.io.priors import load_priors
    from resurv.io.study import load_study

    model = MODELS / "os_weibull.toml"
    prior_paths = [PRIORS / "literature.toml", PRIORS / "vague.toml"]
    arms = ["SIRT alone", "SIRT + PRRT"]
    rows, hrs = [], {}
    for prior_path in prior_paths:
        pf = load_priors(prior_path)
        table = pf.for_endpoint("os")
        n = 400
        draw = {
            p: table[p].scipy_frozen().rvs(size=n, random_state=rng)
            for p in ("median_reference", "shape", "log_hr")
        }
        draw["accrual_months"] = rng.uniform(24, 96, n)
        draw["followup_months"] = rng.uniform(3, 48, n)
        comparator = Curve(
            "weibull",
            {"median": draw["median_reference"], "shape": draw["shape"]},
            effect="ph",
            log_hr=draw["log_hr"],
        )
        medians = np.stack([draw["median_reference"], comparator.median_months()], axis=1)
        hr = np.exp(draw["log_hr"])
        hrs[pf.name] = hr
        shape2 = (2, n // 2)
        data = {k: (("chain", "draw"), v.reshape(shape2)) for k, v in draw.items()}
        data["hr"] = (("chain", "draw"), hr.reshape(shape2))
        data["median_months"] = (("chain", "draw", "arm"), medians.reshape(*shape2, 2))
        import xarray as xr

        post = xr.Dataset(data, coords={"arm": arms})
        fit = folder / "fits" / f"nmc2020_sirt_prrt__os_weibull__{pf.name}"
        fit.mkdir(parents=True)
        tree = xr.DataTree.from_dict({"posterior": post})
        built = build(load_model_spec(model), pf, load_study(STUDY))
        add_predictive_groups(built, tree, seed=3)
        tree.attrs.update(
            provenance(
                model_file=str(model), prior_file=str(prior_path), data_file=str(STUDY), seed=3
            )
        )
        tree.to_netcdf(fit / "posterior.nc")
        record = {
            "study": "nmc2020_sirt_prrt",
            "model": "os_weibull",
            "priors": pf.name,
            "endpoint": "os",
            "family": "weibull",
            "effect": "ph",
            "grid_parameter": "",
            "grid_argument": "",
            "grid_value": float("nan"),
        }
        (fit / "run.json").write_text(json.dumps({**record, "setting": "", "hash": "abc"}))
        (fit / "diagnostics.json").write_text(
            json.dumps(
                {
                    "max_rhat": 1.0,
                    "min_ess_bulk": 900.0,
                    "min_ess_tail": 800.0,
                    "divergences": 0,
                    "passed": True,
                    "failures": [],
                }
            )
        )
        pd.DataFrame(
            {
                "statistic": ["os_median_months", "os_logrank_z"],
                "arm": [arms[0], "between arms"],
                "published": [34.9, -1.23],
                "posterior_median": [np.median(medians[:, 0]), np.nan],
                "ci_low": [np.nan, np.nan],
                "ci_high": [np.nan, np.nan],
                "ppp": [0.41, 0.03],
            }
        ).to_csv(fit / "published_vs_posterior.csv", index=False)
        quantities = {
            "hr": hr,
            "log_hr": draw["log_hr"],
            f"median_months[{arms[0]}]": medians[:, 0],
        }
        for q, v in quantities.items():
            rows.append(
                {
                    **record,
                    "quantity": q,
                    "mean": v.mean(),
                    "sd": v.std(),
                    "ci_low": np.quantile(v, 0.025),
                    "ci_high": np.quantile(v, 0.975),
                    "psense_prior": 0.08,
                    "psense_likelihood": 0.01,
                    "psense_diagnosis": "strong prior / weak likelihood",
                }
            )
        for q, v in (("P(HR < 1)", hr < 1), ("P(HR < 0.7)", hr < 0.7)):
            rows.append({**record, "quantity": q, "mean": v.mean(), "psense_diagnosis": ""})
    pd.DataFrame(rows).to_csv(folder / "sweep.csv", index=False)
    (folder / "plan.json").write_text(
        json.dumps(
            {
                "name": "synthetic",
                "studies": [str(STUDY)],
                "models": [str(model)],
                "priors": [str(p) for p in prior_paths],
                "seed": 3,
                "versions": {"resurv": "test"},
                "hashes": {},
                "command": "resurv run synthetic.toml",
            }
        )
    )
    return hrs


def test_survival_sections_from_saved_draws(tmp_path, rng):
    hrs = _synthetic_survival_sweep(tmp_path, rng)
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    figures = {p.name for p in (tmp_path / "figures").glob("*.png")}
    assert {
        "curves_os_weibull.png",
        "effect_hr.png",
        "prior_posterior_os_weibull.png",
        "ppc_os_weibull_literature.png",
        "forest_os_hr.png",
    } <= figures
    # P(HR < 1) and P(HR < 0.7) as the report prints them, from the draws
    effects = md.split("## Hazard ratios and time ratios")[1].split("\n## ")[0]
    for name, hr in hrs.items():
        line = next(s for s in effects.splitlines() if s.startswith(f"| os_weibull | {name} |"))
        assert f"| {np.mean(hr < 1):.3g} | {np.mean(hr < 0.7):.3g} |" in line
    # ppp side by side per family, and the power-scaling flags
    comparison = md.split("## Model comparison across families")[1].split("\n## ")[0]
    assert "| literature | os_logrank_z | between arms | -1.23 | 0.03 |" in comparison
    assert "strong prior / weak likelihood" in md
    assert "No survival models" not in md


def test_families_are_compared_under_the_prior_sets_that_fit_them_all(tmp_path, rng):
    """A second OS family fitted under the literature priors only: compared there, not as nan."""
    import shutil

    _synthetic_survival_sweep(tmp_path, rng)
    fits = tmp_path / "fits"
    source = fits / "nmc2020_sirt_prrt__os_weibull__literature"
    other = fits / "nmc2020_sirt_prrt__os_weibull_copy__literature"
    shutil.copytree(source, other)
    record = json.loads((other / "run.json").read_text())
    (other / "run.json").write_text(json.dumps({**record, "model": "os_weibull_copy"}))
    table = pd.read_csv(other / "published_vs_posterior.csv")
    table["ppp"] = [0.52, 0.07]
    table.to_csv(other / "published_vs_posterior.csv", index=False)
    model_copy = tmp_path / "os_weibull_copy.toml"
    model_copy.write_text(
        (MODELS / "os_weibull.toml").read_text().replace('"os_weibull"', '"os_weibull_copy"')
    )
    plan = json.loads((tmp_path / "plan.json").read_text())
    plan["models"].append(str(model_copy))
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    build_report(tmp_path)
    md = (tmp_path / "report.md").read_text()
    comparison = md.split("## Model comparison across families")[1].split("\n## ")[0]
    assert "under the prior set(s) 'literature'" in comparison
    assert "| literature | os_logrank_z | between arms | -1.23 | 0.03 | 0.07 |" in comparison
    assert "| vague |" not in comparison and "nan" not in comparison
    assert "fits one family" not in comparison
