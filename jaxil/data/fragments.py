"""Trajectory fragments and preference pairs: what a teacher compares in preference-based
reward learning (Christiano et al. 2017; imitation's fragmenters and PreferenceDataset).

A fragment is ``length`` consecutive steps of one env, inside one episode, cut from a
rollout laid out as the loops collect it: a :class:`Transition` with leaves (T, n, ...),
T steps of n parallel envs. Everything is fixed-shape and runs inside jit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from jaxil.errors import JaxilError
from jaxil.types import Transition


def fragment_starts(traj: Transition, length: int) -> jax.Array:
    """(T − length + 1, n) mask of the starts whose ``length`` steps stay in one episode:
    no step before the fragment's last ends an episode (the last step may end it)."""
    steps = traj.reward.shape[0]
    if not 1 <= length <= steps:
        raise JaxilError(f"fragments of {length} steps cannot be cut from rollouts of {steps} steps; "
                         f"pass a fragment length in 1..{steps}.")
    done = (traj.terminated | traj.truncated).astype(jnp.int32)
    ends_before = jnp.concatenate([jnp.zeros_like(done[:1]), jnp.cumsum(done, 0)])  # (T + 1, n): ends in [0, t)
    # the fragment [t, t + L) is whole if no end falls in [t, t + L − 1)
    inside = ends_before[length - 1:steps] - ends_before[: steps - length + 1]
    return inside == 0


def cut_fragments(key: jax.Array, traj: Transition, length: int, num: int) -> tuple[Transition, jax.Array]:
    """``num`` fragments drawn uniformly (with replacement) among the whole ones: leaves
    (num, length, ...), and whether any whole fragment existed (else the draws are
    arbitrary and must not be used)."""
    ok = fragment_starts(traj, length)
    flat = ok.reshape(-1)
    idx = jax.random.categorical(key, jnp.where(flat, 0.0, -jnp.inf), shape=(num,))
    t0, env = jnp.divmod(idx, ok.shape[1])
    steps = t0[:, None] + jnp.arange(length)
    fragments = jax.tree.map(lambda x: x[steps, env[:, None]], traj)
    return fragments, jnp.any(flat)


def discounted_returns(reward: jax.Array, discount: float | jax.Array = 1.0) -> jax.Array:
    """Σ_t γ^t r_t over each fragment's steps: (..., L) -> (...)."""
    weights = jnp.power(jnp.asarray(discount, reward.dtype), jnp.arange(reward.shape[-1], dtype=reward.dtype))
    return jnp.sum(reward * weights, -1)


@struct.dataclass
class Comparison:
    """A batch of labelled pairs: fragments ``a`` and ``b`` (leaves (B, L, ...)), the
    probability ``label`` that a is preferred (1, 0, 0.5 for "equal", or soft), and
    ``valid`` (False where the teacher skipped the query)."""

    a: Transition
    b: Transition
    label: jax.Array
    valid: jax.Array
