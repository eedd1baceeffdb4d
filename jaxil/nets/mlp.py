"""Multi-layer perceptrons with activations chosen by name (from configs)."""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxil.errors import JaxilError

def silu(x: jax.Array) -> jax.Array:
    """x·σ(x), with σ(x) = ½(1 + tanh(x/2)). Same function as ``nn.silu`` (within 3e-6;
    float32 rounds 1 + tanh in the far negative tail), but XLA's CPU tanh is a cheap rational approximation where σ costs an exp
    and a division: gradient-penalty updates, which differentiate the activation twice,
    run ~15% faster on CPU (experiments/bench/bench_updates.py)."""
    return x * (0.5 + 0.5 * jnp.tanh(0.5 * x))


ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "silu": silu,
    "tanh": nn.tanh,
    "gelu": nn.gelu,
    "elu": nn.elu,
    "leaky_relu": nn.leaky_relu,
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    if name not in ACTIVATIONS:
        raise JaxilError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}.")
    return ACTIVATIONS[name]


class MLP(nn.Module):
    """Dense → act → ... → Dense(out_dim), no output activation.

    ``out_scale`` scales the last layer's initial weights (0 gives a zero output at
    init, as some critics want; small values give near-uniform initial policies).
    """

    hidden: Sequence[int]
    out_dim: int
    activation: str = "relu"
    out_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        act = activation(self.activation)
        for width in self.hidden:
            x = act(nn.Dense(width)(x))
        if self.out_scale == 0.0:
            last_init = nn.initializers.zeros_init()
        else:
            last_init = nn.initializers.variance_scaling(self.out_scale**2, "fan_in", "truncated_normal")
        return nn.Dense(self.out_dim, kernel_init=last_init)(x)


def ensemble_of(module: type[nn.Module], num: int, per_member_input: bool = False) -> type[nn.Module]:
    """``num`` independent copies of ``module`` in one batched pass: parameters stacked on
    a leading axis (each copy initialised apart), outputs stacked likewise; the input is
    shared, or with ``per_member_input`` carries the leading axis and copy i reads slice i."""
    return nn.vmap(module, variable_axes={"params": 0}, split_rngs={"params": True},
                   in_axes=0 if per_member_input else None, out_axes=0, axis_size=num)
