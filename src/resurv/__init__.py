"""resurv: Bayesian re-analysis of survival studies from patient data or published summaries."""

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
