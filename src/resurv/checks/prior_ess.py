"""Prior effective sample size (ESS): how many patients or events a prior is worth.

Two methods, both stated wherever an ESS is shown: the moment method (the ESS of the Beta or
normal with the prior's mean and variance; Schmidli et al., Biometrics 2014;70:1023) and the
expected local-information ratio (ELIR; Neuenschwander, Weber, Schmidli, O'Hagan, Biometrics
2020;76:578), which is predictively consistent for mixtures.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, stats

from resurv.io.priors import PriorFile, PriorSpec

__all__ = ["ESS_SCALES", "effective_sample_size", "ess_table"]

#: The scale on which each parameter's effective sample size is defined (see
#: :func:`effective_sample_size`).
ESS_SCALES = {
    "p_reference": "probability",
    "p_comparator": "probability",
    "log_hr": "log_hr",
    "median_reference": "log_median",
    "median_comparator": "log_median",
}


# Fisher information of one observation on each ESS scale: a patient's response (Bernoulli),
# an event's contribution to log HR (Var(log HR̂) ≈ 4/d with 1:1 allocation, Schoenfeld 1981),
# an event's contribution to a log median (Var(log m̂) ≈ 1/d, exponential model).
_UNIT_INFORMATION = {
    "probability": lambda x: 1.0 / (x * (1.0 - x)),
    "log_hr": lambda x: 0.25 + 0.0 * x,
    "log_median": lambda x: 1.0 + 0.0 * x,
}


def _working_components(spec: PriorSpec, scale: str):
    """(weight, scipy frozen, d log p, d² log p) per component on the ESS scale, or None.

    Medians are handled on the log scale, where a lognormal component is a normal one.
    """
    if spec.dist == "robust":
        parts = [(spec.weight, spec.informative), (1 - spec.weight, spec.vague)]
    else:
        parts = [(1.0, spec)]
    out = []
    for w, c in parts:
        a = c.args
        if scale == "probability" and c.dist == "beta":
            if min(a["alpha"], a["beta"]) < 1:
                return None  # E[i_p / i_F] diverges at the boundary
            al, be = a["alpha"] - 1, a["beta"] - 1
            d1 = lambda x, al=al, be=be: al / x - be / (1 - x)  # noqa: E731
            d2 = lambda x, al=al, be=be: -al / x**2 - be / (1 - x) ** 2  # noqa: E731
            out.append((w, stats.beta(a["alpha"], a["beta"]), d1, d2))
        elif (scale == "log_hr" and c.dist == "normal") or (
            scale == "log_median" and c.dist == "lognormal"
        ):
            mu, var = a["mu"], a["sigma"] ** 2
            d1 = lambda x, mu=mu, var=var: -(x - mu) / var  # noqa: E731
            d2 = lambda x, var=var: -1.0 / var + 0.0 * x  # noqa: E731
            out.append((w, stats.norm(mu, math.sqrt(var)), d1, d2))
        else:
            return None
    return out


def _elir(spec: PriorSpec, scale: str) -> float | None:
    """Expected local-information ratio ESS (Neuenschwander et al. 2020), by quadrature.

    ESS = E_p[i_p(θ) / i_F(θ)], i_p = −(log p)″. For a mixture p = Σ wₖpₖ with
    responsibilities rₖ = wₖpₖ/p: (log p)″ = Σ rₖ((log pₖ)″ + (log pₖ)′²) − ((log p)′)².
    """
    comps = _working_components(spec, scale)
    if comps is None:
        return None
    comps = [c for c in comps if c[0] > 0]
    info = _UNIT_INFORMATION[scale]

    def integrand(x):
        logs = np.array([math.log(w) + f.logpdf(x) for w, f, _, _ in comps])
        log_p = np.logaddexp.reduce(logs)
        r = np.exp(logs - log_p)
        g1 = np.array([d1(x) for _, _, d1, _ in comps])
        g2 = np.array([d2(x) for _, _, _, d2 in comps])
        first = float(r @ g1)
        second = float(r @ (g2 + g1**2)) - first**2
        return math.exp(log_p) * (-second) / info(x)

    lows = [f.ppf(1e-12) for _, f, _, _ in comps]
    highs = [f.isf(1e-12) for _, f, _, _ in comps]
    points = sorted({float(f.median()) for _, f, _, _ in comps})
    value, _ = integrate.quad(integrand, min(lows), max(highs), points=points, limit=200)
    return float(value)


def effective_sample_size(
    spec: PriorSpec, scale: str, method: str = "moment"
) -> tuple[float | None, str]:
    """Prior effective sample size and the method used.

    ``scale`` says what the parameter is: ``"probability"`` (Beta: a + b patients),
    ``"log_hr"`` (Normal on log HR: ≈ 4/σ² events, since Var(log HR̂) ≈ 4/d with 1:1
    allocation), ``"log_median"`` (lognormal on a median: ≈ 1/σ² events, since
    Var(log m̂) ≈ 1/d under an exponential model).

    ``method``:

    - ``"moment"``: the ESS of the single distribution (Beta; normal on the working scale) with
      the prior's mean and variance; for a single Beta or normal it is exact, for a robust mixture
      the simple approximation stated by Schmidli et al. (Biometrics 2014;70:1023);
    - ``"elir"``: the expected local-information ratio of Neuenschwander B, Weber S, Schmidli H,
      O'Hagan A (Biometrics 2020;76:578), E_p[i_p(θ)/i_F(θ)] with i_p = −(log p)″ and i_F the
      Fisher information of one patient or event; it is predictively consistent and equals
      a + b for a Beta and 4/σ² (log HR) or 1/σ² (log median) for a normal. Defined here for
      Beta components (probability, each with a, b ≥ 1) and normal components on the working
      scale (normal log HR, lognormal median), single or mixed.
    """
    if method == "elir":
        value = _elir(spec, scale) if scale in _UNIT_INFORMATION else None
        return (value, "ELIR (Neuenschwander 2020)") if value is not None else (None, "undefined")
    if method != "moment":
        raise ValueError(f"method must be 'moment' or 'elir'; got '{method}'")
    mixture = spec.dist == "robust"
    if scale == "probability":
        mean, var = _moments(spec)
        if var <= 0 or not 0 < mean < 1:
            return None, "undefined"
        ab = mean * (1 - mean) / var - 1
        method_text = "a + b" if spec.dist == "beta" else "a + b of the moment-matched Beta"
        return float(ab), method_text
    if scale == "log_hr":
        _, var = _moments(spec)
        return float(4.0 / var), "4/σ² events" + (" (moment method)" if mixture else "")
    if scale == "log_median":
        if spec.dist == "lognormal":
            return float(1.0 / spec.args["sigma"] ** 2), "1/σ² events (σ of log median)"
        comps = _working_components(spec, scale)
        if comps is None:
            return None, "undefined"
        mean = sum(w * f.mean() for w, f, _, _ in comps)
        var = sum(w * (f.var() + f.mean() ** 2) for w, f, _, _ in comps) - mean**2
        return float(1.0 / var), "1/σ² events of log median (moment method)"
    return None, "undefined"


def _moments(spec: PriorSpec) -> tuple[float, float]:
    if spec.dist == "robust":
        w = spec.weight
        m1, v1 = _moments(spec.informative)
        m2, v2 = _moments(spec.vague)
        mean = w * m1 + (1 - w) * m2
        second = w * (v1 + m1**2) + (1 - w) * (v2 + m2**2)
        return mean, second - mean**2
    frozen = spec.scipy_frozen()
    return float(frozen.mean()), float(frozen.var())


def ess_table(priors: PriorFile):
    """Effective sample size of every prior in a file, by the moment and the ELIR methods.

    Returns a DataFrame with columns ``endpoint, parameter, prior, scale, ess_moment,
    moment_method, ess_elir, elir_method, source`` (ESS empty where undefined).
    """
    import pandas as pd

    rows = []
    for endpoint, table in priors.priors.items():
        for name, spec in table.items():
            scale = ESS_SCALES.get(name, "")
            moment, moment_method = effective_sample_size(spec, scale, "moment")
            elir, elir_method = effective_sample_size(spec, scale, "elir")
            rows.append(
                {
                    "endpoint": endpoint,
                    "parameter": name,
                    "prior": spec.describe(),
                    "scale": scale,
                    "ess_moment": moment,
                    "moment_method": moment_method,
                    "ess_elir": elir,
                    "elir_method": elir_method,
                    "source": spec.source,
                }
            )
    return pd.DataFrame(rows)
