"""The loop every offline algorithm shares: check the data, sample batches inside jit,
update, and evaluate on the env plus held-out expert metrics at each chunk's end."""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil.data.datasets import ExpertData, obs_stats, sample
from jaxil.envs.core import Env
from jaxil.errors import JaxilError
from jaxil.evaluation import Reference, evaluate_policy
from jaxil import configs
from jaxil.configs import static
from jaxil.loop import Train, chunking
from jaxil.types import Transition


@struct.dataclass
class Config(configs.Config):
    """Network sizes and budget every offline learner's Config inherits (defaults follow
    CleanIL: 3×256 SiLU nets, 500k updates, evaluation every 10k)."""

    hidden: tuple[int, ...] = static((256, 256, 256))
    """hidden widths of the MLPs (policy, and critic or energy where there is one)."""
    activation: str = static("silu")
    """activation of the MLPs (relu, silu, tanh, gelu, elu, leaky_relu)."""
    steps: int = static(500_000)
    """total gradient updates."""
    eval_every: int = static(10_000)
    """updates between evaluations (one chunk of the chunked driver)."""
    eval_episodes: int = static(20)
    """evaluation episodes per evaluation, run in parallel."""

    def __post_init__(self) -> None:
        super().__post_init__()
        chunking(self.steps, self.eval_every)


State = Any
KeySplit = Callable[[State], tuple[State, jax.Array]]  # state -> (state with a fresh key, key)


def check_expert_data(data: ExpertData, env: Env, algo: str, continuous: bool = False) -> None:
    """Clear errors for data that does not fit ``env`` (before anything compiles)."""
    if continuous and env.spec.discrete:
        raise JaxilError(f"{algo} here uses a tanh-Gaussian actor; env {env.spec.name!r} is discrete.")
    data.train.check()
    if data.train.obs.shape[1] != env.spec.obs_dim:
        raise JaxilError(
            f"expert observations have dim {data.train.obs.shape[1]} but env {env.spec.name!r} "
            f"has {env.spec.obs_dim}; pass the matching --env."
        )


def with_suboptimal(expert: ExpertData, suboptimal: Transition, env: Env, algo: str,
                    drop_rewards: bool = False) -> tuple[Transition, np.ndarray, np.ndarray]:
    """(T, obs_mean, obs_std): the offline set T = the expert's training rows followed by
    the sub-optimal rows (as in RECOIL's paper and CleanIL), with T's observation
    statistics; ``drop_rewards`` zeroes T's rewards (imitation must not see them)."""
    check_expert_data(expert, env, algo, continuous=True)
    suboptimal.check()
    if suboptimal.obs.shape[1:] != expert.train.obs.shape[1:] or suboptimal.action.shape[1:] != expert.train.action.shape[1:]:
        raise JaxilError(
            f"sub-optimal data has obs/action shapes {suboptimal.obs.shape[1:]}/{suboptimal.action.shape[1:]}, the "
            f"expert data {expert.train.obs.shape[1:]}/{expert.train.action.shape[1:]}; pass datasets of the same env."
        )
    # On the host: make_train may itself run under a trace (a vmap over configs).
    mixed = jax.tree.map(
        lambda a, b: np.concatenate([np.asarray(a), np.asarray(b, np.asarray(a).dtype)]), expert.train, suboptimal
    )
    if drop_rewards:
        mixed = mixed.replace(reward=np.zeros_like(mixed.reward))
    obs_mean, obs_std = obs_stats(mixed.obs)
    return jax.tree.map(jnp.asarray, mixed), obs_mean, obs_std


def split_learner_key(state: State) -> tuple[State, jax.Array]:
    """Key split for algorithms whose state holds a SAC learner (``state.learner``)."""
    key, k = jax.random.split(state.learner.key)
    return state.replace(learner=state.learner.replace(key=key)), k


def learner_policy(state: State, obs: jax.Array):
    """π(·|s) of algorithms whose state holds a SAC learner (``state.learner``)."""
    from jaxil.rl import sac

    return sac.policy(state.learner, obs)


def make_train(
    config,
    data: ExpertData,
    env: Env,
    reference: Reference | None,
    *,
    init: Callable[[jax.Array], State],
    update: Callable[[State, Any], tuple[State, dict]],
    policy: Callable[[State, jax.Array], Any],
    sample_batch: Callable[[jax.Array], Any] | None = None,
    split_key: KeySplit = split_learner_key,
    deterministic: bool = True,
) -> Train:
    """``config.steps`` updates, each on ``sample_batch(key)`` (default: a uniform batch of
    ``config.batch_size`` rows of ``data.train``), evaluated every ``config.eval_every``
    updates on the env and on ``data.heldout``."""
    num_chunks, steps_per_chunk = chunking(config.steps, config.eval_every)
    if sample_batch is None:
        sample_batch = lambda key: sample(key, data.train, config.batch_size)  # noqa: E731

    def step(state: State):
        state, k = split_key(state)
        return update(state, sample_batch(k))

    def evaluate(state: State, key: jax.Array) -> dict[str, jax.Array]:
        dist = lambda o: policy(state, o)  # noqa: E731
        return evaluate_policy(env, dist, key, config.eval_episodes, reference, data.heldout, deterministic)

    return Train(init=init, step=step, evaluate=evaluate, num_chunks=num_chunks, steps_per_chunk=steps_per_chunk)
