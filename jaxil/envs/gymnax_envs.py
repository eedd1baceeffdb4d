"""Classic control from gymnax (>= 1.0, which reports terminated and truncated apart)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import gymnax
from gymnax.environments import spaces

from jaxil.envs.core import EnvSpec, Step


class GymnaxEnv:
    """Adapter from a gymnax environment to jaxil's env API."""

    def __init__(self, name: str, gymnax_id: str):
        self._env, self._params = gymnax.make(gymnax_id)
        action_space = self._env.action_space(self._params)
        obs_space = self._env.observation_space(self._params)
        if isinstance(action_space, spaces.Discrete):
            num_actions, action_dim, low, high = int(action_space.n), 1, (), ()
        else:
            num_actions = None
            action_dim = int(action_space.shape[0])
            low = tuple(float(x) for x in jnp.broadcast_to(action_space.low, action_space.shape))
            high = tuple(float(x) for x in jnp.broadcast_to(action_space.high, action_space.shape))
        self.spec = EnvSpec(
            name=name,
            source=f"gymnax:{gymnax_id}",
            backend="gymnax",
            obs_dim=int(obs_space.shape[0]),
            action_dim=action_dim,
            num_actions=num_actions,
            action_low=low,
            action_high=high,
            max_episode_steps=int(self._params.max_steps_in_episode),
        )

    def reset(self, key: jax.Array):
        obs, state = self._env.reset(key, self._params)
        return state, obs.astype(jnp.float32)

    def step(self, key: jax.Array, state, action: jax.Array):
        # gymnax >= 1.0 auto-resets from a fresh reset key and keeps the true s'.
        obs, state, reward, terminated, truncated, info = self._env.step(
            key, state, action, self._params
        )
        return state, Step(
            obs=obs.astype(jnp.float32),
            reward=jnp.asarray(reward, jnp.float32),
            terminated=jnp.asarray(terminated, bool),
            truncated=jnp.asarray(truncated, bool),
            next_obs=info["final_observation"].astype(jnp.float32),
        )
