"""Which published statistics a model cannot reconcile, said in plain words.

Read from a fit's saved groups alone (``observed_data``, ``posterior_predictive``; see
:mod:`resurv.inference.results`): for each published value, the statistic the paper's estimator
gives on one replicate trial per posterior draw. All statistics of one draw come from the same
replicate trial, so the draws also carry the statistics' joint predictive distribution.

**Joint predictive check of a set S of statistics.** Each statistic's draws and its published
value are mapped to normal scores through the draws' own distribution (mid-ranks:
z = Φ⁻¹(F̂(x)), F̂ the empirical CDF counting ties by half), which makes every statistic
continuous-looking and its scale irrelevant; with Σ̂ the covariance of the draws' scores, the
squared Mahalanobis distance d² = zᵀ Σ̂⁻¹ z of the published scores is compared with those of
the draws:

    ppp(S) = P(d²_rep ≥ d²_obs).

For one statistic this is P(|Z_rep| ≥ |z_obs|), the two-sided tail area; for normal draws it is
the χ²_|S| tail area of the published point (Gelman A, Meng XL, Stern H. Statistica Sinica
1996;6:733, posterior predictive discrepancy measures). Draws where any statistic of S is NaN
(not computable in that replicate) are left out.

**Given the others.** The conditional predictive p-value of statistic j in S is its two-sided
mid-rank tail area among the replicate draws nearest to the other statistics' published values
(the ``max(200, R/10)`` draws of smallest Euclidean distance between their normal scores and the
published scores of S∖{j}, every draw at the cut-off distance included: a discrete statistic's
draws at its published value first). The set's conditional p-value is the largest over j: even
the statistic that fits best given the rest is in their tail.

**Conflict.** A set S of at most three statistics whose joint ppp and conditional p-value are
both below ``alpha`` while the ppp of every proper subset is at least ``alpha``: each value is
possible under the model, together they are not. The conditional p-value is what makes it a
conflict between the statistics rather than two tail areas multiplied: for statistics the model
makes independent (the two arms of a fit with separate curves, say) the conditional p-value of
each is its own ppp, so no set of them is flagged, however small their joint ppp. (The joint ppp
alone could not tell: a "median not reached" indicator at its rare value, P = 0.11, holds all
its replicate draws at one normal score, and beside an independent statistic at p 0.10 the
joint ppp was 0.009, about the product.) A statistic whose own ppp is below ``alpha`` is
reported as in the tail by itself.

**Chains in different places.** When the convergence gates fail, the single-statistic ppp is
computed per chain: a statistic typical in one chain's draws and in the tail of another's shows
what each chain's region reproduces and what it gives up. The posterior quantities with the
largest R-hat are named with their chain means; when every chain reproduces every published
statistic, the message says that the published values do not conflict under the model and that
the chains are in regions of the posterior the sampler did not cross.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import xarray as xr
from scipy import special

__all__ = [
    "Conflict",
    "Diagnosis",
    "conditional_ppp",
    "diagnose",
    "joint_ppp",
    "joint_ppp_in",
    "normal_scores",
]

log = logging.getLogger(__name__)

#: A (joint) predictive p-value below this is reported.
ALPHA = 0.01
#: Largest set of statistics checked jointly.
MAX_SET_SIZE = 3
#: Posterior quantities named when the chains disagree.
N_SPLIT_QUANTITIES = 3
#: R-hat above which a quantity's chains disagree (the convergence gate's).
RHAT_SPLIT = 1.01

_PUBLISHED_VAR = "published_statistic"
_STATISTIC_DIM = "statistic"


def normal_scores(draws: np.ndarray, observed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal scores of ``draws`` (R, k) and ``observed`` (k,) through each column's draws.

    Column j: z = Φ⁻¹(F̂_j(x)) with F̂_j(x) = (#{X < x} + ½ #{X = x} + ½) / (R + 1), the same
    map for the draws and for the observed value (ties count half, so a discrete statistic's
    tied draws share one score; ±inf are ordinary ranks).
    """
    draws = np.asarray(draws, dtype=float)
    observed = np.asarray(observed, dtype=float)
    n = draws.shape[0]
    scores = np.empty_like(draws)
    observed_scores = np.empty_like(observed)
    for j in range(draws.shape[1]):
        ordered = np.sort(draws[:, j])

        def cdf(x, ordered=ordered):
            below = np.searchsorted(ordered, x, side="left")
            at_or_below = np.searchsorted(ordered, x, side="right")
            return (below + 0.5 * (at_or_below - below) + 0.5) / (n + 1)

        scores[:, j] = special.ndtri(cdf(draws[:, j]))
        observed_scores[j] = special.ndtri(cdf(observed[j]))
    return scores, observed_scores


def joint_ppp(draws: np.ndarray, observed: np.ndarray) -> float:
    """P(d²_rep ≥ d²_obs): the joint predictive p-value of ``observed`` (k,) among ``draws``.

    Normal scores (:func:`normal_scores`), then the squared Mahalanobis distance with the
    covariance of the draws' scores (its pseudo-inverse when singular). Rows with a NaN are left
    out; NaN when fewer than two rows remain.
    """
    draws = np.asarray(draws, dtype=float)
    if draws.ndim == 1:
        draws = draws[:, None]
    observed = np.atleast_1d(np.asarray(observed, dtype=float))
    draws = draws[~np.isnan(draws).any(axis=1)]
    if draws.shape[0] < 2 or np.isnan(observed).any():
        return float("nan")
    scores, observed_scores = normal_scores(draws, observed)
    precision = np.linalg.pinv(np.atleast_2d(np.cov(scores, rowvar=False)))
    distance = np.einsum("ri,ij,rj->r", scores, precision, scores)
    observed_distance = observed_scores @ precision @ observed_scores
    return float(np.mean(distance >= observed_distance - 1e-9))


#: Fewest replicate draws a conditional predictive p-value is computed from.
MIN_NEIGHBOURS = 200
#: Fraction of the replicate draws a conditional predictive p-value is computed from (at least).
NEIGHBOUR_FRACTION = 0.1


def two_sided_midrank(draws: np.ndarray, observed: float) -> float:
    """2·min(F̂, 1 − F̂) with F̂ the mid-rank CDF of :func:`normal_scores`, at most 1."""
    ordered = np.sort(np.asarray(draws, dtype=float))
    n = ordered.size
    below = np.searchsorted(ordered, observed, side="left")
    at_or_below = np.searchsorted(ordered, observed, side="right")
    cdf = (below + 0.5 * (at_or_below - below) + 0.5) / (n + 1)
    return float(min(1.0, 2.0 * min(cdf, 1.0 - cdf)))


def conditional_ppp(draws: np.ndarray, observed: np.ndarray) -> float:
    """The largest over j of statistic j's predictive p-value given the others (module docstring).

    ``draws`` (R, k), k ≥ 2; rows with a NaN are left out. For each j, the replicate draws whose
    other statistics lie nearest (Euclidean distance of normal scores) to the published ones,
    ``max(MIN_NEIGHBOURS, NEIGHBOUR_FRACTION · R)`` of them with ties at the cut-off included,
    give statistic j's two-sided mid-rank tail area. NaN when fewer than ``MIN_NEIGHBOURS`` rows.
    """
    draws = np.asarray(draws, dtype=float)
    observed = np.asarray(observed, dtype=float)
    draws = draws[~np.isnan(draws).any(axis=1)]
    n, k = draws.shape
    if n < MIN_NEIGHBOURS or k < 2 or np.isnan(observed).any():
        return float("nan")
    scores, observed_scores = normal_scores(draws, observed)
    size = max(MIN_NEIGHBOURS, int(NEIGHBOUR_FRACTION * n))
    values = []
    for j in range(k):
        rest = [i for i in range(k) if i != j]
        distance = np.sqrt(((scores[:, rest] - observed_scores[rest]) ** 2).sum(axis=1))
        cutoff = np.partition(distance, size - 1)[size - 1]
        near = distance <= cutoff + 1e-12
        values.append(two_sided_midrank(draws[near, j], observed[j]))
    return float(max(values))


@dataclass(frozen=True)
class Conflict:
    """Published statistics that are each possible under the model but not all together."""

    statistics: tuple[str, ...]
    published: tuple[float, ...]
    joint_ppp: float
    each_ppp: tuple[float, ...]
    #: the largest over the statistics of each one's predictive p given the others
    conditional_ppp: float = float("nan")

    def sentence(self) -> str:
        """The conflict in words."""
        values = [
            f"{name} = {value:g}"
            for name, value in zip(self.statistics, self.published, strict=True)
        ]
        each = ", ".join(f"{p:.2f}" for p in self.each_ppp)
        return (
            f"{_join(values)} cannot all hold: each alone is plausible in the model's replicate "
            f"trials (predictive p {each}), together they are not (joint predictive p "
            f"{self.joint_ppp:.3f}; each given the others at most {self.conditional_ppp:.3f})"
        )


@dataclass(frozen=True)
class Diagnosis:
    """What the model could not reproduce, and the message that says so (empty: nothing)."""

    conflicts: tuple[Conflict, ...] = ()
    #: (statistic, published, ppp) of the statistics in the tail by themselves
    in_tail: tuple[tuple[str, float, float], ...] = ()
    #: per chain: statistics in that chain's tail (ppp < ALPHA) that another chain reproduces
    chains: tuple[tuple[int, tuple[str, ...]], ...] = ()
    #: (quantity, R-hat, chain means) of the posterior quantities the chains disagree on most
    split: tuple[tuple[str, float, tuple[float, ...]], ...] = ()
    suggestion: str = ""
    message: str = ""
    ppp: dict = field(default_factory=dict)

    @property
    def found(self) -> bool:
        """Whether anything was found."""
        return bool(self.message)

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {
            "message": self.message,
            "conflicts": [
                {
                    "statistics": list(c.statistics),
                    "published": list(c.published),
                    "joint_ppp": c.joint_ppp,
                    "each_ppp": list(c.each_ppp),
                    "conditional_ppp": c.conditional_ppp,
                }
                for c in self.conflicts
            ],
            "in_tail": [{"statistic": s, "published": v, "ppp": p} for s, v, p in self.in_tail],
            "chains": [{"chain": c, "in_tail": list(names)} for c, names in self.chains],
            "split": [{"quantity": q, "rhat": r, "chain_means": list(m)} for q, r, m in self.split],
            "suggestion": self.suggestion,
            "ppp": self.ppp,
        }


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _groups(tree: xr.DataTree) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray] | None:
    """Statistic ids, published values (as checked), predictive draws (chain, draw, k)."""
    if "observed_data" not in tree.children or "posterior_predictive" not in tree.children:
        return None
    observed = tree["observed_data"].to_dataset()
    predictive = tree["posterior_predictive"].to_dataset()
    if _PUBLISHED_VAR not in observed or _PUBLISHED_VAR not in predictive:
        return None
    ids = [str(s) for s in predictive[_STATISTIC_DIM].values.tolist()]
    if not ids:
        return None
    checked = observed[_PUBLISHED_VAR].sel({_STATISTIC_DIM: ids}).values.astype(float)
    printed = observed["published"].sel({_STATISTIC_DIM: ids}).values.astype(float)
    draws = predictive[_PUBLISHED_VAR].transpose("chain", "draw", _STATISTIC_DIM).values
    return ids, checked, printed, np.asarray(draws, dtype=float)


def split_quantities(
    tree: xr.DataTree, n: int = N_SPLIT_QUANTITIES
) -> tuple[tuple[str, float, tuple[float, ...]], ...]:
    """The ``n`` posterior quantities of largest R-hat above :data:`RHAT_SPLIT`, chain means."""
    if "posterior" not in tree.children:
        return ()
    post = tree["posterior"].to_dataset()
    rhat = az.rhat(post)
    rows = []
    for name in rhat.data_vars:
        values = np.atleast_1d(np.asarray(rhat[name].values, dtype=float))
        draws = post[name].values.reshape(post.sizes["chain"], post.sizes["draw"], -1)
        labels = [name] if values.size == 1 else _element_labels(post[name], values.size)
        for k, r in enumerate(values.ravel()):
            if np.isfinite(r) and r > RHAT_SPLIT:
                rows.append((labels[k], float(r), tuple(np.mean(draws[:, :, k], axis=1).tolist())))
    rows.sort(key=lambda row: -row[1])
    return tuple(rows[:n])


def _element_labels(variable: xr.DataArray, size: int) -> list[str]:
    """``name[coordinate]`` per element of a vector quantity (positions where no coordinate)."""
    dims = [d for d in variable.dims if d not in ("chain", "draw")]
    if len(dims) == 1 and dims[0] in variable.coords:
        return [f"{variable.name}[{c}]" for c in variable.coords[dims[0]].values.tolist()]
    return [f"{variable.name}[{k}]" for k in range(size)]


def model_in_words(family: str | None, effect: str | None) -> str:
    """How the model ties the arms together, in words."""
    family = family or "this family"
    return {
        "ph": f"proportional hazards ({family}, one shape for both arms)",
        "aft": f"accelerated failure time ({family}, one shape for both arms)",
        "separate": f"separate {family} curves per arm",
    }.get(effect or "", f"this model ({family})")


def _suggestion(effect: str | None) -> str:
    if effect in ("ph", "aft"):
        return (
            'Refit with each arm its own curve (effect = "separate" in the model file, as '
            "models/pfs_weibull_separate.toml does): the arms are then not tied by one "
            f"{'hazard' if effect == 'ph' else 'time'} ratio, and their curves may cross."
        )
    return "Try another family, or check the published values against the paper."


def diagnose(
    tree: xr.DataTree,
    gates_passed: bool = True,
    *,
    family: str | None = None,
    effect: str | None = None,
    alpha: float = ALPHA,
    max_set_size: int = MAX_SET_SIZE,
) -> Diagnosis:
    """Which published statistics the fit in ``tree`` cannot reconcile (module docstring).

    ``gates_passed``: whether the convergence gates passed (if not, the chains are compared).
    ``family`` and ``effect`` (the model file's) word the message and the suggestion.
    """
    read = _groups(tree)
    if read is None:
        return Diagnosis()
    ids, checked, printed, draws = read
    pooled = draws.reshape(-1, draws.shape[-1])
    single = {s: joint_ppp(pooled[:, [j]], checked[[j]]) for j, s in enumerate(ids)}
    in_tail = tuple(
        (s, float(printed[j]), single[s])
        for j, s in enumerate(ids)
        if np.isfinite(single[s]) and single[s] < alpha
    )
    ok = {s for s in ids if np.isfinite(single[s]) and single[s] >= alpha}
    conflicts: list[Conflict] = []
    failing: list[frozenset] = []
    for size in range(2, max_set_size + 1):
        for combo in itertools.combinations(range(len(ids)), size):
            names = [ids[j] for j in combo]
            if not set(names) <= ok:
                continue
            if any(f <= set(names) for f in failing):
                continue
            p = joint_ppp(pooled[:, list(combo)], checked[list(combo)])
            if not (np.isfinite(p) and p < alpha):
                continue
            given = conditional_ppp(pooled[:, list(combo)], checked[list(combo)])
            if np.isfinite(given) and given < alpha:
                failing.append(frozenset(names))
                conflicts.append(
                    Conflict(
                        statistics=tuple(names),
                        published=tuple(float(printed[j]) for j in combo),
                        joint_ppp=p,
                        each_ppp=tuple(single[n] for n in names),
                        conditional_ppp=given,
                    )
                )
    chains: list[tuple[int, tuple[str, ...]]] = []
    split: tuple = ()
    if not gates_passed and draws.shape[0] > 1:
        split = split_quantities(tree)
        per_chain = np.array(
            [
                [joint_ppp(draws[c, :, [j]].T, checked[[j]]) for j in range(len(ids))]
                for c in range(draws.shape[0])
            ]
        )
        reproduced_somewhere = np.nanmax(per_chain, axis=0) >= alpha
        for c in range(draws.shape[0]):
            lost = [
                ids[j]
                for j in range(len(ids))
                if per_chain[c, j] < alpha and reproduced_somewhere[j]
            ]
            if lost:
                chains.append((c, tuple(lost)))
    if not (conflicts or in_tail or chains or split):
        return Diagnosis(ppp=single)
    model = model_in_words(family, effect)
    if conflicts or in_tail or chains:
        parts = [f"Under {model} the published statistics do not all fit."]
    else:
        parts = [
            f"Under {model} every published statistic is reproduced in every chain (predictive "
            f"p ≥ {alpha:g} in each): the published values do not conflict under this model."
        ]
    for c in conflicts:
        parts.append(c.sentence() + ".")
    if in_tail:
        tails = [f"{s} = {v:g} (predictive p {p:.3f})" for s, v, p in in_tail]
        parts.append(f"In the tail of the model's replicate trials by itself: {_join(tails)}.")
    if chains:
        lost = [f"chain {c} gives up {_join(list(names))}" for c, names in chains]
        parts.append(
            "The chains settled in regions that reproduce different published statistics: "
            + "; ".join(lost)
            + "."
        )
    if split:
        where = [
            f"{q} (R-hat {r:.2f}; chain means {', '.join(f'{m:.3g}' for m in means)})"
            for q, r, means in split
        ]
        parts.append(
            f"The chains disagree most on {_join(where)}: they sampled regions of the posterior "
            "that the sampler did not cross, and the posterior summaries mix them."
        )
    suggestion = _suggestion(effect)
    parts.append(suggestion)
    return Diagnosis(
        conflicts=tuple(conflicts),
        in_tail=in_tail,
        chains=tuple(chains),
        split=split,
        suggestion=suggestion,
        message=" ".join(parts),
        ppp=single,
    )


def joint_ppp_in(tree: xr.DataTree, statistics: tuple[str, ...]) -> float:
    """Joint predictive p-value of the published ``statistics`` in another fit's saved groups.

    The same check as a conflict's (:func:`joint_ppp` of the checked values among the replicate
    draws of ``tree``, all chains pooled): whether that fit's model reproduces these published
    values together. NaN when ``tree`` lacks the groups or any of the statistics.
    """
    read = _groups(tree)
    if read is None:
        return float("nan")
    ids, checked, _, draws = read
    if not set(statistics) <= set(ids):
        return float("nan")
    columns = [ids.index(s) for s in statistics]
    pooled = draws.reshape(-1, draws.shape[-1])
    return joint_ppp(pooled[:, columns], checked[columns])
