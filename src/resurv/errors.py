"""Domain errors and warnings.

Every input error names the file, the field and the rule broken, so the command line can print
one line and exit with code 2.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "InputError",
    "ModelSpecError",
    "PriorSpecError",
    "SamplingError",
    "StudyValidationError",
]


class InputError(ValueError):
    """Bad user input: a file, a field in it, and the rule that it breaks."""

    def __init__(self, file: str | None, field: str | None, rule: str):
        self.file = str(file) if file is not None else None
        self.field = field
        self.rule = rule
        where = ": ".join(p for p in (self.file, self.field) if p)
        super().__init__(f"{where}: {rule}" if where else rule)


class SamplingError(RuntimeError):
    """The sampler failed (no initial point with a finite log density and gradient, or an error).

    The message names the model and the seed; the command line prints it and exits with code 1.
    """


class StudyValidationError(InputError):
    """A study file or an individual-patient-data file breaks a rule."""


class PriorSpecError(InputError):
    """A prior file breaks a rule."""


class ModelSpecError(InputError):
    """A model file breaks a rule."""


class ConvergenceWarning(UserWarning):
    """MCMC diagnostics failed a gate (R-hat, ESS or divergences)."""
