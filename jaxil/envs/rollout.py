"""Roll a policy out in many envs at once, inside jit."""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from jaxil.envs.core import Env
from jaxil.types import Transition

Act = Callable[[jax.Array, jax.Array], jax.Array]  # (obs, key) -> action, one env


def rollout(env: Env, act: Act, key: jax.Array, num_envs: int, num_steps: int) -> Transition:
    """``num_steps`` steps of ``num_envs`` freshly reset envs; leaves are (T, num_envs, ...)."""

    def one_env(k: jax.Array) -> Transition:
        reset_key, run_key = jax.random.split(k)
        state, obs = env.reset(reset_key)

        def body(carry, step_key):
            state, obs = carry
            act_key, env_key = jax.random.split(step_key)
            action = act(obs, act_key)
            state, step = env.step(env_key, state, action)
            t = Transition(obs, action, step.reward, step.next_obs, step.terminated, step.truncated)
            return (state, step.obs), t

        _, traj = jax.lax.scan(body, (state, obs), jax.random.split(run_key, num_steps))
        return traj

    return jax.vmap(one_env, out_axes=1)(jax.random.split(key, num_envs))


def first_episode_mask(traj: Transition) -> jax.Array:
    """(T, n) mask of the steps that belong to each env's first episode."""
    done = traj.terminated | traj.truncated
    ended_before = jnp.cumsum(done, axis=0) - done
    return ended_before == 0


def track_returns(
    episode_return: jax.Array, last_return: jax.Array, reward: jax.Array, done: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Running returns of parallel envs after one step: (running, last finished mean).

    ``last_return`` becomes the mean return of the episodes that ended at this step, and
    keeps its value when none did (a training-curve metric from the learner's own data).
    """
    ep_ret = episode_return + reward
    n_done = jnp.sum(done)
    finished = jnp.sum(jnp.where(done, ep_ret, 0.0)) / jnp.maximum(n_done, 1)
    return jnp.where(done, 0.0, ep_ret), jnp.where(n_done > 0, finished, last_return)


def step_envs(env: Env, ts, action: jax.Array, key: jax.Array):
    """Step the parallel envs held in ``ts`` once with ``action`` (one per env). ``ts`` is
    any pytree with ``env_state``, ``obs``, ``episode_return`` and ``last_return``, as the
    online loops' states are; returns it updated, and the transitions taken."""
    n = ts.obs.shape[0]
    env_state, step = jax.vmap(env.step)(jax.random.split(key, n), ts.env_state, action)
    t = Transition(ts.obs, action, step.reward, step.next_obs, step.terminated, step.truncated)
    ep_ret, last = track_returns(ts.episode_return, ts.last_return, step.reward, step.terminated | step.truncated)
    return ts.replace(env_state=env_state, obs=step.obs, episode_return=ep_ret, last_return=last), t
