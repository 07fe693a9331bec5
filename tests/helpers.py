"""Shared test helpers: paths, a shared compile cache, small study-file writers, references."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "data" / "studies" / "nmc2020_sirt_prrt.toml"
PRIORS = ROOT / "priors"
MODELS = ROOT / "models"


def edit_study(tmp_path: Path, old: str, new: str, name: str = "study.toml") -> Path:
    """A copy of the bundled study file with one exact text replacement."""
    text = STUDY.read_text()
    assert old in text, f"test setup: {old!r} not in the study file"
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


#: At-risk times (months) of the leukemia trial's digitized curves (benchmarks/public_trials.py).
LEUKEMIA_AT_RISK_TIMES = [0.0, 1.5, 3.0, 4.5, 6.0]


def leukemia_km_study(folder: Path) -> Path:
    """The leukemia trial as two digitized curves (jittered corner points) and at-risk tables.

    Writes each arm's curve CSV and ``leukemia_km.toml`` (the patients' study file with its
    patient data replaced by ``[[km_curve]]`` entries) into ``folder``; returns the study path.
    """
    import numpy as np

    from resurv.reconstruct.digitization import at_risk_numbers, jitter_points, km_points

    frame = np.genfromtxt(
        ROOT / "data" / "examples" / "leukemia" / "patients.csv",
        delimiter=",",
        names=True,
        dtype=None,
        encoding="utf-8",
    )
    rng = np.random.default_rng(1963)
    entries = []
    for arm in ("placebo", "mp6"):
        rows = frame["arm"] == arm
        time, event = frame["time"][rows].astype(float), frame["event"][rows].astype(bool)
        t, s = jitter_points(*km_points(time, event), rng, 0.02, 0.004)
        (folder / f"{arm}.csv").write_text(
            "".join(f"{a:.3f},{100 * b:.2f}\n" for a, b in zip(t, s, strict=True))
        )
        numbers = ", ".join(str(int(k)) for k in at_risk_numbers(time, LEUKEMIA_AT_RISK_TIMES))
        entries.append(
            f'[[km_curve]]\nendpoint = "os"\narm = "{arm}"\nfile = "{arm}.csv"\n'
            f"at_risk_times = {LEUKEMIA_AT_RISK_TIMES}\nat_risk_numbers = [{numbers}]\n"
            f'total_events = {int(event.sum())}\nsurvival_scale = "percent"\n'
        )
    text = (ROOT / "data" / "studies" / "leukemia_patients.toml").read_text()
    text = text[: text.index("[[ipd]]")].replace('id = "leukemia_patients"', 'id = "leukemia_km"')
    path = folder / "leukemia_km.toml"
    path.write_text(text + "\n".join(entries))
    return path


def assert_refused(code: int, err: str, out: Path, *fragments: str) -> None:
    """A command refused bad input: exit 2, a one-line error naming each fragment, nothing written."""
    assert code == 2
    assert err.startswith("error: ") and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists()


def logp_and_dlogp(model):
    """A model's log density and its gradient from one compiled function: point -> (logp, dlogp).

    Same graphs as ``model.compile_logp()`` and ``model.compile_dlogp()`` (Jacobian included,
    summed), compiled once instead of twice.
    """
    fn = model.compile_fn([model.logp(), model.dlogp()])
    return lambda point: tuple(fn(point))


def median_shift_by_quadrature(curve, n, design, m):
    """Small-sample shift of the log KM median (resurv.statistics.median.small_sample_shift), by scipy.

    ``curve`` has ``log_hazard(t, np)`` and ``cum_hazard(t, np)``; m is its median; ``design`` a
    FollowUp of floats. Integrals by QUADPACK, h' by a central difference in log t.
    """
    import numpy as np
    from scipy import integrate as sint

    def hazard(t):
        return np.exp(curve.log_hazard(np.asarray(t, dtype=float), np))

    def survival(t):
        return np.exp(-curve.cum_hazard(np.asarray(t, dtype=float), np))

    accrual, followup = design.accrual_months, design.followup_months
    upper = min(m, accrual + followup)  # the integrals end with follow-up
    points = [followup] if followup < upper else None
    v = (
        sint.quad(
            lambda u: hazard(u) / (n * survival(u) * design.censoring_survival(u)),
            0,
            upper,
            points=points,
            epsabs=0,
            epsrel=1e-11,
        )[0]
        / (m * hazard(m)) ** 2
    )
    step = 1e-5
    elasticity = (np.log(hazard(m * np.exp(step))) - np.log(hazard(m * np.exp(-step)))) / (2 * step)
    censored_first = sint.quad(
        lambda u: survival(u) * design.censoring_density(u),
        0,
        upper,
        points=points,
        epsabs=0,
        epsrel=1e-11,
    )[0]
    curvature = -0.5 * (1 + elasticity - m * hazard(m)) * v
    discreteness = -1.0 / (n * m * hazard(m)) if n % 2 == 0 else 0.0
    return (1 - censored_first) ** n * (curvature + discreteness)


class Weibull:
    """A Weibull curve by its median and shape (NumPy and PyTensor)."""

    def __init__(self, median, shape):
        import numpy as np

        self.shape = shape
        self.rate = np.log(2.0) / median**shape

    def log_hazard(self, t, xp):
        return xp.log(self.rate * self.shape) + (self.shape - 1.0) * xp.log(t)

    def cum_hazard(self, t, xp):
        return self.rate * t**self.shape

    def inv_cum_hazard(self, h):
        return (h / self.rate) ** (1.0 / self.shape)
