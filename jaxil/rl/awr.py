"""Advantage-weighted regression (Peng et al. 2019) as a policy-extraction step.

Offline IL critics (IQ-Learn, RECOIL) extract their policy by weighted maximum
likelihood on data actions instead of maximizing Q through the actor:

    A(s, a) = min_i Q_i(s, a) − min_i Q_i(s, ã),   ã ~ π(·|s)
    w = min(exp(A / β), w_max)
    L_π = −E [ w · log π(a | s) ]

It works on a ``jaxil.rl.sac.State`` (the same actor, critics and optimizers as SAC).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxil.rl import sac


def awr_loss(actor_params, state: sac.State, obs: jax.Array, action: jax.Array, weight: jax.Array):
    """−E [w · log π(a|s)] with the weights held fixed."""
    logp = sac.policy(state, obs, actor_params).log_prob(action)
    loss = -jnp.mean(jax.lax.stop_gradient(weight) * logp)
    return loss, {"actor_loss": loss, "log_prob": jnp.mean(logp), "awr_weight": jnp.mean(weight)}


def awr_weights(
    state: sac.State,
    obs: jax.Array,
    action: jax.Array,
    key: jax.Array,
    beta: jax.Array | float,
    max_weight: float,
    q_fn: sac.QFn | None = None,
) -> jax.Array:
    """w = min(exp((min_i Q_i(s, a) − min_i Q_i(s, ã)) / β), w_max), ã ~ π(·|s);
    ``q_fn(obs, action) -> (num_qs, B)`` defaults to the online critics."""
    if q_fn is None:
        q_fn = lambda o, a: sac.q_values(state, state.critic_params, o, a)  # noqa: E731
    policy_action = sac.policy(state, obs).sample(seed=key)
    q = lambda a: jnp.min(q_fn(obs, a), axis=0)  # noqa: E731
    advantage = q(action) - q(policy_action)
    return jnp.minimum(jnp.exp(advantage / beta), max_weight)


def perturb_actions(key: jax.Array, action: jax.Array, std: jax.Array | float, fraction: float) -> jax.Array:
    """Gaussian noise of ``std`` on a random ``fraction`` of the rows, then clipped to the
    batch's action range: keeps AWR from collapsing onto the exact data actions."""
    k_mask, k_noise = jax.random.split(key)
    mask = jax.random.bernoulli(k_mask, fraction, (action.shape[0], 1))
    noisy = action + mask * std * jax.random.normal(k_noise, action.shape)
    return jnp.clip(noisy, jnp.min(action), jnp.max(action))


def update_actor(
    state: sac.State,
    obs: jax.Array,
    action: jax.Array,
    beta: jax.Array | float,
    max_weight: float = 100.0,
    q_fn: sac.QFn | None = None,
) -> tuple[sac.State, dict]:
    """One AWR step of the actor on data pairs ``(obs, action)``."""
    key, k = jax.random.split(state.key)
    weight = awr_weights(state, obs, action, k, beta, max_weight, q_fn)
    state, metrics = sac.step_actor(state, awr_loss, state, obs, action, weight)
    return state.replace(key=key), metrics
