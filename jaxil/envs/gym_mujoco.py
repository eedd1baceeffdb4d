"""gymnasium's MuJoCo locomotion on MJX, step for step: the envs the field reports on.

Offered by ``jaxil.envs.make``: Hopper, HalfCheetah, Walker2d and Ant, v5 and v4.
Two pieces of C MuJoCo 4.0 that MJX 3.17 does otherwise are taken as C has them, inside
these envs only: plane–capsule contact frames (:func:`c_contact_frames`; MJX's collider turns
the friction pyramid of a capsule steeper than 60°, which Ant's legs are) and RK4's
Runge–Kutta–Munthe-Kaas step for free and ball joints (:func:`rk4_c`; Ant's torso). With
both, Ant-v5 in float64 under random actions agrees with gymnasium's own step to 1e-15 after
one step and 1e-7 after 20; beyond that the two constraint solvers, which stop at different
iterates within the model's tolerance (1e-8), part where the dynamics are chaotic (1e-4 by
step 54 under the test's actions; solved to 1e-14 on both sides, within 1e-7 for 100 steps;
measured while writing this).

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
_ANT = dict(xml="ant.xml", frame_skip=5, ctrl_weight=0.5, reset_noise=0.1, qvel_noise="normal", skip_qpos=2,
            healthy_reward=1.0, terminate=True, healthy_z=(0.2, 1.0), inclusive_z=True, main_body=1)
_CHEETAH = dict(xml="half_cheetah.xml", frame_skip=5, ctrl_weight=0.1, reset_noise=0.1, qvel_noise="normal")
TASKS: dict[str, Task] = {
    "gym-hopper-v5": Task("Hopper-v5", **_HOPPER),
    "gym-walker2d-v5": Task("Walker2d-v5", xml="walker2d_v5.xml", **_WALKER),
    "gym-halfcheetah-v5": Task("HalfCheetah-v5", **_CHEETAH),
    "gym-ant-v5": Task("Ant-v5", **_ANT, contact_weight=5e-4),
    # the v4 variants (D4RL-era data): the healthy reward paid on the terminating step, and
    # Walker2d-v4's model with the left foot's friction at 0.9 (v5's file sets both to 1.9)
    "gym-hopper-v4": Task("Hopper-v4", **_HOPPER, healthy_reward_on_termination=True),
    "gym-walker2d-v4": Task("Walker2d-v4", xml="walker2d.xml", **_WALKER, healthy_reward_on_termination=True),
    "gym-halfcheetah-v4": Task("HalfCheetah-v4", **_CHEETAH),
    # Ant-v4's defaults (use_contact_forces=False): no contact cost, no contact forces observed
    "gym-ant-v4": Task("Ant-v4", **_ANT, healthy_reward_on_termination=True),
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


# C MuJoCo 4.0's mj_RungeKutta evaluates c(θ) = (1 − (θ/2)·cot(θ/2))/θ² by this polynomial in
# θ² below θ² = 3.0625 (highest power first; close to the Taylor coefficients |B₂ₙ|/(2n)!)
_RKMK_SERIES = (1.230313397310169e-14, 3.161551550077822e-13, 1.3455485951057888e-11, 5.282849430384459e-10,
                2.0876900642039142e-08, 8.267194907152073e-07, 3.30687830944332e-05, 0.0013888888888859755,
                0.08333333333333338)


def _dexp_inv(t: jax.Array, w: jax.Array) -> jax.Array:
    """dexp⁻¹ at the rotation vector ``t`` applied to ``w`` (both (..., 3)):
    w + ½ t×w + c(|t|) t×(t×w), with t first wrapped to an angle in [−π, π] as C does."""
    t2 = jnp.sum(t * t, axis=-1, keepdims=True)
    theta = jnp.sqrt(t2)
    wrap = (theta - 2 * np.pi * jnp.floor(theta / (2 * np.pi) + 0.5)) / jnp.where(theta > 0, theta, 1.0)
    t = jnp.where(t2 > np.pi**2, t * wrap, t)
    t2 = jnp.sum(t * t, axis=-1, keepdims=True)
    small = t2 < 3.0625
    series = jnp.zeros_like(t2)
    for coefficient in _RKMK_SERIES:
        series = series * t2 + coefficient
    t2_safe = jnp.where(small, 1.0, t2)
    half = 0.5 * jnp.sqrt(t2_safe)
    c = jnp.where(small, series, (1.0 - half / jnp.tan(half)) / t2_safe)
    tw = jnp.cross(t, w)
    return w + 0.5 * tw + c * jnp.cross(t, tw)


def rotation_dofs(mj_model) -> np.ndarray | None:
    """(n, 3) indices of the angular velocity dofs of every free and ball joint, or None."""
    import mujoco

    free, ball = int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL)
    rows = [adr + (3 if typ == free else 0) + np.arange(3)
            for typ, adr in zip(mj_model.jnt_type.tolist(), mj_model.jnt_dofadr.tolist()) if typ in (free, ball)]
    return np.stack(rows) if rows else None


def rk4_c(model, data, rot: np.ndarray | None):
    """One RK4 step as C MuJoCo 4.0 takes it: MJX's ``rungekutta4`` (same tableau, stages and
    warm start) plus C's Runge–Kutta–Munthe-Kaas step for rotations. C 4.0 maps each stage's
    angular velocity of a free or ball joint (rows ``rot``, from :func:`rotation_dofs`) through
    dexp⁻¹ of that stage's rotation increment before it enters the next stage's position and
    the final weighted sum; MJX 3.17 adds the raw velocities. Ant's free torso turns that into
    4e-8 per physics step under contacts (0.3 apart after 30 env steps in float64); with it the
    two agree to 1e-10 over 60 env steps and 6e-8 over 100 with both constraint solvers run to
    1e-14 (at the model's 1e-8 the solvers' stopping iterates part them instead: 1e-7 at step
    20, 1e-4 at 54; the test's actions, measured 2026-12-01). ``data`` is after ``mjx.forward``."""
    from mujoco.mjx._src import forward, scan

    h = model.opt.timestep
    a_diag, b = np.diag(forward._RK4_A), forward._RK4_B
    times = data.time + np.tril(forward._RK4_A).sum(axis=0) * h
    d0 = data
    # not unrolled (MJX unrolls its three stages): one copy of the forward pass to compile, not three
    sums = jax.tree.map(lambda k: b[0] * k, (d0.qvel, d0.qacc, d0.act_dot))

    def stage(carry, x):
        (qvel, qacc, act_dot), kqvel, d = carry
        a, weight, t = x
        dqvel, dqacc, dact_dot = a * kqvel, a * d.qacc, a * d.act_dot
        kqpos = scan.flat(model, lambda *args: forward._integrate_pos(*args, dt=h), "jqv", "q", model.jnt_type,
                          d0.qpos, dqvel)
        kqvel = d0.qvel + dqacc * h
        d = forward.forward(model, d.replace(qpos=kqpos, qvel=kqvel, act=d0.act + dact_dot * h, time=t))
        if rot is not None:  # the dynamics saw the raw velocity; what integrates is dexp⁻¹ of it
            kqvel = kqvel.at[rot].set(_dexp_inv(h * dqvel[rot], kqvel[rot]))
        sums = (qvel + weight * kqvel, qacc + weight * d.qacc, act_dot + weight * d.act_dot)
        return (sums, kqvel, d), None

    (sums, _, d1), _ = jax.lax.scan(stage, (sums, d0.qvel, d0), jnp.stack([a_diag, b[1:], times]).T)
    qvel, qacc, act_dot = sums
    d = forward._advance(model, d1.replace(qpos=d0.qpos, qvel=d0.qvel, act=d0.act, time=d0.time), act_dot, qacc, qvel)
    return d.replace(qacc=qacc)  # C 4.0 leaves the stages' weighted qacc in d->qacc


@struct.dataclass
class GymState:
    data: object  # mjx.Data
    t: jax.Array  # steps taken in the current episode


class GymMujocoEnv:
    """One of gymnasium's locomotion envs (``TASKS``) on MJX, behind jaxil's env API."""

    def __init__(self, name: str, horizon: int | None = None, fast: bool = False, tolerance: float | None = None):
        """``tolerance``: the constraint solver's, in place of the model's (1e-8); two solvers
        stop at slightly different iterates within it, which chaotic rollouts amplify."""
        import mujoco
        from mujoco import mjx

        if name not in TASKS:
            raise JaxilError(f"unknown gymnasium MuJoCo env {name!r}; choose one of: {', '.join(TASKS)}.")
        self.task = task = TASKS[name]
        mj = mujoco.MjModel.from_xml_path(str(model_path(task)))
        if fast:
            mj.opt.iterations, mj.opt.ls_iterations = 1, 4
        if tolerance is not None:
            mj.opt.tolerance = tolerance
        self.mj_model = mj
        self._model = mjx.put_model(mj)
        self._rk4 = mj.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
        self._rotation_dofs = rotation_dofs(mj)
        # Jitted once per env: called eagerly (a fidelity check's start state), MJX's forward
        # would run op by op, compiling ~900 small programs; traced, every program that steps
        # this env reuses one trace of the physics.
        self._start, self._physics = jax.jit(self._start_data), jax.jit(self._physics_step)
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
        return GymState(data=self._start(qpos, qvel), t=jnp.zeros((), jnp.int32))

    def _start_data(self, qpos: jax.Array, qvel: jax.Array):
        from mujoco import mjx

        data = mjx.make_data(self._model)
        data = data.replace(qpos=jnp.asarray(qpos, data.qpos.dtype), qvel=jnp.asarray(qvel, data.qvel.dtype))
        with c_contact_frames():
            data = mjx.forward(self._model, data).replace(qpos=data.qpos)
        # MJX's kinematics write a free joint's quaternion back normalized; C's mj_forward
        # leaves qpos as set, and gymnasium's first observation shows it so (the physics
        # normalizes it in either at the first step)
        return data

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
        return self._physics(state, action)

    def _physics_step(self, state: GymState, action: jax.Array) -> tuple[GymState, jax.Array, jax.Array]:
        from mujoco import mjx

        task = self.task
        action = jnp.asarray(action, state.data.ctrl.dtype)
        before = self._forward_position(state.data)
        with c_contact_frames():
            data = jax.lax.fori_loop(0, task.frame_skip, lambda _, d: self._substep(d), state.data.replace(ctrl=action))
        if task.contact_weight:  # cfrc_ext is computed only on request (gymnasium's mj_rnePostConstraint)
            data = mjx.rne_postconstraint(self._model, data)
        x_velocity = (self._forward_position(data) - before) / self.dt
        healthy = self.healthy(data)
        paid = (healthy | task.terminate) if task.healthy_reward_on_termination else healthy
        reward = x_velocity + task.healthy_reward * paid - task.ctrl_weight * jnp.sum(jnp.square(action))
        if task.contact_weight:
            reward -= task.contact_weight * jnp.sum(jnp.square(self._contact_forces(data)))
        terminated = ~healthy if task.terminate else jnp.array(False)
        return GymState(data=data, t=state.t + 1), reward, terminated

    def _substep(self, data):
        """One physics step as C MuJoCo's ``mj_step`` (RK4: :func:`rk4_c`)."""
        from mujoco import mjx

        if self._rk4:
            return rk4_c(self._model, mjx.forward(self._model, data), self._rotation_dofs)
        return mjx.step(self._model, data)

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
