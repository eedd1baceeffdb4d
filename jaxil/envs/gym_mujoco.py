"""gymnasium's MuJoCo locomotion on MJX, step for step: the envs the field reports on.

Offered by ``jaxil.envs.make``: Hopper, HalfCheetah and Walker2d, v5 and v4. Ant-v5 is
defined below but not offered yet. Measured in float64 under uniform random actions from
gymnasium's reset(seed=0): MJX's own plane–capsule collider orients friction pyramids
otherwise than C for steep legs (0.07 apart after two steps); with C's frames
(:func:`c_contact_frames`, used by every env here) the two agree to 1e-6 after one step,
1e-3 after 10, 4e-3 after 20 and part by 30 (0.5). What is left is MJX's RK4 step (Ant's
integrator): it differs from C's by 4e-8 per physics step while joint limits are active,
3e-10 with constraints off; with Euler in both the two agree to 1e-11 for 150 physics steps
through contacts. (gymnasium also reports the reset's unnormalized root quaternion in the
first observation, where MJX's state holds it normalized.)

Brax's hopper, halfcheetah, walker2d and ant (``jaxil.envs.brax_envs``) are other models
(XMLs, gears, frame skips) than gymnasium's, so their returns do not sit beside a paper's.
These envs load the model files gymnasium ships and follow its definitions
(``gymnasium/envs/mujoco/*_v5.py``, ``*_v4.py``) term by term:

- the step: ``ctrl = action`` (MuJoCo clamps it to the actuators' range; the control cost
  uses the action as given), ``frame_skip`` physics steps, and for Ant the contact forces
  (``mj_rnePostConstraint``); dt = timestep · frame_skip;
- the forward reward: the change of the root's x position (Ant: its main body's) over the
  step, divided by dt, times ``forward_weight``; minus ``ctrl_weight`` · Σ action², minus
  (Ant) ``contact_weight`` · Σ clip(cfrc_ext, −1, 1)²; plus ``healthy_reward`` while healthy
  (v4 pays it on the terminating step too, v5 does not);
- health and termination: hopper z > 0.7, |angle| < 0.2 and every other state entry in
  (−100, 100); walker2d 0.8 < z < 2 and −1 < angle < 1; ant 0.2 ≤ z ≤ 1 and a finite state;
  halfcheetah never ends; every env is truncated at 1000 steps (gymnasium's TimeLimit);
- the observation: qpos without the root's x (Ant: x and y), qvel (hopper and walker2d: clipped
  to ±10), Ant: the clipped contact forces of every body but the world;
- the reset: qpos0 + U(−s, s) and qvel + U(−s, s) (hopper, walker2d; s = 0.005) or
  qvel + s·N(0, 1) (halfcheetah, ant; s = 0.1), drawn from the key (gymnasium's numpy
  generator draws other numbers; ``state_from(qpos, qvel)`` starts where one says).

MJX runs the model's own solver settings (Newton, 100 iterations, 50 line-search steps; the
XML's integrator) in JAX's default float type: float32, or float64 under ``jax_enable_x64``.
Against C MuJoCo (float64) step for step, float32 stays within ~1e-6 for the first steps
and then drifts where the dynamics are chaotic (halfcheetah under random actions: 9e-5 after
10 steps, 0.45 after 50); float64 stays within 6e-6 for 100 steps there (measured while
writing this; ``tests/test_gym_mujoco.py``, ``experiments/bench/gym_fidelity.py``).
``fast=True`` (backend "mjx-fast") caps the solver at 1 iteration and 4 line-search steps
(Brax's setting for its MJX ant): faster, less faithful.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxil.envs.core import EnvSpec, Step, select_tree
from jaxil.errors import JaxilError

EPISODE_LENGTH = 1000  # gymnasium's TimeLimit for all four


@dataclasses.dataclass(frozen=True)
class Task:
    """One gymnasium env as its source file defines it."""

    gym_id: str
    xml: str
    frame_skip: int
    ctrl_weight: float
    reset_noise: float
    qvel_noise: str  # "uniform" (hopper, walker2d) or "normal" (halfcheetah, ant)
    skip_qpos: int = 1  # leading qpos entries left out of the observation (the root's x; ant: x, y)
    clip_qvel: float | None = None
    healthy_reward: float = 0.0
    terminate: bool = False
    healthy_z: tuple[float, float] | None = None
    healthy_angle: tuple[float, float] | None = None
    healthy_state: tuple[float, float] | None = None  # hopper: bounds of state_vector()[2:]
    inclusive_z: bool = False  # ant's check is min ≤ z ≤ max, the others' strict
    healthy_reward_on_termination: bool = False  # v4: float(healthy or terminate_when_unhealthy)
    contact_weight: float = 0.0  # ant: cost of the clipped external contact forces
    main_body: int | None = None  # ant: forward velocity of this body's xpos; others: of qpos[0]


_HOPPER = dict(xml="hopper.xml", frame_skip=4, ctrl_weight=1e-3, reset_noise=5e-3, qvel_noise="uniform",
               clip_qvel=10.0, healthy_reward=1.0, terminate=True, healthy_z=(0.7, float("inf")),
               healthy_angle=(-0.2, 0.2), healthy_state=(-100.0, 100.0))
_WALKER = dict(frame_skip=4, ctrl_weight=1e-3, reset_noise=5e-3, qvel_noise="uniform", clip_qvel=10.0,
               healthy_reward=1.0, terminate=True, healthy_z=(0.8, 2.0), healthy_angle=(-1.0, 1.0))
_CHEETAH = dict(xml="half_cheetah.xml", frame_skip=5, ctrl_weight=0.1, reset_noise=0.1, qvel_noise="normal")
TASKS: dict[str, Task] = {
    "gym-hopper-v5": Task("Hopper-v5", **_HOPPER),
    "gym-walker2d-v5": Task("Walker2d-v5", xml="walker2d_v5.xml", **_WALKER),
    "gym-halfcheetah-v5": Task("HalfCheetah-v5", **_CHEETAH),
    "gym-ant-v5": Task("Ant-v5", xml="ant.xml", frame_skip=5, ctrl_weight=0.5, reset_noise=0.1, qvel_noise="normal",
                       skip_qpos=2, healthy_reward=1.0, terminate=True, healthy_z=(0.2, 1.0), inclusive_z=True,
                       contact_weight=5e-4, main_body=1),
    # the v4 variants (D4RL-era data): the healthy reward paid on the terminating step, and
    # Walker2d-v4's model with the left foot's friction at 0.9 (v5's file sets both to 1.9)
    "gym-hopper-v4": Task("Hopper-v4", **_HOPPER, healthy_reward_on_termination=True),
    "gym-walker2d-v4": Task("Walker2d-v4", xml="walker2d.xml", **_WALKER, healthy_reward_on_termination=True),
    "gym-halfcheetah-v4": Task("HalfCheetah-v4", **_CHEETAH),
}


def model_path(task: Task) -> Path:
    import gymnasium

    path = Path(gymnasium.__file__).parent / "envs" / "mujoco" / "assets" / task.xml
    if not path.is_file():
        raise JaxilError(f"gymnasium's model file {path} is missing; reinstall gymnasium (jaxil pins its version).")
    return path


def _plane_capsule_c(plane, cap):
    """Plane–capsule contacts as C MuJoCo makes them (``mjc_PlaneCapsule``, then
    ``mju_makeFrame``): a sphere–plane contact at each end of the capsule, each frame's
    first tangent the capsule's axis made orthogonal to the normal, at any slope. MJX's
    own collider takes a fixed axis instead once the capsule is steeper than 60°; with
    pyramidal friction cones the tangent orients the pyramid, so that changes the contact
    forces (Ant's legs land steep: 3 N of difference at the first such contact)."""
    from mujoco.mjx._src.collision_primitive import _plane_sphere

    n, axis = plane.mat[:, 2], cap.mat[:, 2]
    b = axis - n * jnp.dot(n, axis)
    norm = jnp.linalg.norm(b)
    # C's mju_normalize3 sets (1, 0, 0) below mjMINVAL
    b = jnp.where(norm < 1e-15, jnp.array([1.0, 0.0, 0.0], b.dtype), b / jnp.maximum(norm, 1e-15))
    frame = jnp.stack([n, b, jnp.cross(n, b)])[None]
    contacts = [_plane_sphere(n, plane.pos, cap.pos + end, cap.size[0]) for end in (axis * cap.size[1], -axis * cap.size[1])]
    return tuple(jnp.concatenate(x) for x in zip(*[(d[None], p[None], frame) for d, p in contacts]))


@contextlib.contextmanager
def c_contact_frames():
    """While tracing MJX inside: plane–capsule contacts with C MuJoCo's frames
    (:func:`_plane_capsule_c`). Scoped to gymnasium's envs: Brax's MJX envs, and the data
    recorded on them, keep MJX's own collider. Reaches into MJX's collider table, a
    private name of the pinned mujoco-mjx; ``tests/test_gym_mujoco.py`` guards it."""
    from mujoco.mjx._src import collision_driver, collision_primitive
    from mujoco.mjx._src.types import GeomType

    key = (GeomType.PLANE, GeomType.CAPSULE)
    table = collision_driver._COLLISION_FUNC
    own = table[key]
    table[key] = collision_primitive.collider(ncon=2)(_plane_capsule_c)
    try:
        yield
    finally:
        table[key] = own


@struct.dataclass
class GymState:
    data: object  # mjx.Data
    t: jax.Array  # steps taken in the current episode


class GymMujocoEnv:
    """One of gymnasium's locomotion envs (``TASKS``) on MJX, behind jaxil's env API."""

    def __init__(self, name: str, horizon: int | None = None, fast: bool = False):
        import mujoco
        from mujoco import mjx

        if name not in TASKS:
            raise JaxilError(f"unknown gymnasium MuJoCo env {name!r}; choose one of: {', '.join(TASKS)}.")
        self.task = task = TASKS[name]
        mj = mujoco.MjModel.from_xml_path(str(model_path(task)))
        if fast:
            mj.opt.iterations, mj.opt.ls_iterations = 1, 4
        self.mj_model = mj
        self._model = mjx.put_model(mj)
        self.dt = float(mj.opt.timestep) * task.frame_skip
        self._init_qpos = np.asarray(mj.qpos0)  # gymnasium's init_qpos: a fresh MjData's qpos
        obs_dim = mj.nq - task.skip_qpos + mj.nv + (6 * (mj.nbody - 1) if task.contact_weight else 0)
        ctrl = np.asarray(mj.actuator_ctrlrange)
        self.spec = EnvSpec(
            name=name, source=f"gymnasium:{task.gym_id}", backend="mjx-fast" if fast else "mjx",
            obs_dim=obs_dim, action_dim=mj.nu, num_actions=None, action_low=tuple(float(x) for x in ctrl[:, 0]),
            action_high=tuple(float(x) for x in ctrl[:, 1]), max_episode_steps=horizon or EPISODE_LENGTH,
        )

    # -- gymnasium's terms ------------------------------------------------------------
    def _contact_forces(self, data) -> jax.Array:
        return jnp.clip(data.cfrc_ext, -1.0, 1.0)

    def observe(self, data) -> jax.Array:
        """gymnasium's ``_get_obs`` of an MJX state."""
        task = self.task
        qvel = data.qvel if task.clip_qvel is None else jnp.clip(data.qvel, -task.clip_qvel, task.clip_qvel)
        parts = [data.qpos[task.skip_qpos:], qvel]
        if task.contact_weight:
            parts.append(self._contact_forces(data)[1:].ravel())
        return jnp.concatenate(parts)

    def healthy(self, data) -> jax.Array:
        """gymnasium's ``is_healthy`` (True where the env has no health rule)."""
        task, ok = self.task, jnp.array(True)
        z = data.qpos[2] if task.main_body is not None else data.qpos[1]
        if task.healthy_z is not None:
            lo, hi = task.healthy_z
            ok &= ((lo <= z) & (z <= hi)) if task.inclusive_z else ((lo < z) & (z < hi))
        if task.healthy_angle is not None:
            lo, hi = task.healthy_angle
            ok &= (lo < data.qpos[2]) & (data.qpos[2] < hi)
        if task.healthy_state is not None:
            lo, hi = task.healthy_state
            state = jnp.concatenate([data.qpos, data.qvel])[2:]
            ok &= jnp.all((lo < state) & (state < hi))
        if task.main_body is not None:  # ant: a finite state too
            ok &= jnp.all(jnp.isfinite(jnp.concatenate([data.qpos, data.qvel])))
        return ok

    def _forward_position(self, data) -> jax.Array:
        return data.qpos[0] if self.task.main_body is None else data.xpos[self.task.main_body, 0]

    # -- jaxil's env API ---------------------------------------------------------------
    def state_from(self, qpos: jax.Array, qvel: jax.Array) -> GymState:
        """The state gymnasium's ``set_state(qpos, qvel)`` makes (positions and velocities,
        then ``mj_forward``), at the start of an episode."""
        from mujoco import mjx

        data = mjx.make_data(self._model)
        data = data.replace(qpos=jnp.asarray(qpos, data.qpos.dtype), qvel=jnp.asarray(qvel, data.qvel.dtype))
        with c_contact_frames():
            data = mjx.forward(self._model, data)
        return GymState(data=data, t=jnp.zeros((), jnp.int32))

    def reset(self, key: jax.Array):
        task = self.task
        k_pos, k_vel = jax.random.split(key)
        s = task.reset_noise
        nq, nv = self.mj_model.nq, self.mj_model.nv
        qpos = jnp.asarray(self._init_qpos) + jax.random.uniform(k_pos, (nq,), minval=-s, maxval=s)
        if task.qvel_noise == "uniform":
            qvel = jax.random.uniform(k_vel, (nv,), minval=-s, maxval=s)
        else:
            qvel = s * jax.random.normal(k_vel, (nv,))
        state = self.state_from(qpos, qvel)
        return state, self.observe(state.data)

    def physics_step(self, state: GymState, action: jax.Array) -> tuple[GymState, jax.Array, jax.Array]:
        """One env step without the auto-reset: (state, reward, terminated)."""
        from mujoco import mjx

        task, model = self.task, self._model
        action = jnp.asarray(action, state.data.ctrl.dtype)
        before = self._forward_position(state.data)
        with c_contact_frames():
            data = jax.lax.fori_loop(0, task.frame_skip, lambda _, d: mjx.step(model, d), state.data.replace(ctrl=action))
        if task.contact_weight:  # cfrc_ext is computed only on request (gymnasium's mj_rnePostConstraint)
            data = mjx.rne_postconstraint(model, data)
        x_velocity = (self._forward_position(data) - before) / self.dt
        healthy = self.healthy(data)
        paid = (healthy | task.terminate) if task.healthy_reward_on_termination else healthy
        reward = x_velocity + task.healthy_reward * paid - task.ctrl_weight * jnp.sum(jnp.square(action))
        if task.contact_weight:
            reward -= task.contact_weight * jnp.sum(jnp.square(self._contact_forces(data)))
        terminated = ~healthy if task.terminate else jnp.array(False)
        return GymState(data=data, t=state.t + 1), reward, terminated

    def step(self, key: jax.Array, state: GymState, action: jax.Array):
        stepped, reward, terminated = self.physics_step(state, action)
        truncated = stepped.t >= self.spec.max_episode_steps
        next_obs = self.observe(stepped.data)
        fresh, fresh_obs = self.reset(key)
        done = terminated | truncated
        return select_tree(done, fresh, stepped), Step(
            obs=jnp.where(done, fresh_obs, next_obs), reward=reward, terminated=terminated, truncated=truncated,
            next_obs=next_obs,
        )
