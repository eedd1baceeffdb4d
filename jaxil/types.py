"""Transitions: the pytree every algorithm, buffer and dataset speaks.

``terminated`` and ``truncated`` stay separate everywhere: termination masks the
bootstrap (the episode really ended), truncation never does (a time limit cut it).
"""

from __future__ import annotations

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


def concat(a: Transition, b: Transition) -> Transition:
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y], axis=0), a, b)


def take(t: Transition, idx: jax.Array) -> Transition:
    return jax.tree.map(lambda x: x[idx], t)
