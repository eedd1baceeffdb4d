"""The true reward of an env as a function of a transition, for measuring learned rewards
against it (EPIC in :mod:`jaxil.reward_eval`): ``reward_fn(obs, action, next_obs,
terminated) -> (B,)``, equal to what the env's ``step`` pays, written from gymnax's
definitions (each checked against the env's own steps in the tests). Tabular MDPs carry
theirs as an array (``TabularMDP.reward``). The MuJoCo envs have none here: their forward
reward needs the root's position before and after the step, which observations leave out.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxil.errors import JaxilError
from jaxil.types import RewardFn


def pendulum(obs, action, next_obs, terminated):
    """−(θ² + 0.1 θ̇² + 0.001 u²) at the state acted in, θ ∈ [−π, π), u clipped to ±2."""
    theta, theta_dot = jnp.arctan2(obs[..., 1], obs[..., 0]), obs[..., 2]
    u = jnp.clip(action[..., 0], -2.0, 2.0)
    return -(theta**2 + 0.1 * theta_dot**2 + 0.001 * u**2)


def cartpole(obs, action, next_obs, terminated):
    """1 for every step of an episode."""
    return jnp.ones(obs.shape[:-1])


def mountaincar(obs, action, next_obs, terminated):
    """−1 for every step."""
    return -jnp.ones(obs.shape[:-1])


def mountaincar_continuous(obs, action, next_obs, terminated):
    """−0.1 a² + 100 on reaching the goal (position ≥ 0.45 with velocity ≥ 0 after the step)."""
    goal = (next_obs[..., 0] >= 0.45) & (next_obs[..., 1] >= 0.0)
    return -0.1 * action[..., 0] ** 2 + 100.0 * goal


def acrobot(obs, action, next_obs, terminated):
    """−1 until the tip is above the bar after the step (−cos θ₁ − cos(θ₁ + θ₂) > 1), then 0."""
    cos1, sin1, cos2, sin2 = (next_obs[..., i] for i in range(4))
    up = -cos1 - (cos1 * cos2 - sin1 * sin2) > 1.0
    return -1.0 * (1.0 - up)


TRUE_REWARDS: dict[str, RewardFn] = {
    "pendulum": pendulum, "cartpole": cartpole, "mountaincar": mountaincar,
    "mountaincar-continuous": mountaincar_continuous, "acrobot": acrobot,
}


def true_reward(name: str) -> RewardFn:
    """The env's reward as a function of transitions (the classic-control envs)."""
    if name not in TRUE_REWARDS:
        raise JaxilError(f"env {name!r} has no true reward as a function of observations here; those that do: "
                         f"{', '.join(TRUE_REWARDS)} (tabular MDPs: TabularMDP.reward).")
    return jax.jit(TRUE_REWARDS[name])
