"""Experts: recipes, training through the driver, saved policies, and ``jaxil data make``.

An expert is one of jaxil's RL solvers (``jaxil.rl.sac`` or ``ppo``) trained by its
env's recipe with the chunked, resumable driver. Its acting arrays are saved beside the
datasets it records, and :func:`load_expert` gives any saved expert back as a pure
``policy(obs) -> distribution`` that a user's code (or an algorithm that queries an
expert) can call inside jit. This module is an application on top of the library (it
drives training), so nothing below it imports it.

``jaxil data make`` trains an expert and writes its datasets.

All kinds of one env come from one training run of its recipe (D4RL's protocol):

- ``expert``: complete episodes of the final policy's deterministic (mode) actions,
  each from a fresh random initial state;
- ``medium``: episodes sampled from the policy of that run at its first evaluation
  at or above a third of the way from random to expert return (the run keeps its
  policy at every evaluation; the expert data fix that level, so a run made for the
  medium kinds alone trains only up to it);
- ``medium-replay``: the run's replay buffer up to that moment (every transition the
  learner had seen, warm-up included), cut into its episodes; an on-policy (PPO) run
  keeps no buffer, so its episodes are sampled again from the policies it kept at each
  evaluation up to the medium one;
- ``random``: uniformly random actions.

Every dataset card (the ``jaxil`` metadata) records the
env, backend, the recipe and seed that trained the expert, the command that rebuilds
the dataset, and the reference returns (random policy over 100 episodes; the expert's
mean return over the dataset's episodes) that define normalized scores. The trained
expert policy is saved beside the data (``policy/``) so it can be re-evaluated or
queried.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

import jaxil
from jaxil import driver, envs
from jaxil.data import replay
from jaxil.data.datasets import default_dataset_id, local_minari_root, measure_random_return
from jaxil.data.episodes import buffer_episodes, collect_episodes, rollout_episodes
from jaxil.data.minari_io import read_dataset, write_dataset
from jaxil.envs.core import Env, random_action
from jaxil.envs.rollout import Act, rollout
from jaxil.errors import JaxilError
from jaxil.configs import config_from_json, config_to_json
from jaxil.provenance import source_commit
from jaxil.rl import solvers

KINDS = ("expert", "medium", "medium-replay", "random")
MEDIUM_FRACTION = 1 / 3
RANDOM_REFERENCE_EPISODES = 100
# Collection draws from its own stream of the dataset seed, apart from the keys that the
# expert's training consumes (the driver's split of PRNGKey(seed)).
STREAM_COLLECT = 0x636F6C6C
SNAPSHOT_DIR = "policies"


@dataclasses.dataclass(frozen=True)
class ExpertRecipe:
    algo: str  # "ppo" or "sac"
    config: dict[str, Any]  # overrides of that solver's Config
    note: str = ""
    target_return: float | None = None  # what an expert should reach (documented target)
    # "final": the policy at the end of training; "best": the snapshot of the run's best
    # evaluation (SAC's last iterate on MuJoCo can sit in a dip of its learning curve).
    expert_policy: str = "final"
    # End training at the first evaluation at or above target_return: past it, the run
    # adds nothing the datasets use and costs CPU hours.
    stop_at_target: bool = False
    checkpoint_every: int = 1  # chunks; a MuJoCo checkpoint holds a ~110 MB replay buffer


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
    # MuJoCo: SAC as in its paper (2×256 ReLU, one update per env step) on one env, on
    # the env's default (mjx) backend, whose returns are on the scale of the targets. About
    # 6 ms per step on 2 CPU cores, so 1M steps take up to ~2 h per env; hopper's and
    # halfcheetah's runs stop at the target. The buffer keeps every step, so medium-replay
    # can be cut from it after.
    **{
        name: ExpertRecipe(
            "sac",
            dict(steps=1_000_000, eval_every=20_000, eval_episodes=10, warmup_steps=10_000, buffer_size=1_010_000),
            target_return=target,
            expert_policy="best",
            stop_at_target=True,
            checkpoint_every=5,
        )
        for name, target in {"hopper": 3000.0, "halfcheetah": 8000.0}.items()
    },
    # Walker2d trains the whole budget: stopped at its first 4000 evaluation (820k steps,
    # still climbing), the policy fell in 3 of 50 episodes and the expert data averaged
    # 3863. 20 evaluation episodes make "best evaluation" a less lucky pick (seed 0: 4076
    # at 980k steps, 4079 over the 50 recorded episodes).
    "walker2d": ExpertRecipe(
        "sac",
        dict(steps=1_000_000, eval_every=20_000, eval_episodes=20, warmup_steps=10_000, buffer_size=1_010_000),
        target_return=4000.0,
        expert_policy="best",
        checkpoint_every=5,
    ),
    # Ant: that SAC recipe stood still for 1M steps (eval return ≈ episode length, i.e.
    # the healthy bonus only: random torques cost more control penalty than standing
    # earns, and it never found a gait). PPO with many envs, as Brax trains its ant
    # (γ 0.97, entropy bonus, normalized observations, no value clipping), is cheap per
    # step on CPU (~16k steps/s at 256 envs), so tens of millions of steps fit in an hour.
    # It trains the whole budget: stopped at its first 4000 evaluation (9.4M steps), the
    # policy still fell in some episodes and its 50 expert episodes averaged 2958.
    "ant": ExpertRecipe(
        "ppo",
        dict(steps=40_960_000, eval_every=409_600, eval_episodes=20, num_envs=256, rollout_steps=16,
             num_minibatches=4, num_epochs=4, gamma=0.97, ent_coef=0.01, lr=3e-4, max_grad_norm=1.0,
             normalize_obs=True, clip_value=False, hidden=(256, 256), activation="silu"),
        "PPO with 256 parallel envs (Brax-style: γ 0.97, entropy 0.01, normalized observations)",
        target_return=4000.0,
        expert_policy="best",
    ),
}
# gymnasium's own models (jaxil.envs.gym_mujoco): the Brax envs' SAC recipe, with the issue's
# expert targets (hopper 3000, halfcheetah 8000, walker2d 4000); hopper and halfcheetah stop
# at the target (480k and 340k steps, 2.4 h and 1.4 h), walker2d trains its whole budget (1M
# steps: at halfcheetah's 5 min per 20k steps on one CPU core, about 4 h; not yet run).
for _gym, _brax in (("gym-hopper-v5", "hopper"), ("gym-halfcheetah-v5", "halfcheetah"), ("gym-walker2d-v5", "walker2d")):
    RECIPES[_gym] = RECIPES[_brax]


EXPERT_SOLVERS = ("ppo", "sac")


def solver(algo: str):
    """The solver module of an expert recipe or saved expert (:mod:`jaxil.rl.solvers`)."""
    return solvers.solver(algo, EXPERT_SOLVERS)


def recipe_config(env_name: str, overrides: dict | None = None):
    if env_name not in RECIPES:
        raise JaxilError(
            f"no expert recipe for env {env_name!r}; jaxil can make expert data for: {', '.join(RECIPES)}."
        )
    recipe = RECIPES[env_name]
    return recipe, solver(recipe.algo).Config(**(recipe.config | (overrides or {})))


def mode_act(policy: Callable[[jax.Array], Any]) -> Act:
    """Deterministic acting by a policy ``obs -> distribution``: its mode."""
    return lambda obs, key: policy(obs).mode()


def train_expert(
    env: Env,
    seed: int,
    work_dir: Path,
    overrides: dict | None = None,
    progress: bool = True,
    resume: bool = True,
    stop_at: float | None = None,
):
    """Train the recipe's expert for one seed with the chunked, resumable driver.

    Returns ``(recipe, config, final train state, its learner, metric rows)``. The policy
    at every evaluation is kept in ``work_dir/policies/<chunk>``, where the medium kinds
    pick theirs once the final expert return is known. ``stop_at`` ends training at the
    first evaluation at or above that return (the medium kinds need the run only up to
    their level; a later expert run on the same ``work_dir`` resumes from there).
    """
    recipe, config = recipe_config(env.spec.name, overrides)
    train = solver(recipe.algo).make_train(config, env)

    def on_chunk(chunk: int, get_carry, metrics: dict) -> None:
        state = jax.tree.map(lambda x: x[0], get_carry().state)
        save_policy(Path(work_dir) / SNAPSHOT_DIR / f"{chunk:05d}", recipe.algo, config, train.learner(state), env)

    def reached_target(rows: list[dict]) -> bool:
        best = max(r["eval_return"] for r in rows)
        return (recipe.stop_at_target and best >= recipe.target_return) or (stop_at is not None and best >= stop_at)

    carry, rows = driver.run(
        train,
        [seed],
        work_dir,
        run_config={"algo": recipe.algo, "env": env.spec.name, "backend": env.spec.backend,
                    "config": config_to_json(config)},
        progress=progress,
        on_chunk=on_chunk,
        stop_when=reached_target,
        checkpoint_every=recipe.checkpoint_every,
        resume=resume,
    )
    state = jax.tree.map(lambda x: x[0], carry.state)
    return recipe, config, state, train.learner(state), rows


def medium_level(expert_return: float, random_return: float) -> float:
    """A third of the way from random to expert return."""
    return random_return + MEDIUM_FRACTION * (expert_return - random_return)


def medium_chunk(rows: list[dict], expert_return: float, random_return: float) -> dict:
    """The first evaluation at or above :func:`medium_level`."""
    level = medium_level(expert_return, random_return)
    for r in rows:
        if r["eval_return"] >= level:
            return r | {"medium_level": level}
    raise JaxilError(f"the training run never reached the medium level {level:.1f}; remake the expert with another --seed.")


def save_policy(path: Path, algo: str, config, agent, env: Env) -> None:
    path = Path(path).absolute()
    with ocp.StandardCheckpointer() as ckpt:
        ckpt.save(path / "params", solver(algo).acting_params(agent), force=True)
    (path / "policy.json").write_text(
        json.dumps({"algo": algo, "env": env.spec.name, "backend": env.spec.backend, "config": config_to_json(config)},
                   indent=2)
    )


def load_expert(dataset_dir: str | Path) -> tuple[Callable[[jax.Array], Any], dict]:
    """``(policy, card)``: the expert saved with a jaxil dataset (or a policy directory) as
    a pure ``policy(obs) -> distribution`` (jit- and vmap-able; its arrays are closed
    over), and the card that says which solver, env and config made it."""
    card, learner = load_agent(dataset_dir)
    mod = solver(card["algo"])
    return (lambda obs: mod.policy(learner, obs)), card


def load_policy(dataset_dir: str | Path, stochastic: bool = False) -> tuple[Act, dict]:
    """The saved expert as an ``act(obs, key) -> action`` function and its card: its mode,
    or samples from it with ``stochastic``."""
    policy, card = load_expert(dataset_dir)
    if stochastic:
        return (lambda obs, key: policy(obs).sample(seed=key)), card
    return mode_act(policy), card


def load_agent(dataset_dir: str | Path):
    """``(card, learner)`` of a saved policy: a fresh learner of the solver's shapes with
    the stored acting arrays in it (all that ``policy`` reads)."""
    path = Path(dataset_dir).absolute()
    path = path if (path / "policy.json").is_file() else path / "policy"
    if not (path / "policy.json").is_file():
        raise JaxilError(f"{dataset_dir} has no saved expert policy (policy/policy.json); remake it with `jaxil data make`.")
    card = json.loads((path / "policy.json").read_text())
    env = envs.make(card["env"], None if card["backend"] == "gymnax" else card["backend"])
    mod = solver(card["algo"])
    config = config_from_json(mod.Config, card["config"])
    # freshly initialized (jitted: op by op, an init compiles dozens of small programs); acting arrays follow
    learner = jax.jit(lambda key: mod.init(key, config, env.spec))(jax.random.PRNGKey(0))
    try:
        with ocp.StandardCheckpointer() as ckpt:
            params = ckpt.restore(path / "params", jax.eval_shape(mod.acting_params, learner))
    except Exception as err:
        raise JaxilError(f"policy at {path} could not be restored ({err}); remake the dataset.") from err
    return card, mod.with_acting_params(learner, params)


def expert_work_dir(env_name: str, seed: int, overrides: dict | None = None) -> Path:
    """Where ``make_dataset`` keeps the expert's resumable training run (shared by all kinds):
    ``$XDG_CACHE_HOME`` (default ``~/.cache``) ``/jaxil/work/<expert dataset id>/seed<S>[-<overrides hash>]``."""
    tag = f"seed{seed}" + (f"-{hashlib.sha1(json.dumps(overrides, sort_keys=True).encode()).hexdigest()[:8]}" if overrides else "")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "jaxil" / "work" / default_dataset_id(env_name, "expert") / tag


def make_dataset(
    env_name: str,
    kind: str = "expert",
    *,
    seed: int = 0,
    num_episodes: int | None = None,
    root: str | Path | None = None,
    overwrite: bool = False,
    work_dir: str | Path | None = None,
    progress: bool = True,
    overrides: dict | None = None,
    resume: bool = True,
) -> Path:
    """Make ``jaxil/<env>/<kind>-v0`` under ``root`` (default: the local Minari store).

    ``num_episodes``: episodes to record (default 50); for medium-replay, a uniform
    random subsample of the buffer's episodes in their original order (default: all).
    Every kind but expert takes its expert reference from the expert dataset, so that
    one is made first.
    """
    if kind not in KINDS:
        raise JaxilError(f"unknown dataset kind {kind!r}; choose one of {KINDS}.")
    if num_episodes is not None and num_episodes <= 0:
        raise JaxilError(f"--episodes must be positive, got {num_episodes}.")
    env = envs.make(env_name)
    root = Path(root) if root is not None else local_minari_root()
    dataset_id = default_dataset_id(env_name, kind)
    if (root / dataset_id).exists() and not overwrite:
        raise JaxilError(f"{root / dataset_id} exists; pass --overwrite to replace it.")
    work_dir = Path(work_dir) if work_dir is not None else expert_work_dir(env_name, seed, overrides)
    command = "jaxil data make " + " ".join(shlex.quote(a) for a in sys.argv[3:]) if sys.argv[1:3] == ["data", "make"] else None
    collect_key = jax.random.fold_in(jax.random.PRNGKey(seed), STREAM_COLLECT)
    random_ret = measure_random_return(env, RANDOM_REFERENCE_EPISODES)
    meta: dict[str, Any] = {
        "env": env_name,
        "backend": env.spec.backend,
        "source": env.spec.source,
        "kind": kind,
        "seed": seed,
        "jaxil_version": jaxil.__version__,
        "jaxil_commit": source_commit(),
        "created": datetime.date.today().isoformat(),
        "command": command or f"jaxil data make --env {env_name} --kind {kind} --seed {seed}"
        + (f" --episodes {num_episodes}" if num_episodes else ""),
        "random_reference": f"mean return of a uniformly random policy over {RANDOM_REFERENCE_EPISODES} episodes",
    }
    policy = snapshot = None  # what goes to policy/: (algo, config, agent), or a snapshot dir
    if kind == "expert":
        recipe, config, _, learner, rows = train_expert(env, seed, work_dir, overrides, progress, resume)
        meta |= _recipe_card(recipe, config, rows)
        if recipe.expert_policy == "best":
            best = max(rows, key=lambda r: (r["eval_return"], r["chunk"]))
            snapshot = work_dir / SNAPSHOT_DIR / f"{best['chunk']:05d}"
            act, _ = load_policy(snapshot)
            meta |= {"expert_chunk": best["chunk"], "expert_env_steps": best["env_steps"],
                     "expert_rule": "the policy of the run's best evaluation (mode actions)"}
        else:
            act = mode_act(lambda obs: solver(recipe.algo).policy(learner, obs))
            policy = (recipe.algo, config, learner)
            meta["expert_rule"] = "the policy at the end of training (mode actions)"
        episodes = collect_episodes(env, act, collect_key, num_episodes or 50)
        expert_ret = float(np.mean([e.ret for e in episodes]))
        meta |= {
            "collection": "deterministic (mode) expert policy, one episode per fresh random initial state",
            "expert_reference": "mean return of this dataset's episodes",
        }
    else:
        expert_dir = root / default_dataset_id(env_name, "expert")
        if not expert_dir.exists():
            raise JaxilError(f"{kind} data takes its expert reference from {expert_dir}; make that dataset first.")
        _, expert_meta = read_dataset(expert_dir)
        expert_ret = float(expert_meta["ref_max_score"])
        meta["expert_reference"] = f"from {default_dataset_id(env_name)}"
        if kind == "random":
            act = lambda o, k: random_action(k, env.spec)  # noqa: E731
            episodes = collect_episodes(env, act, collect_key, num_episodes or 50)
            meta["collection"] = "uniformly random actions"
        else:
            # The expert data fix the medium level, so training stops there: hopper's medium
            # policy comes at 120k of the expert's 480k steps.
            recipe, config, state, _, rows = train_expert(
                env, seed, work_dir, overrides, progress, resume, stop_at=medium_level(expert_ret, random_ret)
            )
            medium = medium_chunk(rows, expert_ret, random_ret)
            meta |= _recipe_card(recipe, config, rows) | {
                "medium_chunk": medium["chunk"],
                "medium_env_steps": medium["env_steps"],
                "medium_eval_return": medium["eval_return"],
                "medium_level": medium["medium_level"],
                "medium_rule": "first evaluation of the expert's training run at or above random + "
                f"{MEDIUM_FRACTION:.3f}·(expert − random)",
            }
            if kind == "medium":
                # The level is read off the deterministic evaluation, so the data must act
                # at that level. SAC's samples do (D4RL samples its medium policy); PPO's
                # entropy bonus keeps its policy wide: ant's medium policy returns 409 sampled
                # and 1295 by its mode (50 episodes each), so PPO's data act by the mode.
                sampled = recipe.algo == "sac"
                act, _ = load_policy(work_dir / SNAPSHOT_DIR / f"{medium['chunk']:05d}", stochastic=sampled)
                episodes = collect_episodes(env, act, collect_key, num_episodes or 50)
                how = "actions sampled from the medium policy" if sampled else "the medium policy's deterministic actions"
                meta["collection"] = f"{how}, one episode per fresh random initial state"
                snapshot = work_dir / SNAPSHOT_DIR / f"{medium['chunk']:05d}"
            else:
                if recipe.algo == "sac":
                    episodes, note = medium_replay_episodes(state, config, medium, collect_key, num_episodes)
                else:
                    episodes, note = snapshot_replay_episodes(env, work_dir, medium, collect_key, num_episodes)
                meta["collection"] = note
    if not expert_ret > random_ret:
        raise JaxilError(
            f"the expert for {env_name} returned {expert_ret:.1f}, not above random ({random_ret:.1f}); "
            "training failed, so no dataset was written. Try another --seed."
        )
    meta["num_episodes"] = len(episodes)
    path = write_dataset(
        root, dataset_id, episodes, env.spec, random_return=random_ret, expert_return=expert_ret,
        jaxil_meta=meta, overwrite=overwrite,
        description=f"{kind} data for jaxil's {env_name} ({env.spec.source}, backend {env.spec.backend}).",
    )
    if policy is not None:
        save_policy(path / "policy", *policy, env)
    elif snapshot is not None:
        shutil.copytree(snapshot, path / "policy", dirs_exist_ok=True)
    return path


def _recipe_card(recipe: ExpertRecipe, config, rows: list[dict]) -> dict:
    return {
        "expert_algo": recipe.algo,
        "expert_config": config_to_json(config),
        "expert_note": recipe.note,
        "expert_target_return": recipe.target_return,
        "expert_train_curve": [r["eval_return"] for r in rows],
    }


def medium_replay_episodes(state, config, medium: dict, key: jax.Array, num_episodes: int | None):
    """The replay buffer of the expert's run as it was at the medium chunk."""
    if not hasattr(state, "buffer"):
        raise JaxilError("medium-replay data needs an off-policy (SAC) recipe with a replay buffer.")
    written = config.warmup_steps // config.num_envs * config.num_envs + int(medium["env_steps"])
    total = int(state.buffer.size)
    if total == state.buffer.capacity and int(state.buffer.pos) != 0 or written > total:
        raise JaxilError(
            f"the run's replay buffer (capacity {state.buffer.capacity}) overwrote its early rows; "
            "remake the expert with buffer_size ≥ warmup_steps + steps."
        )
    rows = jax.tree.map(lambda x: np.asarray(x)[:written], replay.contents(state.buffer))
    episodes = buffer_episodes(rows, config.num_envs)
    note = (f"the replay buffer of the expert's training run up to the medium policy ({written} transitions, "
            "warm-up included; an episode still running then is left out)")
    if num_episodes is not None and num_episodes < len(episodes):
        keep = np.sort(np.asarray(jax.random.choice(key, len(episodes), (num_episodes,), replace=False)))
        note += f"; a uniform random subsample of {num_episodes} of its {len(episodes)} episodes, in order"
        episodes = [episodes[i] for i in keep]
    return episodes, note


def snapshot_replay_episodes(env: Env, work_dir: Path, medium: dict, key: jax.Array, num_episodes: int | None):
    """Medium-replay for an on-policy (PPO) run, which keeps no replay buffer.

    Its training data up to the medium policy were samples of its own policies as they
    improved, and those are kept at every evaluation; so the episodes are sampled again
    from the snapshots of evaluations 1 … medium, an equal share from each, oldest first
    (default 50 episodes, at least one per snapshot).
    """
    chunks = list(range(1, int(medium["chunk"]) + 1))
    n = num_episodes if num_episodes is not None else max(50, len(chunks))
    which = np.arange(n) * len(chunks) // n  # snapshot index of each episode, non-decreasing
    loaded = [load_agent(work_dir / SNAPSHOT_DIR / f"{c:05d}") for c in chunks]
    agent, mod = loaded[0][1], solver(loaded[0][0]["algo"])
    params = jax.tree.map(lambda *x: jnp.stack(x)[which], *[mod.acting_params(a) for _, a in loaded])

    def one_episode(p, k):
        learner = mod.with_acting_params(agent, p)
        act = lambda obs, key: mod.policy(learner, obs).sample(seed=key)  # noqa: E731
        return jax.tree.map(lambda x: x[:, 0], rollout(env, act, k, 1, env.spec.max_episode_steps))

    traj = jax.jit(jax.vmap(one_episode, out_axes=1))(params, jax.random.split(key, n))
    note = (f"on-policy run, no replay buffer: {n} episodes sampled from the run's policies at its evaluations "
            f"1 to {chunks[-1]} (the medium one), an equal share from each, oldest first, one per fresh random initial state")
    return rollout_episodes(traj, env), note


