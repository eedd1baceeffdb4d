"""Learning curves across seeds: the mean with a bootstrap 95% band."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def curve_band(values: np.ndarray, n_resamples: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over seeds (axis 0) per point, with a percentile-bootstrap 95% band."""
    values = np.asarray(values, np.float64)
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.shape[0], (n_resamples, values.shape[0]))
    boots = values[idx].mean(axis=1)
    return mean, np.percentile(boots, 2.5, axis=0), np.percentile(boots, 97.5, axis=0)


def plot_curves(ax, steps: Sequence[float], values: np.ndarray, label: str | None = None, color=None):
    """Draw one learning curve: ``values`` is (seeds, points)."""
    mean, lo, hi = curve_band(values)
    (line,) = ax.plot(steps, mean, label=label, color=color)
    ax.fill_between(steps, lo, hi, alpha=0.25, color=line.get_color())
    return line


def curves_from_rows(rows: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """(steps, values (seeds, chunks)) from a run's metrics.csv rows; steps are env steps
    for online algorithms and updates for offline ones."""
    seeds = sorted({r["seed"] for r in rows})
    chunks = sorted({r["chunk"] for r in rows})
    table = {(r["seed"], r["chunk"]): r for r in rows}
    x = "env_steps" if "env_steps" in rows[0] else "step"
    steps = np.array([table[(seeds[0], c)][x] for c in chunks])
    values = np.array([[table[(s, c)][metric] for c in chunks] for s in seeds])
    return steps, values


def metric_rows(run_dir: str | Path, metric: str) -> list[dict]:
    """The metrics.csv rows of a jaxil run directory, which must hold ``metric``."""
    from jaxil.driver import read_metrics
    from jaxil.errors import JaxilError

    rows = read_metrics(run_dir)
    if not rows:
        raise JaxilError(f"{run_dir} has no metrics.csv; pass the directory of a jaxil train run.")
    if metric not in rows[0]:
        raise JaxilError(f"metric {metric!r} is not in {run_dir}/metrics.csv; it has: {', '.join(sorted(rows[0]))}.")
    return rows


def plot_run(run_dirs: str | Path | Sequence[str | Path], metric: str = "normalized_score",
             out: str | Path | None = None, labels: Sequence[str] | None = None) -> Path:
    """Plot ``metric`` of one or more jaxil run directories (one curve each) to ``out``
    (default: the first RUN_DIR/<metric>.png)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dirs = [run_dirs] if isinstance(run_dirs, str | Path) else list(run_dirs)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, run_dir in enumerate(run_dirs):
        rows = metric_rows(run_dir, metric)
        steps, values = curves_from_rows(rows, metric)
        name = labels[i] if labels is not None else Path(run_dir).name
        plot_curves(ax, steps, values, label=f"{name} ({values.shape[0]} seeds)")
    ax.set_xlabel("environment steps" if "env_steps" in rows[0] else "updates")
    ax.set_ylabel(metric)
    ax.legend()
    ax.grid(alpha=0.3)
    out = Path(out) if out is not None else Path(run_dirs[0]) / f"{metric}.png"
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def plot_rewards(out: str | Path, learned: np.ndarray, true: np.ndarray, title: str,
                 grid: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
                 grid_axes: tuple[str, str] = ("angle θ", "angular velocity θ̇"), top_row_first: bool = False) -> Path:
    """A learned reward against the true one: a scatter over evaluation points (each reward
    standardized, since shaping-free rewards agree only up to scale and offset), and with
    ``grid = (x, y, learned (ny, nx), true (ny, nx))`` both as heat maps over two state axes
    (named by ``grid_axes``; ``top_row_first`` draws y = 0 on top, as a gridworld's rows)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    z = lambda r: (np.asarray(r, float) - np.nanmean(r)) / (np.nanstd(r) + 1e-12)  # noqa: E731 (NaN: no cell)
    panels = 1 if grid is None else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    ax.scatter(z(true), z(learned), s=6, alpha=0.5)
    ax.set_xlabel("true reward (standardized)")
    ax.set_ylabel("learned reward (standardized)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if grid is not None:
        x, y, g_learned, g_true = grid
        for a, values, name in ((axes[0, 1], g_true, "true"), (axes[0, 2], g_learned, "learned")):
            image = a.pcolormesh(x, y, z(values), shading="auto")
            a.set_title(f"{name} reward (standardized)")
            a.set_xlabel(grid_axes[0])
            a.set_ylabel(grid_axes[1])
            if top_row_first:
                a.invert_yaxis()
            fig.colorbar(image, ax=a)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return Path(out)
