"""Policy evaluation: many episodes in parallel inside jit; normalized scores."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp

from jaxil.envs.core import Env
from jaxil.envs.rollout import first_episode_mask, rollout
from jaxil.types import Transition

Policy = Callable[[jax.Array, jax.Array], jax.Array]  # (obs, key) -> action


def episode_returns(
    env: Env, policy: Policy, key: jax.Array, num_episodes: int
) -> tuple[jax.Array, jax.Array]:
    """Undiscounted returns and lengths of ``num_episodes`` episodes run in parallel.

    Every episode ends within ``max_episode_steps`` (truncation), so one rollout of that
    length per env holds a complete first episode; later steps are masked out.
    """
    traj = rollout(env, policy, key, num_episodes, env.spec.max_episode_steps)
    mask = first_episode_mask(traj)
    returns = jnp.sum(jnp.where(mask, traj.reward, 0.0), axis=0)
    return returns, jnp.sum(mask, axis=0)


def random_policy(env: Env) -> Policy:
    from jaxil.envs.core import random_action

    return lambda obs, key: random_action(key, env.spec)


def normalized_score(ret: jax.Array, random_return: float, expert_return: float) -> jax.Array:
    """``100 · (R − R_random) / (R_expert − R_random)``: 0 is random, 100 is the expert."""
    return 100.0 * (ret - random_return) / (expert_return - random_return)


class Reference(NamedTuple):
    """Reference returns that define the normalized score (0 = random, 100 = expert)."""

    random_return: float
    expert_return: float


def policy_metrics(
    env: Env,
    dist_fn: Callable[[jax.Array], Any],
    key: jax.Array,
    num_episodes: int,
    reference: Reference | None,
    deterministic: bool = True,
) -> dict[str, jax.Array]:
    """Mean episode return (and normalized score) of the policy ``obs -> distribution``.

    Deterministic evaluation acts with the distribution's mode; stochastic samples.
    """

    def act(obs: jax.Array, k: jax.Array) -> jax.Array:
        dist = dist_fn(obs)
        return dist.mode() if deterministic else dist.sample(seed=k)

    rets, lengths = episode_returns(env, act, key, num_episodes)
    out = {"eval_return": jnp.mean(rets), "eval_length": jnp.mean(lengths.astype(jnp.float32))}
    if reference is not None:
        out["normalized_score"] = normalized_score(out["eval_return"], *reference)
    return out


def heldout_metrics(dist_fn: Callable[[jax.Array], Any], heldout: Transition) -> dict[str, jax.Array]:
    """Mean log-likelihood of held-out expert actions, and the MAE of the mode action
    (for discrete actions: the mismatch rate of the greedy action)."""
    dist = dist_fn(heldout.obs)
    mode = dist.mode()
    if mode.ndim == 1:
        mae = jnp.mean((mode != heldout.action).astype(jnp.float32))
    else:
        mae = jnp.mean(jnp.abs(mode - heldout.action))
    return {"heldout_logp": jnp.mean(dist.log_prob(heldout.action)), "heldout_mae": mae}


def evaluate_policy(
    env: Env,
    dist_fn: Callable[[jax.Array], Any],
    key: jax.Array,
    num_episodes: int,
    reference: Reference | None,
    heldout: Transition | None = None,
    deterministic: bool = True,
) -> dict[str, jax.Array]:
    """:func:`policy_metrics`, plus :func:`heldout_metrics` when expert ``heldout``
    transitions are given: what every loop reports at the end of a chunk."""
    metrics = policy_metrics(env, dist_fn, key, num_episodes, reference, deterministic)
    return metrics if heldout is None else metrics | heldout_metrics(dist_fn, heldout)
