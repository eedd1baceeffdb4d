"""ilpyt's algorithms beyond jaxil's core: guided cost learning (and apprenticeship learning).
A2C, their policy optimizer, is tested with the other solvers in test_rl.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError, envs
from jaxil.data import datasets
from jaxil.il import adversarial, gcl
from jaxil.stats import iqm


def test_gcl_importance_weights_and_regularizers_by_hand():
    c_demo = jnp.array([0.5, 1.5])
    c = jnp.array([1.0, 2.0, 0.5, 1.5])  # two policy samples, then the two demonstrations
    log_q = jnp.log(jnp.array([0.5, 0.25, 0.8, 0.4]))
    # Ẑ = (1/4) Σ exp(−c_j) / q_j
    z = np.mean(np.exp(-np.array([1.0, 2.0, 0.5, 1.5])) / np.array([0.5, 0.25, 0.8, 0.4]))
    np.testing.assert_allclose(gcl.ioc_loss(c_demo, c, log_q), 1.0 + np.log(z), rtol=1e-6)
    w = np.exp(-np.array([1.0, 2.0, 0.5, 1.5])) / np.array([0.5, 0.25, 0.8, 0.4])
    np.testing.assert_allclose(jax.nn.softmax(gcl.importance_log_weights(c, log_q)), w / w.sum(), rtol=1e-6)
    np.testing.assert_allclose(gcl.ess(gcl.importance_log_weights(c, log_q)), w.sum() ** 2 / (w**2).sum() / 4,
                               rtol=1e-6)
    # lcr: second differences (3 − 1) − (1 − 0) = 1 and (6 − 3) − (3 − 1) = 1; mono: rises of 2 and −0.5
    np.testing.assert_allclose(gcl.lcr_penalty(jnp.array([[0.0, 1.0, 3.0, 6.0]])), 2.0)
    np.testing.assert_allclose(gcl.mono_penalty(jnp.array([[0.0, 2.0, 1.5]])), 1.0)


def test_expert_rows_in_episode_order_give_whole_fragments(cartpole_expert):
    """The shuffled training split put back in order: every fragment the regularizers see
    is consecutive steps of one episode (s' of a step is the next step's s)."""
    _, expert, _ = cartpole_expert
    rows = datasets.in_order(expert)
    assert rows.size == expert.train.size
    frags = adversarial.draw_rows(jax.random.PRNGKey(0), jax.tree.map(lambda x: x[:, None], rows), 64 * 8, 8)
    obs, next_obs = frags.obs.reshape(64, 8, -1), frags.next_obs.reshape(64, 8, -1)
    np.testing.assert_array_equal(next_obs[:, :-1], obs[:, 1:])


def test_gcl_learns_cartpole(cartpole_expert):
    """GCL with PPO on short rollouts: ≥ 80 normalized, IQM over 4 seeds, in 41k env steps."""
    env, expert, ref = cartpole_expert
    cfg = gcl.Config(steps=8 * 32 * 160, eval_every=8 * 32 * 160)
    _, m = jax.jit(jax.vmap(gcl.make_train(cfg, expert, env, ref)))(jax.random.split(jax.random.PRNGKey(0), 4))
    final = np.asarray(m["normalized_score"])[:, -1]
    assert iqm(final) >= 80, f"IQM {iqm(final):.1f}, final scores {np.round(final, 1)}"


def test_gcl_regularizers_run_on_fragments_and_bad_settings_are_refused(cartpole_expert):
    env, expert, ref = cartpole_expert
    cfg = gcl.Config(generator="a2c", rollout_steps=16, num_envs=2, steps=64, eval_every=64, eval_episodes=1,
                     lcr_coef=0.1, mono_coef=0.1, fragment_length=8, expert_batch=32, disc_updates=2)
    state, m = jax.jit(gcl.make_train(cfg, expert, env, ref))(jax.random.PRNGKey(0))
    assert np.isfinite(np.asarray(m["lcr"])).all() and np.isfinite(np.asarray(m["mono"])).all()
    rows = jax.tree.map(lambda x: x[:5], expert.train)
    r = gcl.learned_reward(state.agent)(rows.obs, rows.action, rows.next_obs, rows.terminated)
    np.testing.assert_allclose(r, -gcl.cost(state.agent.disc_params, state.agent, rows.obs, rows.action))
    with pytest.raises(JaxilError, match="on-policy generator"):
        gcl.Config(generator="sac")
    with pytest.raises(JaxilError, match="multiple of fragment_length"):
        gcl.Config(lcr_coef=1.0, fragment_length=10, expert_batch=128)
    with pytest.raises(JaxilError, match="look along fragments"):
        gcl.Config(mono_coef=1.0)


def test_appl_projection_step_and_feature_expectations_by_hand():
    from jaxil.il import appl

    # μ_E = (1, 1) projected onto the segment from μ̄ = (0, 0) to μ = (2, 0): halfway, at (1, 0)
    mu_bar, alpha = appl.projection_step(jnp.zeros(2), jnp.array([2.0, 0.0]), jnp.ones(2))
    np.testing.assert_allclose(mu_bar, [1.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(alpha, 0.5)
    np.testing.assert_allclose(jnp.linalg.norm(jnp.ones(2) - mu_bar), 1.0)
    # a policy pointing away moves nothing (α clipped at 0): the margin never grows
    same, alpha = appl.projection_step(jnp.zeros(2), jnp.array([-1.0, 0.0]), jnp.ones(2))
    np.testing.assert_allclose(same, [0.0, 0.0])
    assert float(alpha) == 0.0
    # two episodes, γ = 0.5: 1 + 0.5 + 0.25 and 2 + 1, averaged
    phi = jnp.array([[1.0], [1.0], [1.0], [2.0], [2.0]])
    done = jnp.array([False, False, True, False, True])
    np.testing.assert_allclose(appl.discounted_features(phi, done, 0.5), [(1.75 + 3.0) / 2])


def test_appl_learns_cartpole_with_a_shrinking_margin(cartpole_expert):
    """3 outer iterations of A2C (16 envs, lr 1e-3, 120k env steps each) on r = w·sigmoid(s):
    the margin never grows, the mixture's weights sum to 1, and the mixture, evaluated as one,
    and its member closest to μ_E both reach ≥ 80 normalized (IQM over 4 seeds). With the
    defaults' 8 envs and lr 7e-4 three iterations are not enough (closest members 43–68
    normalized, measured); the ilpyt table runs ten."""
    from jaxil.il import appl

    env, expert, ref = cartpole_expert
    cfg = appl.Config(steps=3, solver_steps=120_000, num_envs=16, solver_lr=1e-3)
    state, m = jax.jit(jax.vmap(appl.make_train(cfg, expert, env, ref)))(jax.random.split(jax.random.PRNGKey(0), 4))
    margin = np.asarray(m["margin"])
    assert (np.diff(margin, axis=1) <= 1e-5).all(), margin
    np.testing.assert_allclose(np.asarray(state.weights).sum(1), 1.0, rtol=1e-5)
    closest, mixture = (np.asarray(m[k])[:, -1] for k in ("closest_normalized_score", "normalized_score"))
    assert iqm(closest) >= 80 and iqm(mixture) >= 80, f"closest members {np.round(closest, 1)}, mixtures {np.round(mixture, 1)}"


def test_appl_refuses_bad_feature_maps_and_buffers(cartpole_expert):
    from jaxil.il import appl

    env, expert, ref = cartpole_expert
    with pytest.raises(JaxilError, match="output width changes"):
        appl.make_train(appl.Config(steps=1), expert, env, ref, features=lambda s: s.reshape(-1))
    with pytest.raises(JaxilError, match="do not fit policy_buffer"):
        appl.Config(steps=10, policy_buffer=5)
    with pytest.raises(JaxilError, match="DQN needs discrete"):
        appl.make_train(appl.Config(steps=1, solver="dqn"), expert, envs.make("pendulum"), ref)
    # within ε from the start: no solver runs, the mixture stays the first policy, and every
    # metric stays finite (the driver stops runs on non-finite metrics)
    cfg = appl.Config(steps=2, epsilon=1e9, solver_steps=80, feature_episodes=2, eval_episodes=2)
    state, m = jax.jit(appl.make_train(cfg, expert, env, ref))(jax.random.PRNGKey(0))
    assert int(state.count) == 1 and all(np.isfinite(np.asarray(v)).all() for v in m.values())


def test_a_horizon_option_cuts_episodes_and_their_data():
    """ilpyt's CartPole-v0: v1's dynamics with 200-step episodes; the demonstrations are cut
    to 200 steps (a truncation) and the expert's reference is theirs."""
    from jaxil import data
    from jaxil.evaluation import episode_returns

    env = envs.make("cartpole", max_episode_steps=200)
    balance = lambda o, k: (o[2] + 0.5 * o[3] + 0.01 * o[0] + 0.1 * o[1] > 0).astype(jnp.int32)  # noqa: E731
    rets, lengths = episode_returns(env, balance, jax.random.PRNGKey(0), 4)
    np.testing.assert_array_equal(lengths, 200)
    assert envs.make("cartpole").spec.max_episode_steps == 500
    episodes, info = data.load(data.default_dataset_id("cartpole"), envs.make("cartpole"))
    cut, cut_info = data.at_horizon(episodes[:5], info, env)
    assert [len(e) for e in cut] == [min(len(e), 200) for e in episodes[:5]]
    assert all(e.truncations[-1] or e.terminations[-1] for e in cut) and cut_info.expert_return <= 200
    np.testing.assert_array_equal(cut[0].observations, episodes[0].observations[: len(cut[0]) + 1])
    with pytest.raises(JaxilError, match="tabular MDP"):
        envs.make("cliffworld", max_episode_steps=10)
    with pytest.raises(JaxilError, match="whole number"):
        envs.make("cartpole", max_episode_steps=0)


def test_the_step_limit_reaches_the_run_from_the_command_line(tmp_path, capsys):
    import json

    from jaxil import cli

    out = tmp_path / "bc200"
    assert cli.main(["train", "bc", "--env", "cartpole", "--max-episode-steps", "200", "--steps", "200",
                     "--eval-every", "200", "--eval-episodes", "4", "--out", str(out), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert json.loads((out / "config.json").read_text())["max_episode_steps"] == 200
    assert summary["return"]["mean"] <= 200
    assert cli.main(["train", "mopo", "--env", "cartpole", "--max-episode-steps", "200"]) != 0
    assert "takes none" in capsys.readouterr().err


def test_gail_on_a_discrete_env_with_each_reward_form(cartpole_expert):
    """GAIL's on-policy form on cartpole (the discriminator reads actions one-hot, the gradient
    penalty interpolates one-hots); the three reward forms of the same logits: softplus ≥ 0,
    log σ ≤ 0, and their sum, the logit."""
    from jaxil.il import gail

    env, expert, ref = cartpole_expert
    cfg = gail.Config(generator="ppo", hidden=(8,), disc_hidden=(8,), num_envs=2, rollout_steps=16, steps=64,
                      eval_every=64, eval_episodes=2, gp_weight=1.0)
    state, m = jax.jit(gail.make_train(cfg, expert, env, ref))(jax.random.PRNGKey(0))
    assert np.isfinite(np.asarray(m["disc_loss"])).all()
    rows = jax.tree.map(lambda x: x[:64], expert.train)
    r = {form: gail.learned_reward(state.agent.replace(config=state.agent.config.replace(reward_form=form)))(
        rows.obs, rows.action, rows.next_obs, rows.terminated) for form in gail.REWARD_FORMS}
    assert (r["softplus"] >= 0).all() and (r["log_sigmoid"] <= 0).all()
    np.testing.assert_allclose(r["softplus"] + r["log_sigmoid"], r["logit"], atol=1e-5)
