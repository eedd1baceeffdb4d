"""A Gaussian dynamics ensemble: K MLP members in one batched network."""

from __future__ import annotations

import math
from typing import Sequence

import flax.linen as nn
import jax

from jaxil.nets.mlp import activation, ensemble_of


def soft_clamp(x: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """A smooth clamp of ``x`` into (low, high): h − softplus(h − x), then
    l + softplus(· − l) (PETS' bounded log-variance)."""
    x = high - jax.nn.softplus(high - x)
    return low + jax.nn.softplus(x - low)


class GaussianMember(nn.Module):
    """One member: MLP → (mean, log-variance), the log-variance soft-clamped between
    learnable per-dimension bounds initialised at log(min_std²) and log(max_std²).
    Weights start at N(0, 1/(4·fan_in)), biases at 0 (CleanIL's EnsembleLinear)."""

    hidden: Sequence[int]
    out_dim: int
    activation: str = "silu"
    min_std: float = 0.04
    max_std: float = 1.6

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        init = nn.initializers.variance_scaling(0.25, "fan_in", "normal")
        act = activation(self.activation)
        for width in self.hidden:
            x = act(nn.Dense(width, kernel_init=init)(x))
        out = nn.Dense(2 * self.out_dim, kernel_init=init)(x)
        mean, raw_logvar = out[..., : self.out_dim], out[..., self.out_dim :]
        low = self.param("min_logvar", nn.initializers.constant(2 * math.log(self.min_std)), (self.out_dim,))
        high = self.param("max_logvar", nn.initializers.constant(2 * math.log(self.max_std)), (self.out_dim,))
        return mean, soft_clamp(raw_logvar, low, high)


class GaussianEnsemble(nn.Module):
    """``members`` independent :class:`GaussianMember` nets in one pass.

    ``x`` of shape (B, in) goes to every member; with ``per_member_input`` ``x`` has shape
    (members, B, in) and member k reads ``x[k]`` (each its own minibatch, or its own
    share of rollout rows). Returns (mean, logvar), each (members, B, out_dim).
    """

    members: int = 7
    hidden: Sequence[int] = (200, 200, 200)
    out_dim: int = 1
    activation: str = "silu"
    min_std: float = 0.04
    max_std: float = 1.6
    per_member_input: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        ensemble = ensemble_of(GaussianMember, self.members, self.per_member_input)
        return ensemble(tuple(self.hidden), self.out_dim, self.activation, self.min_std, self.max_std)(x)


def ensemble_kernels(params) -> list[jax.Array]:
    """The weight matrices of a GaussianEnsemble's params, input layer first, each
    (members, in, out)."""
    layers = params["params"]["VmapGaussianMember_0"]
    return [layers[f"Dense_{i}"]["kernel"] for i in range(len([k for k in layers if k.startswith("Dense_")]))]
