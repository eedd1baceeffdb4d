"""Hyperparameter sweeps as one program: a grid over a Config's fields times seeds.

A grid over float hyperparameters (the Config's pytree leaves) is a vmap: every run (grid
point × seed) carries its own Config, and the driver runs them as it runs seeds (vmapped
and spread over devices on accelerators, one compiled program called per run on CPU),
with the same checkpoints and exact resume. Grid values of static fields (sizes, network
shapes, names) change the program, so each combination of them is its own program (a
"group"), run one after another.

    from jaxil import sweep
    result = sweep.run("iqlearn", "pendulum", {"actor_lr": [3e-4, 1e-3], "gp_weight": [1.0, 10.0]},
                       seeds=[0, 1], out="runs/sweep", overrides=dict(steps=2000, eval_every=1000))
    result["table"]                 # per grid point: IQM, 95% CI, mean, per-seed finals

``jaxil sweep ALGO --env ENV --grid lr=1e-4,3e-4 --grid gp_weight=1,10 --seeds 4`` is the
same from the command line; both write ``table.csv``, ``table.md``, a plot of the final
score per grid point and ``sweep.json`` (the runs: grid point and seed per run id) into
the output directory.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxil.configs import config_to_json
from jaxil.errors import JaxilError
from jaxil.loop import Carry, Train


def parse_grid(specs: Sequence[str], config_class) -> dict[str, list]:
    """``["lr=1e-4,3e-4", "gp_weight=1,10"]`` -> ``{"lr": [1e-4, 3e-4], "gp_weight": [1.0, 10.0]}``,
    each value of its field's type."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    grid: dict[str, list] = {}
    for spec in specs:
        name, sep, values = spec.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values.strip():
            raise JaxilError(f"--grid takes NAME=V1,V2,... (e.g. lr=1e-4,3e-4), got {spec!r}.")
        if name not in fields:
            raise JaxilError(f"--grid {spec!r}: {config_class.__module__}.Config has no field {name!r}; fields: "
                             f"{', '.join(fields)}.")
        if name in grid:
            raise JaxilError(f"--grid names {name!r} twice; give all its values in one --grid.")
        default = fields[name].default
        kind = type(default) if isinstance(default, (bool, int, float, str)) else None
        if kind is None:
            raise JaxilError(f"--grid {name}: only fields holding one number or name can be swept (default {default!r}).")
        grid[name] = [_value(kind, v.strip(), name) for v in values.split(",")]
    return grid


def _value(kind: type, text: str, name: str):
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(text)
            return text.lower() == "true"
        return kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise JaxilError(f"--grid {name}: {text!r} is not a {kind.__name__}.") from None


def points(grid: dict[str, list]) -> list[dict]:
    """Every combination of the grid's values, the first field varying slowest."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def static_names(config) -> set[str]:
    return {f.name for f in dataclasses.fields(config) if not f.metadata.get("pytree_node", True)}


def point_configs(base, grid: dict[str, list]) -> list:
    """The Config of every grid point, each validated (a bad value names its point)."""
    out = []
    for p in points(grid):
        try:
            out.append(base.replace(**p))
        except JaxilError as err:
            raise JaxilError(f"grid point {p}: {err}") from None
    return out


@dataclasses.dataclass(frozen=True)
class SweepTrain:
    """A :class:`jaxil.loop.Train` over runs (grid point × seed): each run's carry holds
    its Config beside the algorithm's state, and every chunk rebuilds the algorithm's
    Train from it (``make(config)``; traced under vmap), so one program serves all runs."""

    make: Callable[[Any], Train]
    configs: Any  # Config with leaves stacked over runs
    seeds: tuple[int, ...]  # the seed of each run

    @property
    def base(self) -> Train:
        return self.make(jax.tree.map(lambda x: x[0], self.configs))

    @property
    def num_chunks(self) -> int:
        return self.base.num_chunks

    @property
    def steps_per_chunk(self) -> int:
        return self.base.steps_per_chunk

    @property
    def problem(self):
        return self.base.problem

    def inputs(self, runs: Sequence[int]):
        from jaxil.driver import seed_keys

        idx = jnp.asarray(list(runs))
        return seed_keys([self.seeds[r] for r in runs]), jax.tree.map(lambda x: x[idx], self.configs)

    def init_carry(self, inputs) -> Carry:
        key, config = inputs
        c = self.make(config).init_carry(key)
        return Carry((c.state, config), c.eval_key, c.chunk)

    def chunk(self, carry: Carry) -> tuple[Carry, dict]:
        state, config = carry.state
        c, metrics = self.make(config).chunk(Carry(state, carry.eval_key, carry.chunk))
        return Carry((c.state, config), c.eval_key, c.chunk), metrics

    def learner(self, state):
        return self.make(state[1]).learner(state[0])

    def evaluate(self, state, key):
        return self.make(state[1]).evaluate(state[0], key)


def sweep_train(make: Callable[[Any], Train], configs: list, seeds: Sequence[int]) -> SweepTrain:
    """The runs of ``configs`` (one static group) × ``seeds``, run id = point · len(seeds) + seed index."""
    runs = [c for c in configs for _ in seeds]
    stacked = jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *runs)
    return SweepTrain(make, stacked, tuple(s for _ in configs for s in seeds))


def score_name(rows: list[dict]) -> str:
    return "normalized_score" if "normalized_score" in rows[0] else "eval_return"


def table(pts: list[dict], seeds: Sequence[int], rows: list[dict], run_of: list[tuple[int, int]]) -> list[dict]:
    """Per grid point: the final score's IQM, 95% CI and mean over seeds, and each seed's."""
    from jaxil.stats import aggregate

    name = score_name(rows)
    last = max(r["chunk"] for r in rows)
    final = {r["seed"]: r[name] for r in rows if r["chunk"] == last}  # the driver's "seed" is the run id
    out = []
    for i, p in enumerate(pts):
        scores = [final[run] for run, (point, _) in enumerate(run_of) if point == i]
        agg = aggregate(scores)
        out.append({**p, "metric": name, "iqm": agg["iqm"], "ci95_low": agg["ci95"][0], "ci95_high": agg["ci95"][1],
                    "mean": agg["mean"], "per_seed": scores})
    return out


def write_table(out: Path, grid: dict[str, list], rows: list[dict]) -> None:
    import csv

    names = list(grid)
    with (out / "table.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*names, "metric", "iqm", "ci95_low", "ci95_high", "mean", "per_seed"])
        for r in rows:
            w.writerow([*(r[n] for n in names), r["metric"], r["iqm"], r["ci95_low"], r["ci95_high"], r["mean"],
                        " ".join(f"{x:.4g}" for x in r["per_seed"])])
    lines = [f"| {' | '.join(names)} | IQM | 95% CI | mean | per seed |", "|" + "---|" * (len(names) + 4)]
    for r in rows:
        lines.append(f"| {' | '.join(str(r[n]) for n in names)} | {r['iqm']:.1f} | [{r['ci95_low']:.1f}, "
                     f"{r['ci95_high']:.1f}] | {r['mean']:.1f} | {', '.join(f'{x:.1f}' for x in r['per_seed'])} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")


def plot_table(out: Path, grid: dict[str, list], rows: list[dict]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(grid)
    labels = [", ".join(f"{n}={r[n]}" for n in names) for r in rows]
    iqm = np.array([r["iqm"] for r in rows])
    err = np.array([[r["iqm"] - r["ci95_low"] for r in rows], [r["ci95_high"] - r["iqm"] for r in rows]])
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(rows) + 1), 3.5))
    ax.errorbar(np.arange(len(rows)), iqm, yerr=np.maximum(err, 0), fmt="o", capsize=4)
    ax.set_xticks(np.arange(len(rows)), labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(f"final {rows[0]['metric']} (IQM, 95% CI)")
    fig.tight_layout()
    path = out / f"{rows[0]['metric']}.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(
    algo: str,
    env: str,
    grid: dict[str, list],
    seeds: Sequence[int],
    out: str | Path,
    *,
    overrides: dict | None = None,
    dataset: str | None = None,
    num_expert_trajs: int | None = None,
    backend: str | None = None,
    progress: bool = False,
    vectorize: bool | None = None,
    devices: int | None = None,
    resume: bool = True,
    base=None,
    build_kwargs: dict | None = None,
) -> dict:
    """Run ``grid`` × ``seeds`` of ``algo`` on ``env`` into ``out``; returns the summary
    (``table``: one row per grid point). ``base`` (a Config) or ``overrides`` (fields of
    the default Config) set everything the grid does not."""
    from jaxil import driver
    from jaxil.cli import algo_module, build_maker

    if not grid:
        raise JaxilError("the grid is empty: give at least one NAME=V1,V2,... (--grid).")
    if not seeds:
        raise JaxilError("no seeds to run; pass --seeds 1 or more.")
    config_class = algo_module(algo).Config
    base = base if base is not None else config_class(**(overrides or {}))
    configs = point_configs(base, grid)
    pts = points(grid)
    static = static_names(base)
    groups: dict[tuple, list[int]] = {}
    for i, c in enumerate(configs):
        groups.setdefault(tuple((n, getattr(c, n)) for n in sorted(static & set(grid))), []).append(i)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    all_rows: list[dict] = []
    runs: list[dict] = []
    for g, (key, members) in enumerate(groups.items()):
        make, run_config, _ = build_maker(algo, env, backend, configs[members[0]], dataset, num_expert_trajs,
                                          **(build_kwargs or {}))
        train = sweep_train(make, [configs[i] for i in members], seeds)
        group_out = out / (f"group-{g}" if len(groups) > 1 else "runs")
        run_ids = list(range(len(members) * len(seeds)))
        run_config = run_config | {"sweep": {"grid": grid, "points": [pts[i] for i in members], "seeds": list(seeds),
                                             "base": config_to_json(base)}}
        _, rows = driver.run(train, run_ids, group_out, run_config=run_config, progress=progress,
                             vectorize=vectorize, devices=devices, resume=resume)
        run_of = [(i, s) for i in range(len(members)) for s in seeds]
        for row_point in table([pts[i] for i in members], seeds, rows, run_of):
            all_rows.append(row_point | {"group": g})
        runs += [{"group": g, "run": r, "point": pts[members[p]], "seed": s} for r, (p, s) in enumerate(run_of)]
    write_table(out, grid, all_rows)
    plot = plot_table(out, grid, all_rows)
    summary = {"algo": algo, "env": env, "grid": grid, "seeds": list(seeds), "groups": len(groups),
               "programs": ("one program" if len(groups) == 1 else
                            f"{len(groups)} programs (the grid varies static fields: {', '.join(sorted(static & set(grid)))})"),
               "table": all_rows, "plot": str(plot), "wall_s": round(time.perf_counter() - t0, 2), "out": str(out)}
    (out / "sweep.json").write_text(json.dumps({"summary": summary, "runs": runs}, indent=2, default=str))
    return summary
