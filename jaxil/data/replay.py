"""A fixed-capacity FIFO replay buffer of transitions that lives inside jit."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
from flax import struct

from jaxil.types import Transition


@struct.dataclass
class ReplayBuffer:
    data: Transition  # leading axis: capacity
    pos: jax.Array  # next write index
    size: jax.Array  # valid rows (≤ capacity)

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]


def init(capacity: int, example: Transition) -> ReplayBuffer:
    """An empty buffer shaped like one unbatched transition ``example``."""
    data = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example)
    return ReplayBuffer(data, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def add(buffer: ReplayBuffer, batch: Transition) -> ReplayBuffer:
    """Append a batch (leading axis n ≤ capacity), overwriting the oldest rows."""
    n = batch.reward.shape[0]
    chex.assert_trees_all_equal_structs(buffer.data, batch)
    idx = (buffer.pos + jnp.arange(n)) % buffer.capacity
    data = jax.tree.map(lambda d, b: d.at[idx].set(b), buffer.data, batch)
    return ReplayBuffer(data, (buffer.pos + n) % buffer.capacity, jnp.minimum(buffer.size + n, buffer.capacity))


def sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Transition:
    """Uniform with replacement over the valid rows."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda x: x[idx], buffer.data)
