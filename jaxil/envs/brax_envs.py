"""Brax MuJoCo locomotion with a selectable physics backend.

We do not use Brax's ``EpisodeWrapper``/``AutoResetWrapper``: the latter resets every
finished episode to one cached initial state, which removes start-state diversity from
expert data, learner rollouts and evaluation. Here each reset draws a fresh state.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import jax.numpy as jnp
from flax import struct

from jaxil.envs.core import EnvSpec, Step, select_tree
from jaxil.errors import JaxilError

# Default backend: MuJoCo itself (mjx), for every env. The expert targets (hopper 3000,
# walker2d 4000, halfcheetah 8000, ant 4000) are MuJoCo returns; on the approximate
# backends SAC settles elsewhere (positional hopper: ~2200 with a slower gait). mjx is
# the slowest backend at 128 parallel envs on CPU, but for one-env SAC its step costs
# <1 ms against ~5 ms per update. Pass backend="positional"/"spring" for throughput.
# The backend is recorded in every dataset, and loading data checks it.
DEFAULT_BACKENDS = {name: "mjx" for name in ("hopper", "walker2d", "halfcheetah", "ant")}
BRAX_NAMES = {"hopper": "hopper", "walker2d": "walker2d", "halfcheetah": "halfcheetah", "ant": "ant"}
BACKENDS = ("generalized", "positional", "spring", "mjx")
EPISODE_LENGTH = 1000


@struct.dataclass
class BraxState:
    pipeline: object  # brax.envs.base.State
    t: jax.Array  # steps taken in the current episode


class BraxEnv:
    """Adapter from a Brax ``PipelineEnv`` to jaxil's env API, with a 1000-step limit (or
    ``horizon``)."""

    def __init__(self, name: str, backend: str | None = None, horizon: int | None = None):
        from brax import envs as brax_envs

        backend = backend or DEFAULT_BACKENDS[name]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Brax System")
            self._env = brax_envs.get_environment(BRAX_NAMES[name], backend=backend)
        # Jitted once per env: every program that steps this env (a run's evaluation, its
        # rollouts, the next run in the same process) reuses one trace of MuJoCo's ~9k ops
        # instead of tracing and batching them again (a hopper IQ-Learn run lowers in 8 s, not 12).
        self._reset_raw, self._step_raw = jax.jit(self._env.reset), jax.jit(self._env.step)
        ctrl = self._env.sys.actuator.ctrl_range
        # Brax's observation_size runs a reset op by op (~25 s for mjx on a CPU); its shape
        # alone needs only a trace.
        obs = jax.eval_shape(self._env.reset, jax.random.PRNGKey(0)).obs
        self.spec = EnvSpec(
            name=name,
            source=f"brax:{BRAX_NAMES[name]}",
            backend=backend,
            obs_dim=int(obs.shape[-1]),
            action_dim=int(self._env.action_size),
            num_actions=None,
            action_low=tuple(float(x) for x in ctrl[:, 0]),
            action_high=tuple(float(x) for x in ctrl[:, 1]),
            max_episode_steps=horizon or EPISODE_LENGTH,
        )

    def _fresh(self, key: jax.Array) -> BraxState:
        s = self._reset_raw(key)
        # Brax's reset returns strongly typed fields that step returns weakly typed; fixing
        # the dtypes here keeps a jitted step from compiling twice.
        s = s.replace(
            reward=jnp.asarray(s.reward, jnp.float32), done=jnp.asarray(s.done, jnp.float32)
        )
        s = s.replace(metrics={k: jnp.asarray(v, jnp.float32) for k, v in s.metrics.items()})
        return BraxState(pipeline=s, t=jnp.zeros((), jnp.int32))

    def reset(self, key: jax.Array):
        state = self._fresh(key)
        return state, state.pipeline.obs

    def step(self, key: jax.Array, state: BraxState, action: jax.Array):
        low, high = jnp.asarray(self.spec.action_low), jnp.asarray(self.spec.action_high)
        s = self._step_raw(state.pipeline, jnp.clip(action, low, high))
        s = s.replace(
            reward=jnp.asarray(s.reward, jnp.float32), done=jnp.asarray(s.done, jnp.float32)
        )
        s = s.replace(metrics={k: jnp.asarray(v, jnp.float32) for k, v in s.metrics.items()})
        t = state.t + 1
        terminated = s.done > 0.5
        truncated = t >= self.spec.max_episode_steps
        stepped = BraxState(pipeline=s, t=t)
        fresh = self._fresh(key)
        new_state = select_tree(terminated | truncated, fresh, stepped)
        return new_state, Step(
            obs=new_state.pipeline.obs,
            reward=s.reward,
            terminated=terminated,
            truncated=truncated,
            next_obs=s.obs,
        )

    def render(self, obs: np.ndarray, action: np.ndarray | None = None, height: int = 240,
               width: int = 320) -> np.ndarray:
        """Frames (L, H, W, 3) uint8 of a stretch of observations (L, obs_dim), drawn by MuJoCo's
        renderer (Brax's ``render_array``) from the tracking camera. The observation leaves
        out the root's horizontal position; it is integrated from the root velocity the
        observation holds (from 0), which shows the progress a fragment makes. Headless
        machines render through EGL (``MUJOCO_GL``, set by ``jaxil.envs`` when no display)."""
        import mujoco
        from brax.io import image

        obs = np.asarray(obs, np.float64)
        if obs.ndim != 2 or obs.shape[1] != self.spec.obs_dim:
            raise JaxilError(f"render takes observations (L, {self.spec.obs_dim}) of {self.spec.name}, got {obs.shape}.")
        sys = self._env.sys
        nq, nv = sys.mj_model.nq, sys.mj_model.nv
        hidden = nq + nv - self.spec.obs_dim  # root coordinates left out of the observation
        q_seen, qd = obs[:, : nq - hidden], obs[:, nq - hidden : nq - hidden + nv]
        root = np.cumsum(qd[:, :hidden] * float(self._env.dt), axis=0)
        q = np.concatenate([root, q_seen], axis=1)
        try:
            return np.stack(image.render_array(sys, [_Pose(q=a, qd=b) for a, b in zip(q, qd)], height, width,
                                               camera="track"))
        except (mujoco.FatalError, RuntimeError, AttributeError, OSError) as err:  # no OpenGL context to draw in
            raise JaxilError(f"MuJoCo could not open an OpenGL context ({err}); on a machine without a display set "
                             "MUJOCO_GL=egl (or osmesa) before anything imports mujoco.") from err


@struct.dataclass
class _Pose:
    """What Brax's renderer reads of a state: joint positions and velocities."""

    q: np.ndarray
    qd: np.ndarray
