"""Critics: an ensemble of Q networks (two for double-Q) and a state-value network."""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxil.nets.mlp import MLP, ensemble_of


class QEnsemble(nn.Module):
    """``num`` independent Q networks evaluated in one batched pass.

    Continuous actions: ``Q(s, a) -> (num, B)``. Discrete actions (``num_actions``
    set): ``Q(s) -> (num, B, num_actions)`` and ``action`` is ignored. With
    ``per_head_input`` the inputs carry a leading (num,) axis and head i reads slice i
    (same parameters; used for per-head input gradients).
    """

    hidden: Sequence[int] = (256, 256)
    activation: str = "relu"
    num: int = 2
    num_actions: int | None = None
    out_scale: float = 1.0
    per_head_input: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array | None = None) -> jax.Array:
        x = obs if self.num_actions is not None else jnp.concatenate([obs, action], axis=-1)
        heads = ensemble_of(MLP, self.num, self.per_head_input)
        out_dim = self.num_actions if self.num_actions is not None else 1
        q = heads(tuple(self.hidden), out_dim, self.activation, self.out_scale)(x)
        return q if self.num_actions is not None else q[..., 0]


class ValueNet(nn.Module):
    hidden: Sequence[int] = (64, 64)
    activation: str = "tanh"

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        return MLP(tuple(self.hidden), 1, self.activation)(obs)[..., 0]
