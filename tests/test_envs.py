"""The env API: specs, auto-reset from fresh random states, terminated vs truncated."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError, envs
from jaxil.envs.rollout import first_episode_mask, rollout
from jaxil.envs.core import random_action

CLASSIC = ["pendulum", "cartpole", "mountaincar", "mountaincar-continuous", "acrobot"]


def random_rollout(env, num_envs, num_steps, seed=0):
    act = lambda obs, key: random_action(key, env.spec)  # noqa: E731
    return jax.jit(lambda k: rollout(env, act, k, num_envs, num_steps))(jax.random.PRNGKey(seed))


@pytest.mark.parametrize("name", CLASSIC)
def test_classic_specs_and_shapes(name):
    env = envs.make(name)
    spec = env.spec
    expected = {
        "pendulum": (3, None, 200),
        "cartpole": (4, 2, 500),
        "mountaincar": (2, 3, 200),
        "mountaincar-continuous": (2, None, 999),
        "acrobot": (6, 3, 500),
    }[name]
    assert (spec.obs_dim, spec.num_actions, spec.max_episode_steps) == expected
    traj = random_rollout(env, 2, 8)
    assert traj.obs.shape == (8, 2, spec.obs_dim) and traj.obs.dtype == jnp.float32
    assert traj.action.shape == (8, 2) + spec.action_shape
    assert traj.terminated.dtype == bool and traj.truncated.dtype == bool


def test_pendulum_truncates_and_resets_to_fresh_states():
    env = envs.make("pendulum")
    traj = random_rollout(env, 1, 600)
    trunc = np.asarray(traj.truncated[:, 0])
    assert np.flatnonzero(trunc).tolist() == [199, 399, 599]
    assert not np.asarray(traj.terminated).any()
    # The observation after each episode end is a fresh reset, different every time...
    starts = np.asarray(traj.obs[[0, 200, 400], 0])
    assert len({tuple(np.round(s, 5)) for s in starts}) == 3
    # ...while next_obs at the end step is the true successor, not the reset observation.
    assert not np.allclose(traj.next_obs[199, 0], traj.obs[200, 0])
    np.testing.assert_array_equal(traj.next_obs[198, 0], traj.obs[199, 0])


def test_cartpole_terminates_without_truncation():
    env = envs.make("cartpole")
    traj = random_rollout(env, 4, 200)
    term = np.asarray(traj.terminated)
    assert term.any(axis=0).all(), "random CartPole episodes end by falling within 200 steps"
    assert not np.asarray(traj.truncated).any()
    mask = np.asarray(first_episode_mask(traj))
    lengths = mask.sum(axis=0)
    assert (lengths == np.argmax(term, axis=0) + 1).all()


def test_brax_hopper_fresh_resets_and_termination():
    env = envs.make("hopper")
    assert env.spec.backend == "mjx" and env.spec.obs_dim == 11 and env.spec.action_dim == 3
    traj = random_rollout(env, 2, 300)
    term = np.asarray(traj.terminated)
    assert term.any(), "random hopper falls within 300 steps"
    t, i = map(int, np.argwhere(term)[0])
    first_start, next_start = np.asarray(traj.obs[0, i]), np.asarray(traj.obs[t + 1, i])
    # Brax's AutoResetWrapper would restart from the cached first state; ours does not.
    assert not np.allclose(first_start, next_start)
    assert not np.allclose(traj.next_obs[t, i], traj.obs[t + 1, i])


def test_unknown_env_and_backend_are_clear_errors():
    with pytest.raises(JaxilError, match="unknown env 'pendulm'.*pendulum"):
        envs.make("pendulm")
    with pytest.raises(JaxilError, match="unknown Brax backend"):
        envs.make("hopper", "warp-drive")
    with pytest.raises(JaxilError, match="no backend"):
        envs.make("cartpole", "spring")
