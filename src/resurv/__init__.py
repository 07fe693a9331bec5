"""resurv: Bayesian re-analysis of survival studies from patient data or published summaries.

Importing resurv turns off PyTensor's numba fast-math flags (``pytensor.config.numba__fastmath``).
With them on, a model's compiled log density rounds differently depending on whether its
kernels were compiled in this process or loaded from PyTensor's on-disk cache, so the same
seed gave different draws on a fresh machine than on one that had fitted the model before.
Without them a fit is a function of (model, priors, data, seed) alone; the cost in sampling
speed is measured by ``benchmarks/bench_fastmath.py``.
"""

import logging

import pytensor

__version__ = "0.1.0"

pytensor.config.numba__fastmath = False

logging.getLogger(__name__).addHandler(logging.NullHandler())
