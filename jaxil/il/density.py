"""Density-based reward (imitation's ``DensityAlgorithm``): reward the agent for going
where the expert goes, as measured by a kernel density estimate of the expert's data.

A Gaussian KDE over the expert's states, state-action pairs or state-next-state pairs,
standardised with the expert's statistics (``standardise``), gives the reward

    r(x) = log p̂(x) = log (1/N) Σ_i N(x; x_i, h² I)
         = logsumexp_i(−‖x − x_i‖² / 2h²) − log N − (d/2) log(2π h²),

fixed once fitted; an RL solver (the generator: SAC or PPO, as GAIL's) learns on it inside
the compiled loop, its rewards relabeled by the KDE (the env keeps its own reward, and every
reported return is the true one). Discrete actions enter the KDE one-hot. As imitation, the
density is in the standardised space (no Jacobian term: a constant shift of the reward) and
stationary (one KDE for all time steps). sklearn's ``KernelDensity`` would leave the
compiled loop, so the KDE is written here in JAX (checked against scipy's in the tests).
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil import configs
from jaxil.configs import static
from jaxil.data import replay
from jaxil.data.datasets import ExpertData
from jaxil.envs.core import Env, EnvSpec
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference
from jaxil.il import adversarial
from jaxil.il.offline import check_expert_data
from jaxil.loop import Train
from jaxil.nets import action_features
from jaxil.rl import offpolicy, onpolicy
from jaxil.types import RewardFn, Transition, check_batch

DENSITY_TYPES = ("state", "state_action", "state_state")


@struct.dataclass
class Config(adversarial.GeneratorConfig):
    """Density-based reward. Float fields may be arrays (a sweep is a vmap over configs).
    The KDE's defaults are imitation's; the generator's are GAIL's (see
    :class:`jaxil.il.adversarial.GeneratorConfig`)."""

    density_type: str = static("state_action")
    """what the KDE models: "state" (s), "state_action" (s, a) or "state_state" (s, s')."""
    bandwidth: float = 0.5
    """h: the Gaussian kernel's standard deviation (in standardised units with ``standardise``)."""
    standardise: bool = static(True)
    """standardise the KDE's inputs with the expert data's mean and standard deviation."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.density_type not in DENSITY_TYPES:
            raise JaxilError(f"density_type must be one of {DENSITY_TYPES}, got {self.density_type!r}.")


@struct.dataclass
class Density:
    """A fitted KDE: the expert's (standardised) points and how to standardise a query."""

    points: jax.Array  # (N, d)
    mean: jax.Array  # (d,)
    std: jax.Array  # (d,)


def gaussian_kde_log_density(points: jax.Array, x: jax.Array, bandwidth: jax.Array | float) -> jax.Array:
    """log (1/N) Σ_i N(x; x_i, h² I) for queries ``x`` (..., d) against ``points`` (N, d)."""
    n, d = points.shape
    # ‖x − p‖² = ‖x‖² − 2 x·p + ‖p‖²: one matmul instead of an (..., N, d) difference
    sq = jnp.sum(x * x, -1, keepdims=True) - 2.0 * x @ points.T + jnp.sum(points * points, -1)
    sq = jnp.maximum(sq, 0.0)
    h2 = jnp.square(bandwidth)
    return jax.nn.logsumexp(-sq / (2.0 * h2), axis=-1) - math.log(n) - 0.5 * d * jnp.log(2.0 * jnp.pi * h2)


def kde_inputs(config: Config, spec: EnvSpec, obs: jax.Array, action: jax.Array, next_obs: jax.Array) -> jax.Array:
    """The vector the KDE models: s, [s, a] (a one-hot if discrete) or [s, s']."""
    if config.density_type == "state":
        return obs
    if config.density_type == "state_state":
        return jnp.concatenate([obs, next_obs], -1)
    a = action_features(action, spec.num_actions)
    return jnp.concatenate([obs, a.astype(obs.dtype)], -1)


def fit(config: Config, spec: EnvSpec, expert: Transition) -> Density:
    """The KDE of the expert's rows (fitting a KDE is keeping its points)."""
    x = kde_inputs(config, spec, expert.obs, expert.action, expert.next_obs)
    if config.standardise:
        mean, std = jnp.mean(x, 0), jnp.std(x, 0)
        std = jnp.where(std < 1e-6, 1.0, std)  # a constant input (e.g. a one-hot never taken) stays as it is
    else:
        mean, std = jnp.zeros(x.shape[-1]), jnp.ones(x.shape[-1])
    return Density((x - mean) / std, mean, std)


def log_density(density: Density, config: Config, spec: EnvSpec, batch: Transition) -> jax.Array:
    """log p̂ of each row of ``batch``: the reward."""
    x = kde_inputs(config, spec, batch.obs, batch.action, batch.next_obs)
    return gaussian_kde_log_density(density.points, (x - density.mean) / density.std, config.bandwidth)


@struct.dataclass
class State:
    generator: Any  # the generator solver's learner (sac.State or ppo.State)
    density: Density
    config: Config
    spec: EnvSpec = struct.field(pytree_node=False)


def init(key: jax.Array, config: Config, spec: EnvSpec, expert: Transition) -> State:
    configs.check_type(config, Config, "density.init")
    gen = adversarial.generator(config)
    return State(gen.init(key, config.generator_config(), spec), fit(config, spec, expert), config, spec)


def learned_reward(state: State) -> RewardFn:
    """r(obs, action, next_obs, terminated) = log p̂ of the expert's density."""

    def reward(obs, action, next_obs, terminated):
        rows = Transition(obs, action, jnp.zeros(obs.shape[:-1]), next_obs, terminated, jnp.zeros_like(terminated))
        return log_density(state.density, state.config, state.spec, rows)

    return reward


def policy(state: State, obs: jax.Array):
    """π(·|s) of the generator, on raw observations."""
    return adversarial.generator(state.config).policy(state.generator, obs)


def update(state: State, batch: Transition | onpolicy.Rollout) -> tuple[State, dict[str, jax.Array]]:
    """One generator update on ``batch`` (replay rows for SAC, a rollout for PPO) with its
    rewards relabeled by the KDE."""
    rollout = isinstance(batch, onpolicy.Rollout)
    check_batch(batch.transition if rollout else batch, state.spec, "rollout" if rollout else "batch")
    batch = adversarial.relabel_batch(batch, learned_reward(state))
    rows = batch.transition if rollout else batch
    generator, metrics = adversarial.generator(state.config).update(state.generator, batch)
    return state.replace(generator=generator), metrics | {"density_reward": jnp.mean(rows.reward)}


def make_train(config: Config, data: ExpertData, env: Env, reference: Reference | None = None) -> Train:
    """``train(key) -> (state, metrics)``: ``config.steps`` env steps of the generator on
    the expert data's density reward, evaluated on the env's true return."""
    configs.check_type(config, Config, "density.make_train")
    check_expert_data(data, env, "the density reward with a SAC generator", continuous=config.generator == "sac")
    if data.train.size > 50_000:
        raise JaxilError(f"the KDE keeps every expert row and scores each query against all of them; "
                         f"{data.train.size} rows is too many (pass --num-expert-trajs to use fewer episodes).")
    spec, gen_config = env.spec, config.generator_config()
    if not np.all(np.isfinite(np.asarray(data.train.obs))):
        raise JaxilError("the expert observations hold NaN or infinite values; the KDE cannot use them.")
    init_fn = lambda key: init(key, config, spec, data.train)  # noqa: E731
    if config.generator == "sac":
        return offpolicy.make_train(
            gen_config, env, init_learner=init_fn, policy_fn=policy, reference=reference, heldout=data.heldout,
            learn=lambda state, buffer, key: update(state, replay.sample(key, buffer, gen_config.batch_size)),
        )
    return onpolicy.make_train(gen_config, env, init_learner=init_fn, learn=update, policy_fn=policy,
                               reference=reference, heldout=data.heldout)
