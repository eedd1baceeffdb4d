"""Shared RL/IL math, written once: returns and advantages, TD targets.

Every algorithm imports these instead of re-deriving them.
"""

from __future__ import annotations

from typing import Callable

import chex
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
    reward: jax.Array, next_value: jax.Array, terminated: jax.Array, gamma: jax.Array | float,
    absorbing: bool = False,
) -> jax.Array:
    """y = r + γ (1 − d) V(s'), d = terminated; truncation never masks the bootstrap.

    ``absorbing``: a termination enters an absorbing state that keeps paying the terminal
    reward r, so the terminal row's value is Σ_{k≥0} γ^k r = r/(1 − γ) (DAC; CleanIL's
    ``closed_form_terminal``): the target adds the tail Σ_{k≥1} γ^k r = γ r/(1 − γ),
    y = r + γ (1 − d) V(s') + d γ r/(1 − γ). Only for learned rewards with an
    absorbing-state input; with an env's reward it would pay the last step forever."""
    d = terminated.astype(reward.dtype)
    y = reward + gamma * (1.0 - d) * next_value
    return y + d * gamma / (1.0 - gamma) * reward if absorbing else y


def l2_penalty(params: chex.ArrayTree) -> jax.Array:
    """½ Σθ² over every parameter (weight decay written as a loss term)."""
    return 0.5 * sum(jnp.sum(jnp.square(p)) for p in jax.tree.leaves(params))


def gradient_penalty(
    f: Callable[[jax.Array], jax.Array],
    real: jax.Array,
    fake: jax.Array | None = None,
    key: jax.Array | None = None,
    *,
    target: jax.Array | float = 1.0,
    weight: jax.Array | float = 1.0,
    one_sided: bool = True,
    ord: float = jnp.inf,
    heads: int | None = None,
) -> jax.Array:
    """weight · mean_b φ(‖∇_x f(x̂_b)‖_ord − target), per example (vmap of grad).

    x̂ = u·real + (1 − u)·fake with u ~ U(0, 1) per row when ``fake`` is given
    (WGAN-GP interpolates), else x̂ = real (a penalty at the points themselves).
    φ(z) = max(z, 0)² when ``one_sided`` (a margin: only steeper than ``target`` is
    penalized), else z². ``f`` maps one input row (D,) to a scalar. For an ensemble of
    ``heads`` independent networks, ``f`` maps per-head rows (H, D) to (H,), head h
    reading only row h: one backward pass then gives every head's gradient (a Jacobian
    of a shared input would take H passes); heads are penalized separately, averaged.
    """
    x = real
    if fake is not None:
        if key is None:
            raise ValueError("gradient_penalty: interpolating needs a key.")
        u = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1))
        x = u * real + (1.0 - u) * fake
    if heads is None:
        jac = jax.vmap(jax.grad(f))(x)  # (B, D)
    else:
        per_head = lambda row: jnp.broadcast_to(row, (heads,) + row.shape)  # noqa: E731
        jac = jax.vmap(jax.grad(lambda xh: jnp.sum(f(xh))))(jax.vmap(per_head)(x))  # (B, H, D)
    z = jnp.linalg.norm(jac, ord=ord, axis=-1) - target
    phi = jnp.square(jnp.maximum(z, 0.0)) if one_sided else jnp.square(z)
    return weight * jnp.mean(phi)
