"""Propagation of distributions by a Monte Carlo method (JCGM 101:2008), adaptive.

The measurement models the procedures use are the linear budgets of
:mod:`lims.calc.uncertainty`: Y = y + Σ cᵢ·δᵢ, each δᵢ a zero-mean input with standard
uncertainty uᵢ and an assigned distribution (JCGM 101 §6.4):

* normal N(0, u²); a normal input with finite ν (a certificate's U, k with ν_eff)
  and a Type A input (Student t, ν = n − 1) are scaled and shifted t: u·t_ν (§6.4.9);
* rectangular R(−a, a) with a = √3·u; triangular with half-width √6·u;
  arc sine (U-shaped) a·sin θ with a = √2·u, θ ~ R(0, 2π).

:func:`adaptive_mcm` runs batches of M = max(100/(1 − p), 10⁴) trials until twice
the standard deviations of the batch means of y, u(y), y_low and y_high are all
within the numerical tolerance δ of u(y) (§7.9, n_dig significant digits). The
coverage interval is the probabilistically symmetric one (§7.7).
:func:`compare_with_gum` is the validation of §8: the GUM interval y ± U is
validated when both end-point differences d_low and d_high are within δ of the GUM
u(y). So that the MCM's own scatter does not decide the outcome, the MCM runs to a
fifth of that δ (:data:`VALIDATION_TOLERANCE_SHARE`), or until the end-point
differences lie beyond δ (or within it) by more than twice their own scatter.

Random numbers come from a seeded :class:`numpy.random.Generator` (PCG64), so a
result can be reproduced exactly.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from lims.calc._common import CalcError
from lims.calc.uncertainty import Distribution

__all__ = [
    "DEFAULT_SEED",
    "VALIDATION_TOLERANCE_SHARE",
    "GumMcmComparison",
    "McmInput",
    "McmResult",
    "adaptive_mcm",
    "compare_with_gum",
    "coverage_probability_of_k",
    "linear_model",
    "numerical_tolerance",
]

DEFAULT_SEED = 20080901
"""Seed used unless one is given (the month JCGM 101 was published)."""

VALIDATION_TOLERANCE_SHARE = 0.2
"""The MCM run that validates a GUM interval stops at this share of the GUM δ."""

Sampler = Callable[[np.random.Generator, int], NDArray[np.float64]]


@dataclass(frozen=True)
class McmInput:
    """One input of a linear model: its contribution |cᵢ|·uᵢ (output unit) and distribution."""

    name: str
    distribution: Distribution
    scale: float
    """|cᵢ|·uᵢ: the standard uncertainty the input contributes, in the output's unit."""
    dof: float = math.inf

    def __post_init__(self) -> None:
        if not math.isfinite(self.scale) or self.scale < 0:
            raise CalcError(f"MCM input {self.name!r}: contribution must be finite and ≥ 0")
        if math.isnan(self.dof) or self.dof <= 0:
            raise CalcError(f"MCM input {self.name!r}: degrees of freedom must be > 0 or inf")

    @property
    def finite_variance(self) -> bool:
        """False for a t input with ν ≤ 2, whose variance (and so u(y)) does not exist."""
        t_like = self.distribution in (Distribution.STUDENT_T, Distribution.NORMAL)
        return not (t_like and self.dof <= 2)

    def sample(self, rng: np.random.Generator, m: int) -> NDArray[np.float64]:
        """``m`` draws of cᵢ·δᵢ."""
        s = self.scale
        d = self.distribution
        if d in (Distribution.STUDENT_T, Distribution.NORMAL):
            if math.isfinite(self.dof):
                return s * rng.standard_t(self.dof, m)
            return s * rng.standard_normal(m)
        if d is Distribution.RECTANGULAR:
            a = math.sqrt(3.0) * s
            return rng.uniform(-a, a, m)
        if d is Distribution.TRIANGULAR:
            a = math.sqrt(6.0) * s
            return rng.triangular(-a, 0.0, a, m)
        if d is Distribution.U_SHAPED:
            a = math.sqrt(2.0) * s
            return a * np.sin(rng.uniform(0.0, 2.0 * math.pi, m))
        raise CalcError(f"MCM input {self.name!r}: no sampler for {d.value}")


def linear_model(y: float, inputs: Sequence[McmInput]) -> Sampler:
    """A sampler of Y = y + Σ cᵢ·δᵢ."""
    if not inputs:
        raise CalcError("MCM: the model has no inputs")

    def sample(rng: np.random.Generator, m: int) -> NDArray[np.float64]:
        total = np.full(m, float(y))
        for x in inputs:
            total += x.sample(rng, m)
        return total

    return sample


def numerical_tolerance(u: float, n_dig: int = 2) -> float:
    """δ of JCGM 101 §7.9.2: u written as c·10^l with n_dig digits in c; δ = ½·10^l."""
    if not math.isfinite(u) or u <= 0:
        raise CalcError(f"numerical tolerance: u must be positive, got {u!r}")
    if n_dig < 1:
        raise CalcError("numerical tolerance: n_dig must be ≥ 1")
    exponent = math.floor(math.log10(u)) - (n_dig - 1)
    # u rounded to n_dig digits may carry into the next decade (9.96 → 10)
    if round(u / 10**exponent) >= 10**n_dig:
        exponent += 1
    return 0.5 * 10.0**exponent


def coverage_probability_of_k(k: float) -> float:
    """p of a normal distribution for a coverage factor k (k = 2 → 0.9545)."""
    return math.erf(k / math.sqrt(2.0))


def _interval(values: NDArray[np.float64], p: float) -> tuple[float, float]:
    """Probabilistically symmetric interval of sorted ``values`` (JCGM 101 §7.7)."""
    m = values.size
    q = int(p * m + 0.5) if not float(p * m).is_integer() else int(p * m)
    r = (m - q) // 2 if (m - q) % 2 == 0 else (m - q + 1) // 2
    r = max(r, 1)
    return float(values[r - 1]), float(values[min(r + q, m) - 1])


@dataclass(frozen=True)
class McmResult:
    """The outcome of :func:`adaptive_mcm`."""

    y: float
    u: float
    low: float
    high: float
    p: float
    trials: int
    batches: int
    delta: float
    """The tolerance the run stopped at (or aimed for)."""
    converged: bool
    decided_early: bool
    """Stopped before the tolerance because the caller's question was settled."""
    seed: int
    seconds: float


def adaptive_mcm(
    sample: Sampler,
    p: float = 0.95,
    *,
    seed: int = DEFAULT_SEED,
    n_dig: int = 2,
    tolerance: float | None = None,
    max_trials: int = 5_000_000,
    watch_moments: bool = True,
    decided: Callable[[float, float, float], bool] | None = None,
) -> McmResult:
    """Adaptive Monte Carlo (JCGM 101 §7.9) with batches of max(100/(1 − p), 10⁴) trials.

    Stops when 2·s of y, u(y), y_low and y_high (standard deviations of the batch
    results over √h) are all ≤ δ, or when ``max_trials`` is reached (``converged``
    False). δ comes from u(y) with ``n_dig`` significant digits unless an absolute
    ``tolerance`` is given. With ``watch_moments`` False (an input without a variance,
    e.g. t with ν ≤ 2) only the interval's end points are watched: u(y) does not exist
    then and its batch values never settle. ``decided(low, high, spread)`` may end the
    run early (after at least 10 batches) once the question the run answers is settled
    beyond the end points' scatter (``decided_early``). The returned figures come from
    all trials together.
    """
    if tolerance is not None and (not math.isfinite(tolerance) or tolerance <= 0):
        raise CalcError(f"MCM: the tolerance must be positive, got {tolerance!r}")
    if not 0 < p < 1:
        raise CalcError(f"MCM: coverage probability must be between 0 and 1, got {p!r}")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    m = max(math.ceil(100.0 / (1.0 - p)), 10_000)
    batches: list[NDArray[np.float64]] = []
    stats: list[tuple[float, float, float, float]] = []
    converged = stopped_early = False
    delta = math.nan
    while True:
        batch = np.sort(sample(rng, m))
        if not np.all(np.isfinite(batch)):
            raise CalcError("MCM: the model produced a non-finite value")
        batches.append(batch)
        low, high = _interval(batch, p)
        stats.append((float(batch.mean()), float(batch.std(ddof=1)), low, high))
        h = len(stats)
        if h >= 2:
            arr = np.array(stats)
            spread = 2.0 * arr.std(axis=0, ddof=1) / math.sqrt(h)
            if not watch_moments:
                spread = spread[2:]
            u_all = float(np.sqrt(np.mean(arr[:, 1] ** 2)))
            if tolerance is not None:
                delta = tolerance
            else:
                delta = numerical_tolerance(u_all, n_dig) if u_all > 0 else math.inf
            if np.all(spread <= delta):
                converged = True
                break
            if decided is not None and h >= 10:
                ends = 2.0 * arr[:, 2:].std(axis=0, ddof=1) / math.sqrt(h)
                mean_low, mean_high = arr[:, 2].mean(), arr[:, 3].mean()
                if decided(float(mean_low), float(mean_high), float(ends.max())):
                    stopped_early = True
                    break
        if h * m >= max_trials:
            break
    values = np.sort(np.concatenate(batches))
    low, high = _interval(values, p)
    u = float(values.std(ddof=1))
    return McmResult(
        y=float(values.mean()),
        u=u,
        low=low,
        high=high,
        p=p,
        trials=int(values.size),
        batches=len(batches),
        delta=tolerance if tolerance is not None else numerical_tolerance(u, n_dig),
        converged=converged,
        decided_early=stopped_early,
        seed=seed,
        seconds=time.perf_counter() - start,
    )


@dataclass(frozen=True)
class GumMcmComparison:
    """GUM interval y ± U against the MCM interval (JCGM 101 §8)."""

    gum_low: float
    gum_high: float
    mcm: McmResult
    d_low: float
    d_high: float
    delta: float
    """Numerical tolerance of the GUM u(y) (n_dig digits)."""

    @property
    def validated(self) -> bool:
        """Whether both end-point differences are within δ (the GUM interval is validated)."""
        return self.d_low <= self.delta and self.d_high <= self.delta


def compare_with_gum(
    y: float,
    u_c: float,
    k: float,
    inputs: Sequence[McmInput],
    *,
    p: float | None = None,
    seed: int = DEFAULT_SEED,
    n_dig: int = 2,
    max_trials: int = 5_000_000,
) -> GumMcmComparison:
    """Run the adaptive MCM on the linear model and compare with the GUM interval y ± k·u_c.

    ``p`` is the coverage probability the GUM k was chosen for; for a fixed k it is
    the normal probability of k (k = 2: 95.45 %).
    """
    prob = p if p is not None else coverage_probability_of_k(k)
    delta = numerical_tolerance(u_c, n_dig)
    big_u = k * u_c

    def settled(low: float, high: float, spread: float) -> bool:
        # the GUM interval's validation no longer depends on the MCM's own scatter
        margins = (abs(y - big_u - low) - delta, abs(y + big_u - high) - delta)
        return any(m > 2 * spread for m in margins) or all(m < -2 * spread for m in margins)

    result = adaptive_mcm(
        linear_model(y, inputs),
        prob,
        seed=seed,
        tolerance=delta * VALIDATION_TOLERANCE_SHARE,
        max_trials=max_trials,
        watch_moments=all(x.finite_variance for x in inputs),
        decided=settled,
    )
    return GumMcmComparison(
        gum_low=y - big_u,
        gum_high=y + big_u,
        mcm=result,
        d_low=abs(y - big_u - result.low),
        d_high=abs(y + big_u - result.high),
        delta=delta,
    )
