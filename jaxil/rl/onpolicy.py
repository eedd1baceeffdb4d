"""The on-policy online loop, shared by PPO and the on-policy imitation learners (GAIL
and AIRL with a PPO generator): parallel environments, rollout collection and the
learner in one ``lax.scan``.

Each iteration steps every env ``rollout_steps`` times with the learner's stochastic
policy, then calls ``learn(learner, rollout)`` once on the whole rollout (shape
``(rollout_steps, num_envs)``). The learner is any pytree; the loop never looks inside
it, and the env is never wrapped: a ``reward_fn`` relabels the rollout's rewards before
``learn`` sees them, while reported returns stay the env's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from jaxil.envs.core import Env
from jaxil.envs.rollout import step_envs
from jaxil.evaluation import Reference, evaluate_policy
from jaxil.loop import Train, chunking
from jaxil.types import RewardFn, Transition, relabel

Learner = Any
PolicyFn = Callable[[Learner, jax.Array], Any]  # (learner, obs) -> distribution


@struct.dataclass
class Rollout:
    """``rollout_steps × num_envs`` transitions and the log-probabilities of their actions
    under the policy that acted (what importance ratios need)."""

    transition: Transition
    log_prob: jax.Array


@struct.dataclass
class TrainState:
    agent: Learner
    env_state: chex.ArrayTree  # batched over num_envs
    obs: jax.Array  # (num_envs, obs_dim): observations to act on
    episode_return: jax.Array  # (num_envs,) return of the running episodes
    last_return: jax.Array  # mean return of the most recently finished episodes
    iteration: jax.Array  # rollouts collected
    key: jax.Array


def collect(env: Env, ts: TrainState, policy_fn: PolicyFn, steps: int) -> tuple[TrainState, Rollout]:
    """``steps`` steps of every env with actions sampled from ``policy_fn(ts.agent, ·)``."""

    def env_step(ts: TrainState, key: jax.Array):
        act_key, env_key = jax.random.split(key)
        dist = policy_fn(ts.agent, ts.obs)
        action = dist.sample(seed=act_key)
        # log π is recomputed from the action (not taken from the sampler) so an update's
        # ratio uses exactly the same function, including the bound clipping.
        log_prob = dist.log_prob(action)
        ts, t = step_envs(env, ts, action, env_key)
        return ts, (t, log_prob)

    key, roll_key = jax.random.split(ts.key)
    ts, (t, log_prob) = jax.lax.scan(env_step, ts.replace(key=key), jax.random.split(roll_key, steps))
    return ts, Rollout(t, log_prob)


def make_train(
    config,
    env: Env,
    *,
    init_learner: Callable[[jax.Array], Learner],
    learn: Callable[[Learner, Rollout], tuple[Learner, dict]],
    policy_fn: PolicyFn,
    reference: Reference | None = None,
    reward_fn: RewardFn | None = None,
    heldout: Transition | None = None,
) -> Train:
    """The on-policy loop. ``config`` supplies ``num_envs``, ``rollout_steps``, ``steps``,
    ``eval_every`` (both in env steps, multiples of ``num_envs · rollout_steps``) and
    ``eval_episodes``. With ``heldout`` expert transitions, every evaluation adds their
    log-likelihood and action error under the policy."""
    n, per_iteration = config.num_envs, config.num_envs * config.rollout_steps

    def init_fn(key: jax.Array) -> TrainState:
        k_agent, k_env, k_run = jax.random.split(key, 3)
        env_state, obs = jax.vmap(env.reset)(jax.random.split(k_env, n))
        zero = jnp.zeros((), jnp.float32)
        return TrainState(init_learner(k_agent), env_state, obs, jnp.zeros(n), zero, jnp.zeros((), jnp.int32), k_run)

    def step(ts: TrainState):
        ts, rollout = collect(env, ts, policy_fn, config.rollout_steps)
        if reward_fn is not None:
            rollout = rollout.replace(transition=relabel(rollout.transition, reward_fn))
        agent, metrics = learn(ts.agent, rollout)
        ts = ts.replace(agent=agent, iteration=ts.iteration + 1)
        return ts, metrics | {"train_return": ts.last_return}

    def evaluate(ts: TrainState, key: jax.Array):
        m = evaluate_policy(env, lambda o: policy_fn(ts.agent, o), key, config.eval_episodes, reference, heldout)
        return m | {"env_steps": (ts.iteration * per_iteration).astype(jnp.float32)}

    num_chunks, steps_per_chunk = chunking(config.steps // per_iteration, config.eval_every // per_iteration)
    return Train(init=init_fn, step=step, evaluate=evaluate, num_chunks=num_chunks, steps_per_chunk=steps_per_chunk,
                 learner=lambda ts: ts.agent)
