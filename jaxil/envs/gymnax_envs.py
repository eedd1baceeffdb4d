"""Classic control from gymnax (>= 1.0, which reports terminated and truncated apart)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import gymnax
import numpy as np
from gymnax.environments import spaces

from jaxil.envs.core import EnvSpec, Step
from jaxil.errors import JaxilError

# gymnasium's state vector from an observation: the same for all but the two envs whose
# observations give angles as (cos, sin)
STATE_FROM_OBS = {
    "Pendulum-v1": lambda o: np.stack([np.arctan2(o[..., 1], o[..., 0]), o[..., 2]], -1),
    "Acrobot-v1": lambda o: np.stack([np.arctan2(o[..., 1], o[..., 0]), np.arctan2(o[..., 3], o[..., 2]),
                                      o[..., 4], o[..., 5]], -1),
}


class GymnaxEnv:
    """Adapter from a gymnax environment to jaxil's env API."""

    def __init__(self, name: str, gymnax_id: str, horizon: int | None = None):
        self._env, self._params = gymnax.make(gymnax_id)
        if horizon is not None:  # e.g. gym's CartPole-v0: v1's dynamics, 200-step episodes
            self._params = self._params.replace(max_steps_in_episode=horizon)
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

    def render(self, obs: np.ndarray, action: np.ndarray | None = None) -> np.ndarray:
        """Frames (L, H, W, 3) uint8 of a stretch of observations (L, obs_dim), drawn by
        gymnasium's own classic-control renderer from the state each observation gives
        (pendulum's torque arrow from ``action``). Needs pygame (``pip install 'jaxil[render]'``)."""
        import os

        import gymnasium as gym

        # pygame draws off screen; without these SDL looks for a display and a sound card
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
        obs = np.asarray(obs, np.float64)
        if obs.ndim != 2 or obs.shape[1] != self.spec.obs_dim:
            raise JaxilError(f"render takes observations (L, {self.spec.obs_dim}) of {self.spec.name}, got {obs.shape}.")
        gymnax_id = self.spec.source.split(":", 1)[1]
        try:
            env = gym.make(gymnax_id, render_mode="rgb_array")
        except gym.error.DependencyNotInstalled as err:
            raise JaxilError(f"drawing {self.spec.name} uses gymnasium's renderer, which needs pygame: "
                             "pip install 'jaxil[render]' (or pygame).") from err
        states = STATE_FROM_OBS.get(gymnax_id, lambda o: o)(obs)
        frames = []
        try:
            env.reset(seed=0)
            for t, state in enumerate(states):
                env.unwrapped.state = state
                if gymnax_id == "Pendulum-v1" and action is not None:
                    env.unwrapped.last_u = float(np.asarray(action)[t].reshape(-1)[0])
                frames.append(env.render())
        finally:
            env.close()
        return np.stack(frames)
