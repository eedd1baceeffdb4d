"""Episodes from jaxil's own rollouts and replay buffers, in the form datasets store.

Dataset makers (``jaxil.experts``) collect with these; they know nothing of training.
"""

from __future__ import annotations

import jax
import numpy as np

from jaxil.data.minari_io import Episode
from jaxil.envs.core import Env
from jaxil.envs.rollout import Act, first_episode_mask, rollout
from jaxil.errors import JaxilError
from jaxil.types import Transition


def buffer_episodes(t: Transition, num_envs: int) -> list[Episode]:
    """The complete episodes in replay rows written in order by ``num_envs`` interleaved
    env streams (row ``k·num_envs + i`` is stream i's k-th step), oldest first; an
    episode still running at the end is left out."""
    episodes = []
    for i in range(num_envs):
        stream = jax.tree.map(lambda x: np.asarray(x)[i::num_envs], t)
        ends = np.flatnonzero(stream.terminated | stream.truncated) + 1
        for a, b in zip(np.concatenate([[0], ends[:-1]]), ends):
            episodes.append(
                Episode(
                    observations=np.concatenate([stream.obs[a:b], stream.next_obs[b - 1 : b]], axis=0),
                    actions=stream.action[a:b],
                    rewards=stream.reward[a:b],
                    terminations=stream.terminated[a:b],
                    truncations=stream.truncated[a:b],
                )
            )
    return episodes


def collect_episodes(env: Env, act: Act, key: jax.Array, num_episodes: int) -> list[Episode]:
    """One complete episode per parallel env (each from its own random initial state)."""
    traj = jax.jit(lambda k: rollout(env, act, k, num_episodes, env.spec.max_episode_steps))(key)
    return rollout_episodes(traj, env)


def rollout_episodes(traj: Transition, env: Env) -> list[Episode]:
    """The first episode of each env in a (T, n) rollout of ``max_episode_steps`` steps."""
    mask = np.asarray(first_episode_mask(traj))
    traj = jax.tree.map(np.asarray, traj)
    episodes = []
    for i in range(mask.shape[1]):
        n = int(mask[:, i].sum())
        if not (traj.terminated[n - 1, i] or traj.truncated[n - 1, i]):
            raise JaxilError(f"episode {i} did not end within {env.spec.max_episode_steps} steps; the env's time limit is broken.")
        episodes.append(
            Episode(
                observations=np.concatenate([traj.obs[:n, i], traj.next_obs[n - 1 : n, i]], axis=0),
                actions=traj.action[:n, i],
                rewards=traj.reward[:n, i],
                terminations=traj.terminated[:n, i],
                truncations=traj.truncated[:n, i],
            )
        )
    return episodes
