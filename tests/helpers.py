"""Shared test helpers: paths, a shared compile cache, small study-file writers."""

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
