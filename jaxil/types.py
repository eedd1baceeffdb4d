"""Transitions: the pytree every algorithm, buffer and dataset speaks.

``terminated`` and ``truncated`` stay separate everywhere: termination masks the
bootstrap (the episode really ended), truncation never does (a time limit cut it).
"""

from __future__ import annotations

from typing import Callable

import chex
import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
    """A batch of transitions ``(s, a, r, s', terminated, truncated)``.

    Shapes for a batch of ``B``: ``obs``/``next_obs`` ``(B, obs_dim)``; ``action``
    ``(B, act_dim)`` float for continuous actions or ``(B,)`` int32 for discrete;
    ``reward``, ``terminated``, ``truncated`` ``(B,)``. ``next_obs`` is always the
    true successor, also at the last step of an episode (never a reset observation).
    """

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    truncated: jax.Array

    @property
    def size(self) -> int:
        return self.reward.shape[0]

    def check(self) -> None:
        """Shape checks at a boundary (data loading, buffer insertion)."""
        n = self.reward.shape[0]
        chex.assert_rank(self.obs, 2)
        chex.assert_equal_shape([self.obs, self.next_obs])
        chex.assert_shape([self.reward, self.terminated, self.truncated], (n,))
        chex.assert_axis_dimension(self.obs, 0, n)
        chex.assert_axis_dimension(self.action, 0, n)


def transition(obs: jax.Array, action: jax.Array, next_obs: jax.Array, terminated: jax.Array) -> Transition:
    """Transitions from what a reward function reads (zero reward, no truncation)."""
    zeros = jnp.zeros(terminated.shape)
    return Transition(obs, action, zeros, next_obs, terminated, zeros.astype(bool))


def concat(a: Transition, b: Transition) -> Transition:
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y], axis=0), a, b)


RewardFn = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
"""``reward_fn(obs, action, next_obs, terminated) -> rewards (B,)``: a learned reward as
a user takes it away, and what solvers train on in place of the env's."""


def relabel(batch: Transition, reward_fn: RewardFn) -> Transition:
    """``batch`` with its rewards replaced by ``reward_fn``'s (no gradient), for any
    leading batch shape (e.g. a ``(T, num_envs)`` rollout)."""
    lead = batch.reward.shape
    flat = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[len(lead):]), batch)
    reward = reward_fn(flat.obs, flat.action, flat.next_obs, flat.terminated)
    return batch.replace(reward=jax.lax.stop_gradient(reward).reshape(lead))
