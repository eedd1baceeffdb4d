"""Learned reward models r(s, a[, done]) for IRL and adversarial imitation."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxil.nets.mlp import MLP


def action_features(action: jax.Array, num_actions: int | None) -> jax.Array:
    """What a reward net reads of an action: the action itself, or one-hot for a discrete
    one given as its index (``num_actions`` choices; None for continuous actions). Float
    actions pass unchanged, so features of features (e.g. interpolated one-hots) are fine."""
    if num_actions is None or jnp.issubdtype(jnp.result_type(action), jnp.floating):
        return action
    return jax.nn.one_hot(action, num_actions)


def absorbing_input(x: jax.Array, done: jax.Array) -> jax.Array:
    """``[x·(1−d), d]``: every terminal transition maps to one absorbing input (DAC)."""
    d = done.astype(x.dtype)[..., None]
    return jnp.concatenate([x * (1.0 - d), d], axis=-1)


class RewardModel(nn.Module):
    """``r(s, a)`` (or ``r(s)`` if ``state_only``), optionally with an absorbing-state flag.

    ``max_reward`` clips the output to ``[-max_reward, max_reward]`` when set.
    """

    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"
    state_only: bool = False
    use_done: bool = False
    max_reward: float | None = None

    @nn.compact
    def __call__(
        self, obs: jax.Array, action: jax.Array | None = None, done: jax.Array | None = None
    ) -> jax.Array:
        x = obs if self.state_only else jnp.concatenate([obs, action], axis=-1)
        if self.use_done:
            x = absorbing_input(x, done)
        r = MLP(tuple(self.hidden), 1, self.activation)(x)[..., 0]
        if self.max_reward is not None:
            r = jnp.clip(r, -self.max_reward, self.max_reward)
        return r
