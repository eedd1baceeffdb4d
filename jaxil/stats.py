"""Aggregates across the seeds of one run: mean, interquartile mean and a bootstrap 95% CI.

Across runs of several tasks (stratified bootstrap, performance profiles, probability of
improvement) jaxil uses rliable: :mod:`jaxil.compare`. This stays for the one-task summary
every run writes, without rliable's seconds-long import."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats


def iqm(x: Sequence[float]) -> float:
    """Interquartile mean: the mean of the middle 50% (25% trimmed from each end)."""
    return float(stats.trim_mean(np.asarray(x, np.float64), 0.25))


def bootstrap_ci(
    x: Sequence[float], statistic=iqm, confidence: float = 0.95, n_resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` over seeds (degenerate for one seed)."""
    x = np.asarray(x, np.float64)
    if x.size < 2 or np.all(x == x[0]):
        v = float(statistic(x))
        return v, v
    res = stats.bootstrap(
        (x,),
        lambda s, axis=-1: np.apply_along_axis(statistic, axis, s),
        confidence_level=confidence,
        n_resamples=n_resamples,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def aggregate(per_seed: Sequence[float]) -> dict:
    """``{mean, iqm, ci95, per_seed}`` for one quantity measured once per seed."""
    x = [float(v) for v in per_seed]
    return {"mean": float(np.mean(x)), "iqm": iqm(x), "ci95": list(bootstrap_ci(x)), "per_seed": x}
