"""Aggregates across seeds."""

import numpy as np

from jaxil.evaluation import normalized_score
from jaxil.stats import aggregate, bootstrap_ci, iqm


def test_iqm_and_ci():
    x = [1, 2, 3, 4, 5, 6, 7, 100]
    assert iqm(x) == 4.5  # mean of the middle half: 3, 4, 5, 6
    lo, hi = bootstrap_ci(x)
    assert lo <= iqm(x) <= hi and hi - lo > 0
    assert bootstrap_ci([7.0]) == (7.0, 7.0)
    agg = aggregate(x)
    assert agg["mean"] == np.mean(x) and agg["per_seed"] == [float(v) for v in x]


def test_normalized_score():
    assert float(normalized_score(-200.0, -1200.0, -150.0)) == 100 * 1000 / 1050
    assert float(normalized_score(-1200.0, -1200.0, -150.0)) == 0.0
