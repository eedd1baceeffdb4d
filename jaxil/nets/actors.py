"""Policies that return distrax distributions: tanh-Gaussian and categorical."""

from __future__ import annotations

from typing import Sequence

import distrax
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxil.envs.core import EnvSpec
from jaxil.nets.mlp import MLP

# Standard deviations live in [1e-3, 3]; the squashing keeps gradients alive at the
# bounds, where hard clipping would zero them.
LOG_STD_MIN = float(jnp.log(1e-3))
LOG_STD_MAX = float(jnp.log(3.0))
# Data actions at the bounds have atanh = ±inf; they are pulled inside by this much.
BOUND_EPS = 1e-6


class TanhGaussian(distrax.Transformed):
    """``a = mid + half · tanh(x)``, ``x ~ N(loc, diag(scale²))``, over ``[low, high]``."""

    def __init__(self, loc: jax.Array, scale: jax.Array, low: jax.Array, high: jax.Array):
        self.low, self.high = low, high
        mid, half = (high + low) / 2.0, (high - low) / 2.0
        squash = distrax.Block(distrax.Chain([distrax.ScalarAffine(shift=mid, scale=half), distrax.Tanh()]), 1)
        super().__init__(distrax.MultivariateNormalDiag(loc, scale), squash)

    def log_prob(self, value: jax.Array) -> jax.Array:
        mid, half = (self.high + self.low) / 2.0, (self.high - self.low) / 2.0
        u = jnp.clip((value - mid) / half, -1.0 + BOUND_EPS, 1.0 - BOUND_EPS)
        return super().log_prob(mid + half * u)

    def mode(self) -> jax.Array:
        return self.bijector.forward(self.distribution.loc)

    def entropy_estimate(self, key: jax.Array) -> jax.Array:
        """Single-sample estimate ``−log π(ã|s)``, ``ã ~ π`` (no closed form exists)."""
        _, logp = self.sample_and_log_prob(seed=key)
        return -logp


class Categorical(distrax.Categorical):
    """distrax's categorical with the same helper names as ``TanhGaussian``."""

    def entropy_estimate(self, key: jax.Array) -> jax.Array:
        del key
        return self.entropy()


class TanhGaussianActor(nn.Module):
    """Tanh-squashed Gaussian policy over the box ``[action_low, action_high]``.

    By default the log-std is a state-dependent head squashed into
    ``[log 1e-3, log 3]`` (SAC-style). With ``log_std_init`` set, it is instead one
    learned state-independent vector starting at that value (PPO-style).
    """

    action_low: Sequence[float]
    action_high: Sequence[float]
    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"
    log_std_init: float | None = None
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> TanhGaussian:
        act_dim = len(self.action_low)
        if self.log_std_init is None:
            out = MLP(self.hidden, 2 * act_dim, self.activation, self.out_scale)(obs)
            loc, raw = jnp.split(out, 2, axis=-1)
            log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (jnp.tanh(raw) + 1.0)
        else:
            loc = MLP(self.hidden, act_dim, self.activation, self.out_scale)(obs)
            log_std = self.param("log_std", nn.initializers.constant(self.log_std_init), (act_dim,))
            log_std = jnp.broadcast_to(jnp.clip(log_std, LOG_STD_MIN, LOG_STD_MAX), loc.shape)
        low = jnp.asarray(self.action_low, jnp.float32)
        high = jnp.asarray(self.action_high, jnp.float32)
        return TanhGaussian(loc, jnp.exp(log_std), low, high)


class CategoricalActor(nn.Module):
    num_actions: int
    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, obs: jax.Array) -> Categorical:
        logits = MLP(self.hidden, self.num_actions, self.activation, self.out_scale)(obs)
        return Categorical(logits=logits)


def make_actor(
    spec: EnvSpec,
    hidden: Sequence[int],
    activation: str,
    *,
    log_std_init: float | None = None,
    out_scale: float = 1.0,
) -> nn.Module:
    """The policy family that fits the env's action space."""
    if spec.discrete:
        return CategoricalActor(spec.num_actions, tuple(hidden), activation, out_scale)
    return TanhGaussianActor(
        spec.action_low, spec.action_high, tuple(hidden), activation, log_std_init, out_scale
    )
