"""Fitted dynamics models by path: a ``jaxil train dynamics`` run directory (or a shipped
ensemble) loaded as a :class:`jaxil.rl.dynamics.Model`, checked against the env it is
meant for."""

from __future__ import annotations

from pathlib import Path

import jax

from jaxil.errors import JaxilError
from jaxil.rl import dynamics


def load_dynamics(run_dir: str | Path, env: str | None = None, seed: int | None = None) -> dynamics.Model:
    """The model of one seed of a dynamics run (the first seed unless ``seed`` names one),
    at its best weights with its scaler and elites. ``env`` refuses a model of another env."""
    from jaxil.cli import ALGOS, load_run, read_run_config

    out = Path(run_dir)
    rc = read_run_config(out)
    if ALGOS[rc["algo"]].kind != "model":
        raise JaxilError(f"{out} is a {rc['algo']} run, not a dynamics model; pass the --out of jaxil train dynamics.")
    if env is not None and rc["env"] != env:
        raise JaxilError(f"{out} models env {rc['env']!r}, not {env!r}; fit one with jaxil train dynamics --env {env}.")
    seeds = rc["seeds"]
    if seed is not None and seed not in seeds:
        raise JaxilError(f"{out} has seeds {seeds}; seed {seed} is not among them.")
    _, train, _, carry = load_run(out)
    i = 0 if seed is None else seeds.index(seed)
    return dynamics.model(train.learner(jax.tree.map(lambda x: x[i], carry.state)))
