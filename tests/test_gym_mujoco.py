"""gymnasium's MuJoCo locomotion on MJX against gymnasium's own envs (C MuJoCo, float64),
step for step from the same state under the same actions. Hopper runs in float32 (what
training uses); Walker2d, HalfCheetah and Ant, whose random-action dynamics amplify any rounding
(float32 drifts to 1.4e-4, 0.45 and 0.04 after 50–60 steps), in float64, where the two agree for
all 100 steps. Every env, whole episodes and throughput: ``experiments/bench/gym_fidelity.py`` (README's table)."""

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError, data, envs
from jaxil.envs.gym_mujoco import TASKS, GymMujocoEnv
from jaxil.envs.termination import termination_fn

STEPS = 100
# largest differences measured over the 100 steps: hopper float32 1.3e-4 (velocities of ~4),
# halfcheetah float64 6e-6
TOL = {"float32": 5e-4, "float64": 1e-4}
FALLS = ("gym-hopper-v5", "gym-walker2d-v5")  # the bipeds fall under these random actions


def gym_rollout(name: str, actions: np.ndarray, seed: int = 0, tolerance: float | None = None):
    """gymnasium's env from its reset(seed): the start state, then obs/reward/terminated of
    every action (stepping on past a termination, to compare the physics for all of them)."""
    env = gymnasium.make(TASKS[name].gym_id, disable_env_checker=True).unwrapped
    if tolerance is not None:
        env.model.opt.tolerance = tolerance
    obs0, _ = env.reset(seed=seed)
    start = (env.data.qpos.copy(), env.data.qvel.copy(), obs0)
    rows = [env.step(a)[:3] for a in actions]
    return start, *(np.array(x) for x in zip(*rows))


def compare(env: GymMujocoEnv, name: str, tolerance: float | None = None) -> None:
    spec = gymnasium.make(TASKS[name].gym_id, disable_env_checker=True)
    assert env.spec.obs_dim == spec.observation_space.shape[0] and env.spec.action_dim == spec.action_space.shape[0]
    np.testing.assert_allclose(env.spec.action_low, spec.action_space.low)
    # actions a little beyond the bounds: MuJoCo clamps the control, the cost counts what was asked
    actions = np.random.default_rng(1).uniform(-1.2, 1.2, (STEPS, env.spec.action_dim))
    (qpos, qvel, obs0), obs, reward, terminated = gym_rollout(name, actions, tolerance=tolerance)
    state = env.state_from(qpos, qvel)
    np.testing.assert_allclose(env.observe(state.data), obs0, atol=1e-6)

    def roll(state, actions):
        def one(s, a):
            s, r, term = env.physics_step(s, a)
            return s, (env.observe(s.data), r, term)
        return jax.lax.scan(one, state, actions)[1]

    o, r, term = (np.asarray(x) for x in jax.jit(roll)(state, jnp.asarray(actions, state.data.qpos.dtype)))
    tol = TOL[str(state.data.qpos.dtype)]
    np.testing.assert_allclose(o, obs, atol=tol, rtol=0)
    np.testing.assert_allclose(r, reward, atol=tol, rtol=0)
    np.testing.assert_array_equal(term, terminated)
    # the rule that learned models read off the observation (jaxil.envs.termination) agrees
    np.testing.assert_array_equal(np.asarray(termination_fn(name)(jnp.asarray(o))), terminated)
    assert terminated.any() == (name in FALLS)  # a fall under these actions is seen on both sides


def test_hopper_in_float32_steps_as_gymnasiums_does():
    compare(envs.make("gym-hopper-v5"), "gym-hopper-v5")


def test_hopper_replays_the_shipped_experts_actions_as_gymnasiums_does():
    """A trained policy's actions: episodes of the shipped SAC expert, recorded on MJX in
    float32, replayed in gymnasium's env from their first observation (hopper's dynamics do
    not depend on its x position, the one coordinate the observation leaves out). Largest
    difference over the first 100 steps of 5 episodes: 3.2e-5 in the observations, 2e-5 in
    the rewards (measured). Open loop, with no policy to correct them, the two part later
    (1e-3 after ~270 steps); whole episodes with the expert acting on each side's own
    observations: ``gym_fidelity.py --policy expert``."""
    episodes, _ = data.load("jaxil/gym-hopper-v5/expert-v0", envs.make("gym-hopper-v5"))
    env = gymnasium.make("Hopper-v5", disable_env_checker=True).unwrapped
    env.reset(seed=0)
    for e in episodes[:5]:
        first = e.observations[0].astype(np.float64)
        env.set_state(np.concatenate([[0.0], first[:5]]), first[5:])
        obs, reward, terminated = (np.array(x) for x in zip(*[env.step(a.astype(np.float64))[:3]
                                                                for a in e.actions[:STEPS]]))
        np.testing.assert_allclose(obs, e.observations[1 : STEPS + 1], atol=TOL["float32"], rtol=0)
        np.testing.assert_allclose(reward, e.rewards[:STEPS], atol=TOL["float32"], rtol=0)
        np.testing.assert_array_equal(terminated, e.terminations[:STEPS])


def test_halfcheetah_in_float64_steps_as_gymnasiums_does_for_100_steps():
    with jax.enable_x64(True):
        compare(GymMujocoEnv("gym-halfcheetah-v5"), "gym-halfcheetah-v5")


def test_walker2d_in_float64_steps_as_gymnasiums_does_for_100_steps():
    """Past its fall at step 15 too (both sides step on). float32 drifts on the ground (3e-5
    at step 20, 1.4e-4 at 50, 5e-4 at 100); float64 stays within 3e-12 (measured)."""
    with jax.enable_x64(True):
        compare(GymMujocoEnv("gym-walker2d-v5"), "gym-walker2d-v5")


def test_ant_in_float64_steps_as_gymnasiums_does_for_100_steps():
    """Ant's free torso: RK4 as C MuJoCo 4.0 takes it (``rk4_c``: rotations integrated
    Runge–Kutta–Munthe-Kaas; with MJX's own RK4 the two are 0.3 apart after 30 steps), C's
    plane–capsule contact frames, and the first observation's quaternion unnormalized as
    gymnasium reports it. Both sides solve the contacts to 1e-14: at the model's 1e-8 the two
    solvers stop at different iterates (C has more exit tests), and these actions amplify that
    to 1e-4 by step 54 (measured; 1e-7 at step 20). Solved to 1e-14 they agree within 1e-7."""
    with jax.enable_x64(True):
        compare(GymMujocoEnv("gym-ant-v5", tolerance=1e-14), "gym-ant-v5", tolerance=1e-14)


def test_bad_backends_and_names_are_refused():
    with pytest.raises(JaxilError, match="its backends are"):
        envs.make("gym-hopper-v5", "positional")
    with pytest.raises(JaxilError, match="unknown env 'gym-hopper-v3'"):
        envs.make("gym-hopper-v3")


def test_steep_capsules_touch_the_plane_with_c_mujocos_contact_frames():
    """A capsule 74° from the floor, inside the contact margin: C MuJoCo's frame tangent is
    the capsule's axis projected on the floor (MJX's own collider falls back to a fixed axis
    beyond 60°, which turns Ant's friction pyramids); under ``c_contact_frames`` MJX's
    contacts are C's, and the collider table is MJX's own again afterwards."""
    import mujoco
    from mujoco import mjx
    from mujoco.mjx._src import collision_driver
    from jaxil.envs.gym_mujoco import c_contact_frames

    xml = """<mujoco><worldbody><geom type="plane" size="5 5 .1"/>
      <body pos="0 0 1" euler="11 11 0"><freejoint/><geom type="capsule" size="0.05 0.3" margin="0.01"/></body>
      </worldbody></mujoco>"""
    m = mujoco.MjModel.from_xml_string(xml)
    d = mujoco.MjData(m)
    mujoco.mj_forward(m, d)
    d.qpos[2] = 0.05 + 0.3 * d.geom_xmat[1][8] - 0.005  # the lower end 5 mm into the floor
    mujoco.mj_forward(m, d)
    assert 0.2 < np.hypot(*d.contact[0].frame[3:5]) and np.abs(d.contact[0].frame[3:5]).min() > 0.2  # an oblique tangent
    assert d.ncon == 1
    own = collision_driver._COLLISION_FUNC.copy()
    with c_contact_frames():
        dx = jax.jit(mjx.forward)(mjx.put_model(m), mjx.make_data(m).replace(qpos=jnp.asarray(d.qpos)))
    assert collision_driver._COLLISION_FUNC == own
    contact = dx._impl.contact if hasattr(dx, "_impl") else dx.contact
    hit = np.nonzero(np.asarray(contact.dist) < np.asarray(contact.includemargin))[0]
    assert len(hit) == 1
    np.testing.assert_allclose(np.asarray(contact.frame)[hit[0]].ravel(), d.contact[0].frame, atol=1e-6)
    np.testing.assert_allclose(np.asarray(contact.pos)[hit[0]], d.contact[0].pos, atol=1e-6)
