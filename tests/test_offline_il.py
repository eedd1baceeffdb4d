"""Offline IL from expert data (IQ-Learn, RECOIL, IBC): hand-computed losses, the shared
AWR step, learning on pendulum, determinism."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special

from conftest import tree_equal
from jaxil import JaxilError, data, envs
from jaxil.evaluation import Reference
from jaxil.il import ibc, iqlearn, recoil
from jaxil.rl import awr, sac
from jaxil.stats import iqm
from jaxil.types import Transition

PENDULUM = envs.make("pendulum")


def transitions(key, n, obs_dim=3, act_dim=1, terminated=None):
    k = jax.random.split(key, 3)
    obs = jax.random.normal(k[0], (n, obs_dim))
    term = jnp.zeros(n, bool) if terminated is None else jnp.asarray(terminated)
    return Transition(obs, jax.random.uniform(k[1], (n, act_dim), minval=-2, maxval=2), jnp.zeros(n),
                      jax.random.normal(k[2], (n, obs_dim)), term, jnp.zeros(n, bool))


def linear_critic(params, w, b):
    """Set a hidden=() critic ensemble to Q_i(x) = w_i·x + b_i."""
    return {"params": {"VmapMLP_0": {"Dense_0": {"kernel": jnp.asarray(w, jnp.float32)[..., None],
                                                  "bias": jnp.asarray(b, jnp.float32)[:, None]}}}}


@pytest.fixture(scope="module")
def pendulum_data():
    eps, info = data.load(data.default_dataset_id("pendulum"), PENDULUM)
    expert = data.expert_data(data.first_episodes(eps, data.DEFAULT_EXPERT_TRAJS, info.dataset_id))
    return expert, Reference(info.random_return, info.expert_return)


def test_iqlearn_critic_loss_equals_hand_computation():
    cfg = iqlearn.Config(hidden=(), td_weight=0.3, gp_weight=2.0, gp_target=0.5)
    mean, std = jnp.array([0.1, -0.2, 0.3]), jnp.array([2.0, 1.0, 0.5])
    state = iqlearn.init(jax.random.PRNGKey(0), cfg, PENDULUM.spec, mean, std)
    w = np.array([[0.2, -0.4, 0.1, 0.3], [-0.1, 0.05, 0.2, -0.6]])
    b = np.array([0.5, -1.0])
    params = linear_critic(state.learner.critic_params, w, b)
    batch = transitions(jax.random.PRNGKey(1), 5)
    policy_action = jax.random.uniform(jax.random.PRNGKey(2), (5, 1), minval=-2, maxval=2)
    target = jnp.linspace(-1.0, 1.0, 5)
    loss, m = iqlearn.critic_loss(params, state, batch, policy_action, target, jax.random.PRNGKey(3))

    s = (np.asarray(batch.obs) - np.asarray(mean)) / np.asarray(std)
    q = lambda a: np.concatenate([s, np.asarray(a)], 1) @ w.T + b  # (B, heads)  # noqa: E731
    q_e, q_pi = q(batch.action), q(policy_action)
    l_cd = -np.mean(q_e.mean(0) - q_pi.mean(0))
    l_td = np.sum(0.5 * np.mean((q_e - np.asarray(target)[:, None]) ** 2, 0))
    # A linear critic's input gradient is w_i everywhere, interpolate or not.
    gp = 2.0 * np.mean(np.maximum(np.abs(w).max(1) - 0.5, 0) ** 2)
    np.testing.assert_allclose(float(m["contrastive_loss"]), l_cd, rtol=1e-5)
    np.testing.assert_allclose(float(m["td_loss"]), l_td, rtol=1e-5)
    np.testing.assert_allclose(float(m["grad_penalty"]), gp, rtol=1e-5)
    np.testing.assert_allclose(float(loss), 0.7 * l_cd + 0.3 * l_td + gp, rtol=1e-5)


def test_iqlearn_target_masks_termination_only():
    """y = γ(1 − terminated) V̄(s') with zero reward: terminal rows have y = 0 exactly."""
    state = iqlearn.init(jax.random.PRNGKey(0), iqlearn.Config(hidden=(8,)), PENDULUM.spec, jnp.zeros(3), jnp.ones(3))
    batch = transitions(jax.random.PRNGKey(1), 6, terminated=[1, 0, 1, 0, 0, 0])
    batch = batch.replace(truncated=jnp.array([0, 1, 0, 0, 1, 0], bool), reward=jnp.ones(6))
    y = sac.soft_target(state.learner, batch.replace(reward=jnp.zeros(6)), jax.random.PRNGKey(2))
    assert np.all(np.asarray(y)[[0, 2]] == 0.0) and np.all(np.asarray(y)[[1, 3, 4, 5]] != 0.0)


def test_awr_weights_equal_hand_computation():
    state = iqlearn.init(jax.random.PRNGKey(0), iqlearn.Config(hidden=(8,)), PENDULUM.spec, jnp.zeros(3), jnp.ones(3))
    learner, obs = state.learner, jax.random.normal(jax.random.PRNGKey(1), (6, 3))
    action = jnp.linspace(-1.5, 1.5, 6)[:, None]
    q_fn = lambda o, a: jnp.stack([3 * a[:, 0], 3 * a[:, 0] + 1.0])  # min over heads: 3a  # noqa: E731
    key = jax.random.PRNGKey(4)
    w = awr.awr_weights(learner, obs, action, key, 0.5, 20.0, q_fn)
    pi_action = sac.policy(learner, obs).sample(seed=key)
    expected = np.minimum(np.exp((3 * np.asarray(action) - 3 * np.asarray(pi_action))[:, 0] / 0.5), 20.0)
    np.testing.assert_allclose(np.asarray(w), expected, rtol=1e-5)
    assert np.any(expected == 20.0) and np.any(expected < 1.0), "the case exercises the clip and down-weighting"


def test_awr_action_noise_touches_a_fraction_and_stays_in_range():
    action = jnp.tile(jnp.linspace(-1.0, 1.0, 5)[None], (2000, 1)).reshape(-1, 5)
    noisy = awr.perturb_actions(jax.random.PRNGKey(0), action, 0.3, 0.25)
    changed = np.any(np.asarray(noisy != action), axis=1)
    assert 0.2 < changed.mean() < 0.3
    assert float(noisy.min()) >= -1.0 and float(noisy.max()) <= 1.0


def test_iqlearn_actor_updates_are_selectable():
    batch = transitions(jax.random.PRNGKey(1), 32)
    for kind, alpha_moves in (("awr", False), ("sac", True)):
        cfg = iqlearn.Config(hidden=(8,), actor_update=kind, batch_size=32)
        state = iqlearn.init(jax.random.PRNGKey(0), cfg, PENDULUM.spec, jnp.zeros(3), jnp.ones(3))
        new, metrics = jax.jit(iqlearn.update)(state, batch)
        assert ("awr_weight" in metrics) == (kind == "awr")
        assert bool(new.learner.log_alpha != state.learner.log_alpha) == alpha_moves
        assert not tree_equal(new.learner.actor_params, state.learner.actor_params)
    with pytest.raises(JaxilError, match="actor_update"):
        iqlearn.Config(actor_update="ppo")


def test_iqlearn_learns_pendulum(pendulum_data):
    """Far above random and at BC's level (BC's bar on this data is 90) in 8k updates.
    Small nets and batches keep it fast; the AWR actor (CleanIL's default) with a larger actor lr."""
    expert, ref = pendulum_data
    cfg = iqlearn.Config(hidden=(64, 64), actor_lr=1e-3, batch_size=128, steps=8000, eval_every=4000, eval_episodes=10)
    train = iqlearn.make_train(cfg, expert, PENDULUM, ref)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0), 4))
    final = np.asarray(metrics["normalized_score"])[:, -1]
    assert iqm(final) >= 85, f"IQ-Learn on pendulum: per seed {final.round(1)}"
    # The same key repeats exactly.
    small = iqlearn.make_train(cfg.replace(steps=40, eval_every=20, eval_episodes=2), expert, PENDULUM, ref)
    k = jax.random.PRNGKey(7)
    a, b = jax.jit(small)(k), jax.jit(small)(k)
    assert tree_equal(a, b)


def test_recoil_critic_loss_equals_hand_computation():
    cfg = recoil.Config(hidden=(), td_weight=0.8, q_expert_target=0.5, q_expert_weight=1.5, hinge_weight=2.0,
                        gp_weight=3.0, gp_target=0.2)
    mean, std = jnp.array([0.1, -0.2, 0.3]), jnp.array([2.0, 1.0, 0.5])
    state = recoil.init(jax.random.PRNGKey(0), cfg, PENDULUM.spec, mean, std)
    # critic input: [normalized s·(1 − d), d, a]
    w = np.array([[0.2, -0.4, 0.1, 0.7, 0.3], [-0.1, 0.05, 0.2, -0.3, -0.6]])
    b = np.array([0.1, -0.4])
    params = linear_critic(state.learner.critic_params, w, b)
    expert = transitions(jax.random.PRNGKey(1), 3, terminated=[0, 1, 0])
    offline = transitions(jax.random.PRNGKey(2), 4, terminated=[0, 0, 1, 0])
    policy_action = jax.random.uniform(jax.random.PRNGKey(3), (4, 1), minval=-2, maxval=2)
    y, y_abs = jnp.linspace(-1.0, 1.0, 7), jnp.linspace(0.5, -0.5, 7)
    loss, m = recoil.critic_loss(params, state, expert, offline, policy_action, (y, y_abs), jax.random.PRNGKey(4))

    n = lambda o: (np.asarray(o) - np.asarray(mean)) / np.asarray(std)  # noqa: E731
    q = lambda o, a: np.concatenate([n(o), np.zeros((len(a), 1)), np.asarray(a)], 1) @ w.T + b  # noqa: E731
    obs = np.concatenate([expert.obs, offline.obs])
    act = np.concatenate([expert.action, offline.action])
    term = np.concatenate([expert.terminated, offline.terminated]).astype(float)
    q_both = q(obs, act)
    q_abs = np.concatenate([np.zeros((7, 3)), np.ones((7, 1)), act], 1) @ w.T + b
    q_e, q_pi = q_both[:3], q(offline.obs, policy_action)
    l_td = (np.sum(0.5 * np.mean((q_both - np.asarray(y)[:, None]) ** 2, 0))
            + np.sum(0.5 * np.mean(term[:, None] * (q_abs - np.asarray(y_abs)[:, None]) ** 2, 0)))
    l_cd = -np.mean(q_e.mean(0) - q_pi.mean(0))
    l_qe = np.sum(0.5 * np.mean((q_e - 0.5) ** 2, 0))
    l_h = np.sum(0.5 * np.mean(np.maximum(-0.5 - q_pi, 0), 0))
    gp = 3.0 * np.mean(np.maximum(np.abs(w[:, [0, 1, 2, 4]]).max(1) - 0.2, 0) ** 2)
    assert l_h > 0, "the case exercises the floor"
    for name, want in [("td_loss", l_td), ("contrastive_loss", l_cd), ("expert_value_loss", l_qe),
                       ("floor_loss", l_h), ("grad_penalty", gp)]:
        np.testing.assert_allclose(float(m[name]), want, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(float(loss), 0.2 * l_cd + 0.8 * l_td + 1.5 * l_qe + 2.0 * l_h + gp, rtol=1e-5)


def test_info_nce_equals_hand_computation():
    e = np.array([[1.0, 0.5, -2.0, 0.0], [0.0, 3.0, 1.0, -1.0]])
    expected = -np.mean(e[:, 0] - special.logsumexp(e, axis=1))
    np.testing.assert_allclose(float(ibc.info_nce_loss(jnp.asarray(e))), expected, rtol=1e-6)


def test_ibc_negatives_and_energy_loss_equal_hand_computation():
    cfg = ibc.Config(hidden=(), uniform_negatives=3, gp_weight=2.0, gp_target=0.1)
    mean, std = jnp.array([0.1, -0.2, 0.3]), jnp.array([2.0, 1.0, 0.5])
    state = ibc.init(jax.random.PRNGKey(0), cfg, PENDULUM.spec, mean, std)
    batch = transitions(jax.random.PRNGKey(1), 5).replace(action=jnp.array([[-0.5], [1.0], [0.2], [0.7], [-0.1]]))
    key = jax.random.PRNGKey(2)
    neg = ibc.negative_actions(state, batch.obs, batch.action, key)
    assert neg.shape == (5, 4, 1)
    pi = sac.policy(state.learner, batch.obs).sample(seed=jax.random.split(key)[0])
    np.testing.assert_array_equal(neg[:, 0], pi)
    assert float(neg[:, 1:].min()) >= -0.5 and float(neg[:, 1:].max()) <= 1.0  # the batch's action box

    w, b = np.array([[0.3, -0.2, 0.1, 0.8]]), np.array([0.25])
    params = linear_critic(state.learner.critic_params, w, b)
    loss, m = ibc.energy_loss(params, state, batch, neg, jax.random.PRNGKey(3))
    s = (np.asarray(batch.obs) - np.asarray(mean)) / np.asarray(std)
    cands = np.concatenate([np.asarray(batch.action)[:, None], np.asarray(neg)], 1)[..., 0]  # (B, 5)
    e = (s @ w[0, :3])[:, None] + w[0, 3] * cands + b[0]
    l_nce = -np.mean(e[:, 0] - special.logsumexp(e, axis=1))
    gp = 2.0 * np.maximum(np.abs(w).max() - 0.1, 0) ** 2
    np.testing.assert_allclose(float(m["nce_loss"]), l_nce, rtol=1e-5)
    np.testing.assert_allclose(float(m["grad_penalty"]), gp, rtol=1e-5)
    np.testing.assert_allclose(float(loss), l_nce + gp, rtol=1e-5)
    # The energy is clipped wherever it is used.
    clipped = ibc.energy(state.replace(config=cfg.replace(max_energy=0.3)), params, batch.obs, batch.action)
    np.testing.assert_allclose(np.asarray(clipped), np.clip(e[:, 0], -0.3, 0.3), rtol=1e-5)
    assert np.any(np.abs(e[:, 0]) > 0.3), "the case exercises the clip"


def test_recoil_learns_pendulum_from_expert_and_medium_replay(pendulum_data):
    """Far above random and at BC's level, with 20 expert trajectories plus the shipped
    medium-replay data (mostly the expert run's random warm-up). Critic lr 1e-3 (CleanIL's
    3e-4 needs ~30k updates here): IQM 94 at 15k updates, measured with curves every 2.5k
    (−13, −14, 5, 30, 80, 94): the expert-value regression to 200 takes most of the run."""
    expert, ref = pendulum_data
    eps, _ = data.load(data.default_dataset_id("pendulum", "medium-replay"), PENDULUM)
    cfg = recoil.Config(hidden=(64, 64), actor_lr=1e-3, critic_lr=1e-3, steps=15_000, eval_every=15_000,
                        eval_episodes=10)
    train = recoil.make_train(cfg, expert, data.to_transitions(eps), PENDULUM, ref)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0), 4))
    final = np.asarray(metrics["normalized_score"])[:, -1]
    assert iqm(final) >= 85, f"RECOIL on pendulum: per seed {final.round(1)}"


def test_ibc_learns_pendulum(pendulum_data):
    """At BC's level. The penalty's slope bound is raised to 10: pendulum's actions span
    [-2, 2] unnormalized, and CleanIL's bound of 1 (tuned for MuJoCo's [-1, 1]) leaves
    the energy too flat to rank them (IQM ~65 after 20k updates, measured)."""
    expert, ref = pendulum_data
    cfg = ibc.Config(hidden=(64, 64), gp_target=10.0, batch_size=128, steps=8000, eval_every=4000, eval_episodes=10)
    train = ibc.make_train(cfg, expert, PENDULUM, ref)
    _, metrics = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(0), 4))
    final = np.asarray(metrics["normalized_score"])[:, -1]
    assert iqm(final) >= 85, f"IBC on pendulum: per seed {final.round(1)}"


def test_offline_bad_input_is_a_clear_error(pendulum_data):
    expert, ref = pendulum_data
    with pytest.raises(JaxilError, match="pass the matching --env"):
        ibc.make_train(ibc.Config(hidden=(8,)), expert, envs.make("mountaincar-continuous"), ref)
    with pytest.raises(JaxilError, match="discrete"):
        cart = data.expert_data(data.load(data.default_dataset_id("cartpole"))[0][:2])
        iqlearn.make_train(iqlearn.Config(hidden=(8,)), cart, envs.make("cartpole"))
    wrong = transitions(jax.random.PRNGKey(0), 10, obs_dim=2)
    with pytest.raises(JaxilError, match="same env"):
        recoil.make_train(recoil.Config(hidden=(8,)), expert, wrong, PENDULUM, ref)
