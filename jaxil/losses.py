"""Shared RL/IL math, written once: returns and advantages, TD targets.

Every algorithm imports these instead of re-deriving them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae_advantages(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: jax.Array | float,
    lam: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimation (Schulman et al. 2016) over time axis 0.

    δ_t = r_t + γ (1 − term_t) V(s'_t) − V(s_t)
    A_t = δ_t + γ λ (1 − done_t) A_{t+1},   done = terminated ∨ truncated

    ``next_value`` is V of the true successor, so truncated steps still bootstrap
    while the recursion stops at every episode boundary. Returns (A, A + V).
    """
    delta = reward + gamma * (1.0 - terminated) * next_value - value
    cont = gamma * lam * (1.0 - done)

    def back(adv_next, x):
        d, c = x
        adv = d + c * adv_next
        return adv, adv

    _, adv = jax.lax.scan(back, jnp.zeros_like(delta[0]), (delta, cont), reverse=True)
    return adv, adv + value


def td_target(
    reward: jax.Array, next_value: jax.Array, terminated: jax.Array, gamma: jax.Array | float
) -> jax.Array:
    """y = r + γ (1 − terminated) V(s'); truncation never masks the bootstrap."""
    return reward + gamma * (1.0 - terminated.astype(reward.dtype)) * next_value
