"""Parameter sets shared by the family tests, with their scipy.stats equivalents.

scipy maps (each written from the scipy documentation, not from resurv):
  weibull_min(c=k, scale=m / ln2^(1/k));  lognorm(s, scale=m);  fisk(c=β, scale=m);
  gompertz(c=b/a, scale=1/a) for a > 0 (scipy: S = exp(−c(e^{x} − 1)), x = t/scale);
  gengamma(a=1/Q², c=Q/σ, scale=exp(μ + 2σ log|Q| / Q));  expon(scale=m / ln2).
"""

import math

import numpy as np
from scipy import special, stats

LN2 = math.log(2.0)
CUTS = np.array([3.0, 9.0, 18.0])
LOG_RATES = np.log(np.array([0.02, 0.06, 0.04, 0.09]))
RP_KNOTS = np.array([2.0, 10.0, 30.0, 80.0])

CASES = [
    ("exponential", {"median": 14.0}),
    ("weibull", {"median": 14.0, "shape": 1.6}),
    ("weibull", {"median": 9.0, "shape": 0.55}),
    ("gompertz", {"median": 20.0, "rate_shape": 0.08}),
    ("gompertz", {"median": 10.0, "rate_shape": -0.05}),
    ("gompertz", {"median": 10.0, "rate_shape": 1e-9}),
    ("lognormal", {"median": 16.0, "sdlog": 0.9}),
    ("loglogistic", {"median": 11.0, "shape": 2.2}),
    ("loglogistic", {"median": 11.0, "shape": 0.8}),
    ("gengamma", {"median": 15.0, "sigma": 0.8, "q": 0.9}),
    ("gengamma", {"median": 15.0, "sigma": 0.6, "q": -0.7}),
    ("gengamma", {"median": 15.0, "sigma": 0.5, "q": 2.4}),
    ("gengamma", {"median": 15.0, "sigma": 0.7, "q": 0.02}),
    ("gengamma", {"median": 15.0, "sigma": 0.7, "q": -0.03}),
    ("gengamma", {"median": 15.0, "sigma": 0.7, "q": 0.0}),
    ("pwexp", {"log_rate": LOG_RATES, "cuts": CUTS}),
    ("rp_spline", {"median": 14.0, "spline": np.array([1.6]), "knots": np.array([1.0, 40.0])}),
    (
        "rp_spline",
        {"median": 20.0, "spline": np.array([1.2, 0.05, -0.08]), "knots": RP_KNOTS},
    ),
    ("cure_weibull", {"median": 10.0, "shape": 1.3, "cure_logit": -1.5}),
    ("cure_lognormal", {"median": 12.0, "sdlog": 0.8, "cure_logit": -0.8}),
]
#: Design constants of a family (not parameters): pwexp's cuts, the spline's knots.
CONSTANTS = ("cuts", "knots")


def cure_fraction(params):
    """π = logistic(cure_logit) of a cure case (0 for the other families)."""
    return 1.0 / (1.0 + math.exp(-params["cure_logit"])) if "cure_logit" in params else 0.0


def case_id(case):
    name, params = case
    shown = {k: v for k, v in params.items() if np.ndim(v) == 0}
    return name + "-" + "-".join(f"{k}={v:g}" for k, v in shown.items())


def gompertz_b(median, a):
    """Gompertz rate b from the median (closed form, written independently)."""
    return a * LN2 / math.expm1(a * median)


def scipy_dist(name, params):
    """Frozen scipy distribution for a case, or None where scipy has none."""
    if name == "exponential":
        return stats.expon(scale=params["median"] / LN2)
    if name == "weibull":
        k = params["shape"]
        return stats.weibull_min(c=k, scale=params["median"] / LN2 ** (1 / k))
    if name == "lognormal":
        return stats.lognorm(s=params["sdlog"], scale=params["median"])
    if name == "loglogistic":
        return stats.fisk(c=params["shape"], scale=params["median"])
    if name == "gompertz" and params["rate_shape"] > 1e-6:
        a = params["rate_shape"]
        return stats.gompertz(c=gompertz_b(params["median"], a) / a, scale=1 / a)
    if name == "gengamma" and abs(params["q"]) >= 0.01:
        q, sigma = params["q"], params["sigma"]
        k = 1 / q**2
        # μ from the median: median of log T is μ + σ log(Q² γ½(k)) / Q.
        w_half = math.log(q**2 * special.gammaincinv(k, 0.5)) / q
        mu = math.log(params["median"]) - sigma * w_half
        return stats.gengamma(
            a=k, c=q / sigma, scale=math.exp(mu + 2 * sigma * math.log(abs(q)) / q)
        )
    if name == "rp_spline" and len(params["spline"]) == 1:  # no interior knots: Weibull
        k = params["spline"][0]
        return stats.weibull_min(c=k, scale=params["median"] / LN2 ** (1 / k))
    if name == "gengamma" and params["q"] == 0:
        return stats.lognorm(s=params["sigma"], scale=params["median"])
    return None


def pwexp_reference_cum_hazard(t, log_rate, cuts):
    """H(t) of the piecewise exponential by an explicit loop over intervals."""
    edges = [0.0, *cuts, np.inf]
    rates = np.exp(log_rate)
    total = 0.0
    for j, rate in enumerate(rates):
        lo, hi = edges[j], edges[j + 1]
        if t > lo:
            total += rate * (min(t, hi) - lo)
    return total


def pwexp_reference_hazard(t, log_rate, cuts):
    edges = [0.0, *cuts, np.inf]
    for j in range(len(log_rate)):
        if edges[j] <= t < edges[j + 1]:
            return math.exp(log_rate[j])
    raise ValueError(t)


def median_of(name, params):
    """A scale for time grids: the median (pwexp: solved by bisection on the loop above; a cure
    model: the uncured scipy distribution's quantile at S_u = (1/2 − π)/(1 − π))."""
    if name.startswith("cure_"):
        pi = cure_fraction(params)
        base = {k: v for k, v in params.items() if k != "cure_logit"}
        return float(scipy_dist(name.removeprefix("cure_"), base).isf((0.5 - pi) / (1.0 - pi)))
    if name != "pwexp":
        return params["median"]
    lo, hi = 0.0, 1000.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if pwexp_reference_cum_hazard(mid, params["log_rate"], params["cuts"]) < LN2:
            lo = mid
        else:
            hi = mid
    return lo
