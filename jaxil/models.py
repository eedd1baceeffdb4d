"""Fitted dynamics models by path: a ``jaxil train dynamics`` run directory, or a model
exported from one (``jaxil export-model``: the elites, scaler and weights alone, a few MB,
with a card), loaded as a :class:`jaxil.rl.dynamics.Model` and checked against the env it
is meant for. jaxil ships exported models for its MuJoCo envs (:func:`shipped_model`)."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxil.configs import config_from_json
from jaxil.errors import JaxilError
from jaxil.rl import dynamics

WEIGHTS = "model.msgpack"
CARD = "model.json"
SHIPPED = Path(__file__).resolve().parent / "data" / "models"


def shipped_model(env: str) -> Path | None:
    """The directory of the model jaxil ships for ``env`` (fitted to its medium-replay data
    plus 10 expert episodes), or None."""
    path = SHIPPED / env
    return path if (path / CARD).exists() else None


def _run_state(out: Path, seed: int | None):
    from jaxil.cli import ALGOS, load_run, read_run_config

    rc = read_run_config(out)
    if ALGOS[rc["algo"]].kind != "model":
        raise JaxilError(f"{out} is a {rc['algo']} run, not a dynamics model; pass the --out of jaxil train dynamics.")
    seeds = rc["seeds"]
    if seed is not None and seed not in seeds:
        raise JaxilError(f"{out} has seeds {seeds}; seed {seed} is not among them.")
    _, train, _, carry = load_run(out)
    i = 0 if seed is None else seeds.index(seed)
    return rc, train.learner(jax.tree.map(lambda x: x[i], carry.state)), (seeds[i], int(np.asarray(carry.chunk)[i]))


def load_dynamics(path: str | Path, env: str | None = None, seed: int | None = None) -> dynamics.Model:
    """The model in ``path``: an exported model, or one seed of a dynamics run (the first
    unless ``seed`` names one), at its best weights with its scaler and elites. ``env``
    refuses a model of another env."""
    out = Path(path)
    if (out / CARD).exists():
        card = read_card(out)
        if env is not None and card["env"] != env:
            raise JaxilError(f"{out} models env {card['env']!r}, not {env!r}; fit one with jaxil train dynamics "
                             f"--env {env}.")
        return _read_exported(out, card)
    if not (out / "config.json").exists():
        raise JaxilError(f"{out} holds no dynamics model (neither {CARD} of jaxil export-model nor the config.json "
                         "of a jaxil train dynamics run).")
    from jaxil.cli import read_run_config

    rc = read_run_config(out)
    if env is not None and rc["env"] != env:
        raise JaxilError(f"{out} models env {rc['env']!r}, not {env!r}; fit one with jaxil train dynamics --env {env}.")
    return dynamics.model(_run_state(out, seed)[1])


def fitted_dataset(path: str | Path) -> str | None:
    """The dataset the model in ``path`` was fitted to (its card's or its run's), if recorded."""
    out = Path(path)
    if (out / CARD).exists():
        return read_card(out).get("dataset")
    from jaxil.cli import read_run_config

    return read_run_config(out).get("dataset") if (out / "config.json").exists() else None


def read_card(out: Path) -> dict:
    try:
        card = json.loads((out / CARD).read_text())
        card["env"], card["config"], card["backend"]  # noqa: B018 - the fields a load needs
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise JaxilError(f"{out / CARD} is corrupt or incomplete ({err}); export the model again.") from err
    return card


def _read_exported(out: Path, card: dict) -> dynamics.Model:
    from jaxil import envs

    spec = envs.make(card["env"], None if card["backend"] == "gymnax" else card["backend"]).spec
    config = config_from_json(dynamics.Config, card["config"])
    width = spec.obs_dim + spec.action_dim
    template = dynamics.Model(
        dynamics.net(config, spec).init(jax.random.PRNGKey(0), jnp.zeros((1, width))),
        dynamics.Scaler(jnp.zeros(width), jnp.ones(width)), jnp.zeros(config.elites, jnp.int32), config, spec,
    )
    try:
        restored = serialization.from_bytes(template, (out / WEIGHTS).read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise JaxilError(f"{out / WEIGHTS} cannot be read as the model its card describes ({err}); export it again.") from err
    return jax.tree.map(jnp.asarray, restored)  # msgpack gives numpy arrays, which traced indices cannot index


def export_dynamics(run_dir: str | Path, out: str | Path, seed: int | None = None) -> dict:
    """Write one seed's fitted model (weights, scaler, elites) and its card (the run's
    settings and data, hold-out MSE per member, elites, commit) to ``out``; returns the card."""
    from jaxil.provenance import source_commit

    run_dir, out = Path(run_dir), Path(out)
    rc, state, (seed, chunks) = _run_state(run_dir, seed)
    model = dynamics.model(state)
    out.mkdir(parents=True, exist_ok=True)
    (out / WEIGHTS).write_bytes(serialization.to_bytes(model))
    card = {
        "env": rc["env"], "backend": rc["backend"], "obs_dim": state.spec.obs_dim, "action_dim": state.spec.action_dim,
        "dataset": rc.get("dataset"), "expert_dataset": rc.get("expert_dataset"),
        "num_expert_trajs": rc.get("num_expert_trajs"), "seed": seed, "epochs": int(state.epochs),
        "stopped_early": bool(state.stopped), "elites": np.asarray(model.elites).tolist(),
        "holdout_mse_per_member": [round(float(x), 6) for x in np.asarray(state.best_mse)],
        "holdout_mse_elites": round(float(np.mean(np.asarray(state.best_mse)[np.asarray(model.elites)])), 6),
        "command": (f"jaxil train dynamics --env {rc['env']} --dataset {rc.get('dataset')} --expert-dataset "
                    f"{rc.get('expert_dataset')} --num-expert-trajs {rc.get('num_expert_trajs')} --seed {seed} "
                    "(config below)"),
        "config": rc["config"], "source_run": str(run_dir), "chunks": chunks,  # the run's own (exact) values
        "commit": source_commit(),
    }
    summary = run_dir / "summary.json"
    if summary.exists():  # the fit's wall time, as the run measured it
        card["wall_s"] = json.loads(summary.read_text()).get("wall_s")
    (out / CARD).write_text(json.dumps(card, indent=2) + "\n")
    return card
