"""resurv: Bayesian re-analysis of survival studies from patient data or published summaries.

Importing resurv changes no global setting of PyTensor, numba or matplotlib: resurv compiles its
PyTensor functions with numba's fast-math flags off inside its own compile context
(:func:`resurv.inference.fit.exact_arithmetic`), and draws figures on canvases of their own.
"""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
