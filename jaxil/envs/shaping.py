"""Potential functions for potential-based reward shaping of *expert training* only.

F(s, s') = γ (1 − term) Φ(s') − Φ(s) leaves the optimal policies unchanged (Ng, Harada
& Russell 1999); datasets always store the environment's own reward. MountainCar's goal
is out of reach of random exploration, so its experts are trained with Φ = mechanical
energy of the car, in units of the gravity constant.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxil.errors import JaxilError

_GRAVITY = 0.0025  # gymnax MountainCar(Continuous): v += ... − g cos(3x)


def mountaincar_energy(obs: jax.Array) -> jax.Array:
    """Φ(x, v) = (½ v² + (g/3) sin 3x) / g: kinetic plus potential energy (dU/dx = g cos 3x)."""
    x, v = obs[..., 0], obs[..., 1]
    return (0.5 * jnp.square(v) + _GRAVITY / 3.0 * jnp.sin(3.0 * x)) / _GRAVITY


POTENTIALS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "mountaincar": mountaincar_energy,
    "mountaincar-continuous": mountaincar_energy,
}


def potential(env_name: str) -> Callable[[jax.Array], jax.Array]:
    if env_name not in POTENTIALS:
        raise JaxilError(f"no shaping potential for env {env_name!r}; set shaping to 0 (have: {sorted(POTENTIALS)}).")
    return POTENTIALS[env_name]


def shaped_reward(
    reward: jax.Array,
    obs: jax.Array,
    next_obs: jax.Array,
    terminated: jax.Array,
    phi: Callable[[jax.Array], jax.Array],
    coef: jax.Array | float,
    gamma: jax.Array | float,
) -> jax.Array:
    """r + c · (γ (1 − term) Φ(s') − Φ(s))."""
    return reward + coef * (gamma * (1.0 - terminated.astype(reward.dtype)) * phi(next_obs) - phi(obs))
