"""``jaxil data make``: train an expert with jaxil's own solvers and write its dataset.

An expert dataset holds ``num_episodes`` complete episodes of the expert's
deterministic (mode) policy, each from a fresh random initial state; a random dataset
holds uniformly random actions. Every dataset card (the ``jaxil`` metadata) records the
env, backend, the recipe and seed that trained the expert, the command that rebuilds
the dataset, and the reference returns (random policy over 100 episodes; the expert's
mean return over the dataset's episodes) that define normalized scores. The trained
expert policy is saved beside the data (``policy/``) so it can be re-evaluated or
queried (DAgger).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

import jaxil
from jaxil import envs
from jaxil.data.datasets import default_dataset_id, local_minari_root, measure_random_return
from jaxil.data.minari_io import Episode, read_dataset, write_dataset
from jaxil.envs.core import Env, random_action
from jaxil.envs.rollout import Act, first_episode_mask, rollout
from jaxil.errors import JaxilError

KINDS = ("expert", "random")
RANDOM_REFERENCE_EPISODES = 100
# Collection draws from its own stream of the dataset seed, apart from the keys that the
# expert's training consumes (the driver's split of PRNGKey(seed)).
STREAM_COLLECT = 0x636F6C6C


@dataclasses.dataclass(frozen=True)
class ExpertRecipe:
    algo: str  # "ppo" or "sac"
    config: dict[str, Any]  # overrides of that solver's Config
    note: str = ""


# Budgets are small because classic control is small; each trains in well under a
# minute on 2 CPU cores. MountainCar's goal is unreachable by random exploration, so
# its experts use potential-based shaping (jaxil.envs.shaping); data keep true rewards.
RECIPES: dict[str, ExpertRecipe] = {
    "cartpole": ExpertRecipe(
        "ppo", dict(steps=327_680, eval_every=32_768, num_envs=8, ent_coef=0.01, lr=2.5e-4)
    ),
    "acrobot": ExpertRecipe(
        "ppo", dict(steps=262_144, eval_every=32_768, num_envs=8, ent_coef=0.01, lr=2.5e-4)
    ),
    "mountaincar": ExpertRecipe(
        "ppo",
        dict(steps=491_520, eval_every=49_152, num_envs=16, ent_coef=0.01, lr=1e-3, num_epochs=10,
             normalize_obs=True, shaping=10.0),
        "potential-based shaping with the car's mechanical energy (Ng et al. 1999) during training only",
    ),
    "mountaincar-continuous": ExpertRecipe(
        "ppo",
        dict(steps=491_520, eval_every=49_152, num_envs=16, lr=1e-3, num_epochs=10,
             normalize_obs=True, shaping=10.0),
        "potential-based shaping with the car's mechanical energy (Ng et al. 1999) during training only",
    ),
    "pendulum": ExpertRecipe(
        "sac", dict(steps=20_000, eval_every=2_000, warmup_steps=1_000, buffer_size=50_000)
    ),
}


def solver(algo: str):
    from jaxil.rl import ppo, sac

    return {"ppo": ppo, "sac": sac}[algo]


def recipe_config(env_name: str, overrides: dict | None = None):
    if env_name not in RECIPES:
        raise JaxilError(
            f"no expert recipe for env {env_name!r}; jaxil can make expert data for: {', '.join(RECIPES)}."
        )
    recipe = RECIPES[env_name]
    return recipe, solver(recipe.algo).Config(**(recipe.config | (overrides or {})))


def agent_of(algo: str, state):
    """The part of a solver's train state that acts (what ``policy/`` stores)."""
    return state.agent if algo == "sac" else state


def expert_act(algo: str, agent) -> Act:
    """Deterministic expert: the mode of the policy."""
    mod = solver(algo)
    return lambda obs, key: mod.policy(agent, obs).mode()


def train_expert(env: Env, seed: int, work_dir: Path, overrides: dict | None = None, progress: bool = True):
    """Train the recipe's expert for one seed with the chunked, resumable driver."""
    from jaxil import driver

    recipe, config = recipe_config(env.spec.name, overrides)
    train = solver(recipe.algo).make_train(config, env)
    carry, rows = driver.run(
        train,
        [seed],
        work_dir,
        run_config={"algo": recipe.algo, "env": env.spec.name, "config": to_json(config)},
        progress=progress,
    )
    state = jax.tree.map(lambda x: x[0], carry.state)
    return recipe, config, agent_of(recipe.algo, state), rows


def collect_episodes(env: Env, act: Act, key: jax.Array, num_episodes: int) -> list[Episode]:
    """One complete episode per parallel env (each from its own random initial state)."""
    traj = jax.jit(lambda k: rollout(env, act, k, num_episodes, env.spec.max_episode_steps))(key)
    mask = np.asarray(first_episode_mask(traj))
    traj = jax.tree.map(np.asarray, traj)
    episodes = []
    for i in range(num_episodes):
        n = int(mask[:, i].sum())
        if not (traj.terminated[n - 1, i] or traj.truncated[n - 1, i]):
            raise JaxilError(f"episode {i} did not end within {env.spec.max_episode_steps} steps; the env's time limit is broken.")
        episodes.append(
            Episode(
                observations=np.concatenate([traj.obs[:n, i], traj.next_obs[n - 1 : n, i]], axis=0),
                actions=traj.action[:n, i],
                rewards=traj.reward[:n, i],
                terminations=traj.terminated[:n, i],
                truncations=traj.truncated[:n, i],
            )
        )
    return episodes


def to_json(config) -> dict:
    return json.loads(json.dumps(dataclasses.asdict(config), default=lambda x: np.asarray(x).tolist()))


def save_policy(path: Path, algo: str, config, agent, env: Env) -> None:
    path = Path(path).absolute()
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path / "params", agent, force=True)
    (path / "policy.json").write_text(
        json.dumps({"algo": algo, "env": env.spec.name, "backend": env.spec.backend, "config": to_json(config)}, indent=2)
    )


def load_policy(dataset_dir: str | Path) -> tuple[Act, dict]:
    """The deterministic expert policy saved with a jaxil dataset, and its card."""
    path = Path(dataset_dir).absolute() / "policy"
    if not (path / "policy.json").is_file():
        raise JaxilError(f"{dataset_dir} has no saved expert policy (policy/policy.json); remake it with `jaxil data make`.")
    card = json.loads((path / "policy.json").read_text())
    env = envs.make(card["env"], None if card["backend"] == "gymnax" else card["backend"])
    mod = solver(card["algo"])
    config = mod.Config(**{k: tuple(v) if isinstance(v, list) else v for k, v in card["config"].items()})
    like = agent_of(card["algo"], jax.eval_shape(mod.make_train(config, env).init, jax.random.PRNGKey(0)))
    try:
        with ocp.StandardCheckpointer() as ckpt:
            agent = ckpt.restore(path / "params", jax.tree.map(ocp.utils.to_shape_dtype_struct, like))
    except Exception as err:
        raise JaxilError(f"expert policy at {path} could not be restored ({err}); remake the dataset.") from err
    return expert_act(card["algo"], agent), card


def make_dataset(
    env_name: str,
    kind: str = "expert",
    *,
    seed: int = 0,
    num_episodes: int = 50,
    root: str | Path | None = None,
    overwrite: bool = False,
    work_dir: str | Path | None = None,
    progress: bool = True,
    overrides: dict | None = None,
) -> Path:
    """Make ``jaxil/<env>/<kind>-v0`` under ``root`` (default: the local Minari store)."""
    if kind not in KINDS:
        raise JaxilError(f"unknown dataset kind {kind!r}; choose one of {KINDS}.")
    if num_episodes <= 0:
        raise JaxilError(f"--episodes must be positive, got {num_episodes}.")
    env = envs.make(env_name)
    root = Path(root) if root is not None else local_minari_root()
    dataset_id = default_dataset_id(env_name, kind)
    if (root / dataset_id).exists() and not overwrite:
        raise JaxilError(f"{root / dataset_id} exists; pass --overwrite to replace it.")
    if work_dir is None:  # the expert's resumable training run (checkpoints, metrics)
        tag = f"seed{seed}" + (f"-{hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]}" if overrides else "")
        work_dir = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "jaxil" / "work" / dataset_id / tag
    work_dir = Path(work_dir)
    command = "jaxil data make " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if sys.argv[1:3] == ["data", "make"] else None
    key = jax.random.PRNGKey(seed)
    random_ret = measure_random_return(env, RANDOM_REFERENCE_EPISODES)
    meta: dict[str, Any] = {
        "env": env_name,
        "backend": env.spec.backend,
        "source": env.spec.source,
        "kind": kind,
        "seed": seed,
        "num_episodes": num_episodes,
        "jaxil_version": jaxil.__version__,
        "created": datetime.date.today().isoformat(),
        "command": command or f"jaxil data make --env {env_name} --kind {kind} --seed {seed} --episodes {num_episodes}",
        "random_reference": f"mean return of a uniformly random policy over {RANDOM_REFERENCE_EPISODES} episodes",
    }
    if kind == "expert":
        recipe, config, agent, rows = train_expert(env, seed, work_dir, overrides, progress)
        act = expert_act(recipe.algo, agent)
        episodes = collect_episodes(env, act, jax.random.fold_in(key, STREAM_COLLECT), num_episodes)
        expert_ret = float(np.mean([e.ret for e in episodes]))
        meta |= {
            "expert_algo": recipe.algo,
            "expert_config": to_json(config),
            "expert_note": recipe.note,
            "expert_train_curve": [r["eval_return"] for r in rows],
            "collection": "deterministic (mode) expert policy, one episode per fresh random initial state",
            "expert_reference": "mean return of this dataset's episodes",
        }
    else:
        expert_dir = root / default_dataset_id(env_name, "expert")
        if not expert_dir.exists():
            raise JaxilError(f"random data takes its expert reference from {expert_dir}; make that dataset first.")
        _, expert_meta = read_dataset(expert_dir)
        expert_ret = float(expert_meta["ref_max_score"])
        episodes = collect_episodes(
            env, lambda o, k: random_action(k, env.spec), jax.random.fold_in(key, STREAM_COLLECT), num_episodes
        )
        meta |= {"collection": "uniformly random actions", "expert_reference": f"from {default_dataset_id(env_name)}"}
    if not expert_ret > random_ret:
        raise JaxilError(
            f"the expert for {env_name} returned {expert_ret:.1f}, not above random ({random_ret:.1f}); "
            "training failed, so no dataset was written. Try another --seed."
        )
    path = write_dataset(
        root, dataset_id, episodes, env.spec, random_return=random_ret, expert_return=expert_ret,
        jaxil_meta=meta, overwrite=overwrite,
        description=f"{kind} data for jaxil's {env_name} ({env.spec.source}, backend {env.spec.backend}).",
    )
    if kind == "expert":
        save_policy(path / "policy", recipe.algo, config, agent, env)
    return path


def list_datasets(roots: list[Path] | None = None) -> list[dict]:
    """One row per dataset found under ``roots`` (default: shipped + local store)."""
    from jaxil.data.datasets import SHIPPED_ROOT

    roots = roots if roots is not None else [SHIPPED_ROOT, local_minari_root()]
    rows, seen = [], set()
    for root in roots:
        for meta_file in sorted(Path(root).glob("**/data/metadata.json")):
            if ".work" in meta_file.parts:
                continue
            try:
                meta = json.loads(meta_file.read_text())
            except json.JSONDecodeError:
                continue
            dataset_id = meta.get("dataset_id", str(meta_file.parent.parent.relative_to(root)))
            if dataset_id in seen:
                continue
            seen.add(dataset_id)
            j = meta.get("jaxil") or {}
            if isinstance(j, str):
                j = json.loads(j)
            rows.append({
                "id": dataset_id,
                "env": j.get("env", "?"),
                "backend": j.get("backend", "?"),
                "episodes": meta.get("total_episodes"),
                "transitions": meta.get("total_steps"),
                "mean_return": _mean_return(meta_file.parent),
                "ref_random": meta.get("ref_min_score"),
                "ref_expert": meta.get("ref_max_score"),
                "made_by": "jaxil" if j else "external",
                "path": str(meta_file.parent.parent),
            })
    return rows


def _mean_return(data_dir: Path) -> float | None:
    try:
        import h5py

        with h5py.File(data_dir / "main_data.hdf5", "r") as f:
            return float(np.mean([np.sum(f[k]["rewards"][()], dtype=np.float64) for k in f.keys()]))
    except Exception:
        return None
