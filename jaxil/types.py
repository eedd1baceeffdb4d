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


def check_batch(batch: Transition, spec, what: str = "batch") -> None:
    """Shapes and dtypes of transitions (any leading batch shape) for the env ``spec``,
    checked while tracing (free inside jit): a :class:`JaxilError` names what was expected
    and what came, instead of a wrong loss or a raw JAX error later."""
    from jaxil.errors import JaxilError

    if not isinstance(batch, Transition):
        raise JaxilError(f"{what} must be a jaxil.types.Transition, got {type(batch).__name__}.")
    obs = jnp.shape(batch.obs)
    lead = obs[:-1]
    action = (lead + spec.action_shape, "integer" if spec.discrete else "floating")
    expected = {
        "obs": (lead + (spec.obs_dim,), "floating"),
        "next_obs": (lead + (spec.obs_dim,), "floating"),
        "action": action,
        "reward": (lead, "floating"),
        "terminated": (lead, "bool"),
        "truncated": (lead, "bool"),
    }
    if len(obs) < 2 or obs[-1] != spec.obs_dim:
        raise JaxilError(
            f"{what}.obs has shape {obs}, expected (batch, {spec.obs_dim}) for env {spec.name!r} "
            "(observations in a batch, one per row)."
        )
    for name, (shape, kind) in expected.items():
        x = getattr(batch, name)
        dtype = jnp.result_type(x)
        ok_kind = (jnp.issubdtype(dtype, jnp.floating) if kind == "floating" else
                   jnp.issubdtype(dtype, jnp.integer) if kind == "integer" else dtype == jnp.bool_)
        if jnp.shape(x) != shape or not ok_kind:
            raise JaxilError(
                f"{what}.{name} has shape {jnp.shape(x)} and dtype {dtype}, expected shape {shape} of {kind} "
                f"values for env {spec.name!r}" + (f" ({spec.action_dim} action dimension(s))"
                                                   if name == "action" and not spec.discrete else "") + "."
            )


def check_obs_stats(spec, obs_mean, obs_std) -> None:
    """Observation statistics given to an ``init`` must be one value per observation dimension."""
    from jaxil.errors import JaxilError

    for name, x in (("obs_mean", obs_mean), ("obs_std", obs_std)):
        if x is not None and jnp.shape(x) != (spec.obs_dim,):
            raise JaxilError(f"{name} has shape {jnp.shape(x)}, expected ({spec.obs_dim},) for env {spec.name!r}; "
                             "pass the statistics of data from this env (e.g. data.expert_data(...).obs_mean).")


def check_pair(batch, spec, names: tuple[str, str], second_is_rollout: bool = False) -> tuple:
    """A two-source batch (e.g. ``(expert, replay)``), each part checked by :func:`check_batch`."""
    from jaxil.errors import JaxilError

    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise JaxilError(f"batch must be a pair ({names[0]}, {names[1]}), got {type(batch).__name__}.")
    first, second = batch
    check_batch(first, spec, names[0])
    check_batch(second.transition if second_is_rollout else second, spec, names[1])
    return first, second


def transition(obs: jax.Array, action: jax.Array, next_obs: jax.Array, terminated: jax.Array) -> Transition:
    """Transitions from what a reward function reads (zero reward, no truncation)."""
    zeros = jnp.zeros(terminated.shape)
    return Transition(obs, action, zeros, next_obs, terminated, zeros.astype(bool))


def example_transition(spec) -> Transition:
    """One unbatched all-zero transition of ``spec``'s shapes and dtypes (what a replay
    buffer's layout is built from)."""
    obs = jnp.zeros(spec.obs_dim)
    return Transition(obs, jnp.zeros(spec.action_shape, spec.action_dtype), jnp.zeros(()), obs, jnp.zeros((), bool),
                      jnp.zeros((), bool))


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
