"""The one small env API jaxil uses: pure, jit- and vmap-able, single environment.

``reset(key) -> (state, obs)`` and ``step(key, state, action) -> (state, Step)``.
``step`` auto-resets: when an episode ends, ``Step.obs`` is the first observation of
a *fresh* random episode drawn with ``key`` (Brax's own wrapper reuses one cached
initial state; we do not), while ``Step.next_obs`` is the true successor state.
Batch with ``jax.vmap``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from flax import struct


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """Static description of an environment (hashable, so it can close over jit)."""

    name: str  # jaxil id, e.g. "pendulum"
    source: str  # what simulates it, e.g. "gymnax:Pendulum-v1" or "brax:hopper"
    backend: str  # "gymnax" or a Brax physics backend ("positional", "spring", "mjx", ...)
    obs_dim: int
    action_dim: int  # continuous: number of action dimensions; discrete: 1
    num_actions: int | None  # discrete: number of actions; continuous: None
    action_low: tuple[float, ...]  # continuous bounds (empty for discrete)
    action_high: tuple[float, ...]
    max_episode_steps: int

    @property
    def discrete(self) -> bool:
        return self.num_actions is not None

    @property
    def action_shape(self) -> tuple[int, ...]:
        """Shape of one action: ``()`` (an int) for discrete, ``(action_dim,)`` otherwise."""
        return () if self.discrete else (self.action_dim,)

    @property
    def action_dtype(self) -> Any:
        return jnp.int32 if self.discrete else jnp.float32


@struct.dataclass
class Step:
    """What one ``env.step`` returns besides the new state."""

    obs: jax.Array  # observation to act on next (a fresh episode's first one after an end)
    reward: jax.Array
    terminated: jax.Array  # bool: a true terminal state was reached
    truncated: jax.Array  # bool: the time limit cut the episode
    next_obs: jax.Array  # true successor of this transition, before any auto-reset


class Env(Protocol):
    spec: EnvSpec

    def reset(self, key: jax.Array) -> tuple[Any, jax.Array]: ...

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> tuple[Any, Step]: ...


def select_tree(pred: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leafwise ``where``: the auto-reset choice between a fresh and a stepped state."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def random_action(key: jax.Array, spec: EnvSpec) -> jax.Array:
    """One uniformly random action (the random-policy reference of normalized scores)."""
    if spec.discrete:
        return jax.random.randint(key, (), 0, spec.num_actions, dtype=jnp.int32)
    low, high = jnp.asarray(spec.action_low), jnp.asarray(spec.action_high)
    return jax.random.uniform(key, (spec.action_dim,), minval=low, maxval=high)
