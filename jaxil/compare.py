"""Comparing algorithms across runs and tasks, with rliable (Agarwal et al. 2021).

Each jaxil run directory is one algorithm on one task: its seeds' final scores are the
runs. Runs of one label (by default the algorithm's name) on different envs are that
label's tasks, so a label's scores form the (runs, tasks) array rliable takes. From them:
aggregate metrics (IQM, mean, median, optimality gap) with stratified bootstrap 95% CIs,
performance profiles (the fraction of runs scoring above τ, with CI bands), and the
probability of improvement P(X > Y) between labels. One task's seeds alone are summarized
by :mod:`jaxil.stats` (no rliable import, which takes seconds).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxil.errors import JaxilError

AGGREGATES = ("iqm", "mean", "median", "optimality_gap")
DEFAULT_REPS = 2000


def final_scores(run_dirs: Sequence[str | Path], metric: str = "normalized_score",
                 labels: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """``({label: scores (seeds, tasks)}, tasks)`` from the last evaluation of each run.

    A run's label is its algorithm unless ``labels`` (one per run) says otherwise; its task is
    its env. Every label needs every task once, with as many seeds in each."""
    from jaxil.driver import CONFIG_NAME
    from jaxil.plots import metric_rows

    if labels is not None and len(labels) != len(run_dirs):
        raise JaxilError(f"--labels gives {len(labels)} names for {len(run_dirs)} run directories; give one per run.")
    cells: dict[str, dict[str, list[float]]] = {}
    for i, run in enumerate(run_dirs):
        config_file = Path(run) / CONFIG_NAME
        if not config_file.is_file():
            raise JaxilError(f"{run} is not a jaxil run directory (no {CONFIG_NAME}); pass directories of jaxil train.")
        rows = metric_rows(run, metric)
        config = json.loads(config_file.read_text())
        label, task = (labels[i] if labels is not None else config["algo"]), config["env"]
        if task in cells.setdefault(label, {}):
            raise JaxilError(f"two runs of {label!r} on {task!r}; give them different --labels.")
        last = max(r["chunk"] for r in rows)
        cells[label][task] = [r[metric] for r in sorted(rows, key=lambda r: r["seed"]) if r["chunk"] == last]
    tasks = sorted({t for per_task in cells.values() for t in per_task})
    scores = {}
    for label, per_task in cells.items():
        missing = [t for t in tasks if t not in per_task]
        if missing:
            raise JaxilError(f"{label!r} has no run on {', '.join(missing)}; every label needs a run on every task "
                             f"({', '.join(tasks)}).")
        seeds = {len(v) for v in per_task.values()}
        if len(seeds) > 1:
            raise JaxilError(f"{label!r}'s runs have different numbers of seeds ({sorted(seeds)}); rliable's "
                             "stratified bootstrap needs as many runs on each task.")
        scores[label] = np.array([per_task[t] for t in tasks], np.float64).T
    return scores, tasks


def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed)  # rliable's bootstrap takes a RandomState


def _quiet(fn):
    """rliable 1.2 hands its RandomState to arch under the keyword arch 7 deprecates; the
    numbers are the same, the warning says nothing to a jaxil user."""
    import functools
    import warnings

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="random_state is deprecated", category=FutureWarning)
            return fn(*args, **kwargs)

    return wrapped


@_quiet
def aggregate(scores: dict[str, np.ndarray], reps: int = DEFAULT_REPS, seed: int = 0,
              target: float | None = 100.0) -> dict[str, dict]:
    """Per label: IQM, mean, median and (given a ``target`` score, 100 for normalized scores) the
    optimality gap, the mean shortfall below the target, over all runs of all tasks, each with
    its stratified bootstrap 95% CI (resampling runs within each task)."""
    from rliable import library, metrics

    fns = [metrics.aggregate_iqm, metrics.aggregate_mean, metrics.aggregate_median]
    if target is not None:
        fns.append(lambda x: metrics.aggregate_optimality_gap(x, gamma=target))
    point, interval = library.get_interval_estimates(scores, lambda x: np.array([f(x) for f in fns]), reps=reps,
                                                     random_state=_rng(seed))
    return {label: {name: {"estimate": float(point[label][j]), "ci95": [float(v) for v in interval[label][:, j]]}
                    for j, name in enumerate(AGGREGATES[:len(fns)])} for label in scores}


@_quiet
def performance_profiles(scores: dict[str, np.ndarray], taus: np.ndarray, reps: int = DEFAULT_REPS,
                         seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per label: the fraction of runs (all tasks) scoring above each τ, and its CI band (2, len(τ))."""
    from rliable import library

    profile = lambda x: np.array([library.run_score_deviation(x, tau) for tau in taus])  # noqa: E731
    return library.get_interval_estimates(scores, profile, reps=reps, random_state=_rng(seed))


@_quiet
def probability_of_improvement(scores: dict[str, np.ndarray], reps: int = DEFAULT_REPS,
                               seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """P(X > Y) for every pair of labels "X,Y" (the average over tasks of the chance that a run of
    X scores above a run of Y), with its bootstrap CI."""
    from rliable import library, metrics

    names = list(scores)
    pairs = {f"{x},{y}": (scores[x], scores[y]) for i, x in enumerate(names) for y in names[i + 1:]}
    if not pairs:
        raise JaxilError("the probability of improvement compares two or more labels; pass runs of two algorithms.")
    return library.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=reps,
                                          random_state=_rng(seed))


def plot_comparison(kind: str, scores: dict[str, np.ndarray], tasks: list[str], out: str | Path, metric: str,
                    reps: int = DEFAULT_REPS, seed: int = 0) -> dict:
    """Draw a performance profile (``kind="profile"``) or the probabilities of improvement
    (``"improvement"``) into ``out``; returns the numbers drawn and the aggregates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rliable import plot_utils

    result = {"kind": kind, "metric": metric, "tasks": tasks, "runs": {k: int(v.shape[0]) for k, v in scores.items()},
              "aggregates": aggregate(scores, reps, seed, 100.0 if metric == "normalized_score" else None),
              "bootstrap": {"reps": reps, "seed": seed}}
    if kind == "profile":
        every = np.concatenate([v.ravel() for v in scores.values()])
        taus = np.linspace(min(0.0, every.min()), max(every.max(), 100.0 if metric == "normalized_score" else 0.0), 81)
        profiles, bands = performance_profiles(scores, taus, reps, seed)
        fig, ax = plt.subplots(figsize=(7, 4.5))
        plot_utils.plot_performance_profiles(profiles, taus, performance_profile_cis=bands, ax=ax,
                                             xlabel=f"{metric} (τ)", ylabel="fraction of runs with score > τ")
        ax.legend(ax.get_lines()[:len(scores)], [f"{k} ({v.shape[0]} seeds × {v.shape[1]} tasks)"
                                                 for k, v in scores.items()], loc="lower left")
        result["tau"] = taus.tolist()
        result["profile"] = {k: v.tolist() for k, v in profiles.items()}
    elif kind == "improvement":
        estimates, intervals = probability_of_improvement(scores, reps, seed)
        plot_utils.plot_probability_of_improvement(estimates, intervals, figsize=(5, 1 + 0.6 * len(estimates)))
        fig = plt.gcf()
        result["probability_of_improvement"] = {k: {"estimate": float(v), "ci95": np.ravel(intervals[k]).tolist()}
                                                for k, v in estimates.items()}
    else:
        raise JaxilError(f"unknown comparison {kind!r}; choose profile or improvement.")
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    result["plot"] = str(out)
    return result
