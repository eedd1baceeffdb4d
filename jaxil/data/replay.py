"""A fixed-capacity FIFO replay buffer of transitions that lives inside jit.

Each transition is packed into one float32 row, so adding a batch is a single
in-place slice update and sampling is a single gather. With one array per field,
XLA fuses each field's write into its gathers and must then keep the old field
alive: a full copy of the buffer on every env step (measured: +60% time per SAC
step on hopper with a 1M buffer). For the same reason the online loops sample and
update *before* they step the env: the packed write then depends on the gathered
batch (through the updated policy's action), which orders every read before the
in-place write. Integer fields (discrete actions) round-trip exactly below 2**24.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct


@dataclasses.dataclass(frozen=True)
class Layout:
    """Where each leaf of a transition pytree sits in a packed row (static)."""

    treedef: Any
    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[Any, ...]

    @property
    def width(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    def pack(self, batch: chex.ArrayTree) -> jax.Array:
        """(n, ...) pytree -> (n, width) float32."""
        leaves = jax.tree.leaves(batch)
        n = leaves[0].shape[0]
        return jnp.concatenate([jnp.reshape(x, (n, -1)).astype(jnp.float32) for x in leaves], axis=1)

    def unpack(self, rows: jax.Array) -> chex.ArrayTree:
        """(n, width) float32 -> (n, ...) pytree with the original dtypes."""
        n, leaves, start = rows.shape[0], [], 0
        for shape, dtype in zip(self.shapes, self.dtypes):
            size = math.prod(shape)
            leaves.append(rows[:, start : start + size].reshape((n,) + shape).astype(dtype))
            start += size
        return jax.tree.unflatten(self.treedef, leaves)


@struct.dataclass
class ReplayBuffer:
    rows: jax.Array  # (capacity, width) float32
    pos: jax.Array  # next write index
    size: jax.Array  # valid rows (≤ capacity)
    layout: Layout = struct.field(pytree_node=False)

    @property
    def capacity(self) -> int:
        return self.rows.shape[0]


def init(capacity: int, example: chex.ArrayTree) -> ReplayBuffer:
    """An empty buffer for transitions shaped like one unbatched ``example``."""
    leaves, treedef = jax.tree.flatten(example)
    layout = Layout(treedef, tuple(jnp.shape(x) for x in leaves), tuple(jnp.asarray(x).dtype for x in leaves))
    return ReplayBuffer(jnp.zeros((capacity, layout.width), jnp.float32), jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32), layout)


def add(buffer: ReplayBuffer, batch: chex.ArrayTree, keep: jax.Array | None = None) -> ReplayBuffer:
    """Append a batch (leading axis n ≤ capacity), overwriting the oldest rows. With a
    boolean ``keep`` mask of shape (n,), only the kept rows are written, in order and
    contiguously (a fixed-shape batch whose live rows vary, e.g. model rollouts that
    ended early); the position advances by their count."""
    leaves, treedef = jax.tree.flatten(batch)
    if treedef != buffer.layout.treedef or tuple(x.shape[1:] for x in leaves) != buffer.layout.shapes:
        raise ValueError(
            f"replay.add: batch {jax.tree.map(jnp.shape, batch)} does not match the buffer's transitions "
            f"{jax.tree.unflatten(buffer.layout.treedef, buffer.layout.shapes)} (plus a leading batch axis)"
        )
    rows = buffer.layout.pack(batch)
    n = rows.shape[0]
    if keep is not None:
        chex.assert_shape(keep, (n,))
        kept = jnp.cumsum(keep) - 1  # index of each kept row among the kept ones
        # dropped rows scatter out of bounds and are discarded
        dest = jnp.where(keep, (buffer.pos + kept) % buffer.capacity, buffer.capacity)
        count = jnp.sum(keep, dtype=jnp.int32)
        new = buffer.rows.at[dest].set(rows, mode="drop")
        return buffer.replace(
            rows=new, pos=(buffer.pos + count) % buffer.capacity, size=jnp.minimum(buffer.size + count, buffer.capacity)
        )
    if buffer.capacity % n == 0:  # writes never wrap: an in-place slice update
        new = jax.lax.dynamic_update_slice_in_dim(buffer.rows, rows, buffer.pos, 0)
    else:
        new = buffer.rows.at[(buffer.pos + jnp.arange(n)) % buffer.capacity].set(rows)
    return buffer.replace(rows=new, pos=(buffer.pos + n) % buffer.capacity, size=jnp.minimum(buffer.size + n, buffer.capacity))


def sample(key: jax.Array, buffer: ReplayBuffer, batch_size: int) -> chex.ArrayTree:
    """Uniform with replacement over the valid rows (the argument order of
    ``jaxil.data.sample``, which draws from a dataset)."""
    idx = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return buffer.layout.unpack(buffer.rows[idx])


def contents(buffer: ReplayBuffer) -> chex.ArrayTree:
    """Every valid row, oldest first (host-side export, e.g. a medium-replay dataset)."""
    size, pos = int(buffer.size), int(buffer.pos)
    order = jnp.arange(size) if size < buffer.capacity else (pos + jnp.arange(size)) % buffer.capacity
    return buffer.layout.unpack(buffer.rows[order])
