import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(20201242)


@pytest.fixture(scope="session")
def fitter():
    """One compile cache for the whole test session (compile once, sample many)."""
    from resurv.inference.fit import Fitter, SamplerSettings

    return Fitter(SamplerSettings(draws=1500, tune=1000, chains=4))
