"""Offline model-based IRL (OMLIRL, RMIRL, RMIRL-implicit): each loss term by hand, the
penalty weight's tuning, the adversarial model step's direction, and each algorithm
learning pendulum from medium data plus 10 expert episodes in an ensemble fitted once."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import data, envs
from jaxil.evaluation import Reference
from jaxil.il import model_based, omlirl, rmirl, rmirl_implicit
from jaxil.rl import dynamics, mopo, rambo, sac
from jaxil.stats import iqm
from jaxil.types import Transition

PENDULUM = envs.make("pendulum")


@pytest.fixture(scope="module")
def pendulum():
    """Pendulum's medium data (10k rows, return −924), its first 10 expert episodes, the
    references, and an ensemble fitted to both (5 members of 2×64, 3 elites; CleanIL fits
    its IRL models to the sub-optimal data plus the expert episodes)."""
    env = PENDULUM
    eps, _ = data.load(data.default_dataset_id("pendulum", "medium"), env)
    expert_eps, info = data.load(data.default_dataset_id("pendulum"), env)
    expert_eps = data.first_episodes(expert_eps, 10, "expert")
    fit = dynamics.Config(members=5, elites=3, hidden=(64, 64), lr=1e-3, steps=60, eval_every=20)
    ts, _ = jax.jit(dynamics.make_train(fit, data.to_transitions(eps + expert_eps), env.spec))(jax.random.PRNGKey(0))
    return (data.expert_data(expert_eps), data.to_transitions(eps), dynamics.model(ts.learner),
            Reference(info.random_return, info.expert_return))


def rows(n: int, key: int = 0, obs_dim: int = 3) -> Transition:
    k = jax.random.split(jax.random.PRNGKey(key), 3)
    return Transition(jax.random.normal(k[0], (n, obs_dim)), jax.random.uniform(k[1], (n, 1), minval=-1, maxval=1),
                      jnp.zeros(n), jax.random.normal(k[2], (n, obs_dim)), jnp.zeros(n, bool), jnp.zeros(n, bool))


# --------------------------------------------------------------------------------------
# Loss terms by hand


def linear_reward_state(config, w: np.ndarray, b: float, obs_mean, obs_std):
    """An OMLIRL state whose reward is linear, r = w·[(s − μ)/σ, a] + b (no hidden layer)."""
    state = omlirl.init(jax.random.PRNGKey(0), config, PENDULUM.spec, jnp.asarray(obs_mean), jnp.asarray(obs_std))
    params = jax.tree.map(lambda x: x, state.reward_params)
    dense = params["params"]["MLP_0"]["Dense_0"]
    dense["kernel"], dense["bias"] = jnp.asarray(w, jnp.float32)[:, None], jnp.asarray([b], jnp.float32)
    return state.replace(reward_params=params)


def test_reward_loss_terms_equal_hand_computation():
    """L_r = −(E_E r − E_M r) + λ_gp max(‖w‖_∞ − g, 0)² + λ_2 ½(‖w‖² + b²) for a linear
    reward (its input gradient is w at every interpolate); the policy's labels clip r."""
    w, b = np.array([0.5, -2.0, 0.25, 1.5]), 0.1
    mean, std = np.array([0.1, -0.2, 0.3]), np.array([2.0, 0.5, 1.0])

    def r(t, clip):
        x = np.concatenate([(np.asarray(t.obs) - mean) / std, np.asarray(t.action)], -1)
        return np.clip(x @ w + b, -clip, clip)

    cfg = omlirl.Config(hidden=(8,), reward_hidden=(), max_reward=100.0, gp_weight=3.0, gp_target=1.2, l2_weight=0.01)
    state = linear_reward_state(cfg, w, b, mean, std)
    e, m = rows(6, 1), rows(6, 2)
    loss, metrics = jax.jit(model_based.reward_loss)(state.reward_params, state, e, m, jax.random.PRNGKey(3))
    wasserstein = -(r(e, 100).mean() - r(m, 100).mean())
    gp = 3.0 * max(np.abs(w).max() - 1.2, 0.0) ** 2
    l2 = 0.01 * 0.5 * (np.sum(w**2) + b**2)
    np.testing.assert_allclose([metrics["reward_loss"], metrics["reward_gp"]], [wasserstein, gp], rtol=1e-5)
    np.testing.assert_allclose(loss, wasserstein + gp + l2, rtol=1e-5)
    # the policy's label: r̂ = clip(r_ψ(s, a), ±1) − λ u, u in the reward field
    state = linear_reward_state(cfg.replace(max_reward=1.0), w, b, mean, std)
    batch = rows(6, 4).replace(reward=jnp.linspace(0.0, 0.5, 6))
    assert np.abs(r(batch, 100)).max() > 1  # the clip is exercised
    _, out = jax.jit(model_based.update_policy)(state, batch, 2.0)
    np.testing.assert_allclose(out["policy_reward"], np.mean(r(batch, 1) - 2.0 * np.linspace(0.0, 0.5, 6)), rtol=1e-5)
    np.testing.assert_allclose(omlirl.learned_reward(state)(batch.obs, batch.action, batch.next_obs,
                                                            batch.terminated), r(batch, 1), rtol=1e-5)


@pytest.mark.parametrize("u, target", [(0.2, 1.0), (3.0, 0.5)])
def test_penalty_tuning_drives_the_mean_penalty_to_its_target(u, target):
    """With u fixed, λ moves monotonically until mean(λu) sits at the target."""
    cfg = omlirl.Config(hidden=(8,), reward_hidden=(8,), penalty_target=target, penalty_lr=0.01)
    state = omlirl.init(jax.random.PRNGKey(0), cfg, PENDULUM.spec)
    steps = 3000
    us = jnp.full((steps, 16), u).at[:, 0].set(0.0)  # one row with no uncertainty, so the mean is over rows
    live = jnp.ones((steps, 16), bool).at[:, -1].set(False)  # a dead row is left out
    state, lambdas = mopo.tune_penalty(state, us, live)
    mean_u = float(np.mean(np.asarray(us[0, :-1])))
    gap = np.abs(np.asarray(lambdas) * mean_u - target)
    assert gap[0] > 0.4 and gap[-1] < 0.02 * target, (gap[0], gap[-1])
    far = gap[:-1] > 0.05 * gap[0]
    assert np.all(np.diff(gap)[far] < 0)  # Adam closes the gap step by step until it is near


def test_adversarial_term_lowers_the_likelihood_of_high_advantage_transitions(pendulum):
    """A small step against the gradient of RAMBO's model loss (its supervised part taken
    out) makes a transition with advantage Â > 0 less likely and one with Â < 0 more likely."""
    _, sub, model, _ = pendulum
    cfg = rmirl.Config(hidden=(8,), reward_hidden=(8,), adv_batch=1, sl_batch=4, adv_weight=1.0)
    state = rmirl.init(jax.random.PRNGKey(0), cfg, PENDULUM.spec, model)
    sl = jax.tree.map(lambda x: jnp.asarray(x[: 3 * 4]).reshape((3, 4) + x.shape[1:]), sub)
    # jitted: run op by op, the gradients alone compile ~200 small programs
    log_p = jax.jit(lambda m, t: dynamics.log_likelihood(m, t.obs, t.action, t.next_obs)[0])
    grad = jax.jit(jax.grad(lambda p, t, adv: rambo.adversarial_loss(p, state, t, adv, sl)[0]))
    for row in (0, 5000):
        t = jax.tree.map(lambda x: jnp.asarray(x[row : row + 1]), sub)
        for sign in (1.0, -1.0):
            g_all, g_sl = grad(state.model.params, t, jnp.array([sign])), grad(state.model.params, t, jnp.zeros(1))
            params = jax.tree.map(lambda p, a, s: p - 1e-5 * (a - s), state.model.params, g_all, g_sl)
            change = float(log_p(state.model.replace(params=params), t)) - float(log_p(state.model, t))
            assert np.sign(change) == -sign, (row, sign, change)


def test_advantages_equal_hand_computation(pendulum):
    """RMIRL's A = r_ψ + γ(1 − d′)(clip min Q(s′, a′) − α log π(a′|s′)) − clip min Q(s, a);
    RMIRL-implicit's drops r_ψ and the terminal mask."""
    expert, sub, model, _ = pendulum
    t = jax.tree.map(lambda x: jnp.asarray(x[:6]), sub).replace(terminated=jnp.array([0, 1, 0, 0, 1, 0], bool))
    key = jax.random.PRNGKey(5)
    for mod, cfg in ((rmirl, rmirl.Config(hidden=(8,), reward_hidden=(8,), critic_zero_init=False, max_q=0.3)),
                     (rmirl_implicit, rmirl_implicit.Config(hidden=(8,), critic_zero_init=False, max_q=0.3))):
        state = mod.init(jax.random.PRNGKey(1), cfg, PENDULUM.spec, model, expert.obs_mean, expert.obs_std)
        learner = state.learner
        q = lambda o, a: np.clip(np.min(np.asarray(sac.q_values(learner, learner.critic_params, o, a)), 0), -0.3, 0.3)  # noqa: E731
        a2, logp2 = sac.policy(learner, t.next_obs).sample_and_log_prob(seed=key)
        v2 = q(t.next_obs, a2) - float(learner.alpha) * np.asarray(logp2)
        if mod is rmirl:
            r = np.asarray(model_based.reward(state, state.reward_params, t.obs, t.action))
            expected = r + 0.99 * (1 - np.asarray(t.terminated)) * v2 - q(t.obs, t.action)
        else:
            expected = 0.99 * v2 - q(t.obs, t.action)
        assert np.abs(q(t.obs, t.action)).max() == pytest.approx(0.3)  # the clip is exercised
        np.testing.assert_allclose(mod.advantage(state, t, key), expected, rtol=1e-4, atol=1e-5)


def test_implicit_critic_loss_terms_equal_hand_computation(pendulum):
    """L_cd, L_ibc and L_td of RMIRL-implicit against numpy on the critics' outputs, and
    the critic's cosine learning-rate schedule."""
    expert, _, model, _ = pendulum
    cfg = rmirl_implicit.Config(hidden=(8,), critic_zero_init=False, gp_weight=0.0, ibc_coef=0.7, td_coef=0.3,
                                critic_lr=1e-3, critic_lr_min=1e-4, critic_decay_steps=100)
    state = rmirl_implicit.init(jax.random.PRNGKey(2), cfg, PENDULUM.spec, model, expert.obs_mean, expert.obs_std)
    learner = state.learner
    e, m, td = rows(4, 1), rows(5, 2), rows(6, 3)
    pa = jax.random.uniform(jax.random.PRNGKey(4), (4, 1), minval=-1, maxval=1)
    y = jnp.linspace(-1.0, 1.0, 6)
    q = lambda o, a: np.asarray(sac.q_values(learner, learner.critic_params, o, a))  # noqa: E731  (heads, B)
    l_cd = -np.mean(q(e.obs, e.action).mean(1) - q(m.obs, m.action).mean(1))
    l_ibc = -np.mean(q(e.obs, e.action).mean(1) - q(e.obs, pa).mean(1))
    l_td = np.mean(np.mean((q(td.obs, td.action) - np.asarray(y)) ** 2, 1))
    loss, metrics = rmirl_implicit.critic_loss(learner.critic_params, state, e, m, td, pa, y)
    np.testing.assert_allclose([metrics["contrastive_loss"], metrics["ibc_loss"], metrics["td_loss"]],
                               [l_cd, l_ibc, l_td], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loss, l_cd + 0.7 * l_ibc + 0.3 * l_td, rtol=1e-5, atol=1e-6)
    lr = [float(rmirl_implicit.critic_lr(cfg, jnp.asarray(s))) for s in (0, 50, 100, 500)]
    np.testing.assert_allclose(lr, [1e-3, 1e-4 + 0.5 * 9e-4, 1e-4, 1e-4], rtol=1e-5)


# --------------------------------------------------------------------------------------
# Learning pendulum: 4 seeds, IQM of the final evaluation ≥ 85 normalized


# small nets, lr 1e-3, batches of 128 with 16 data rows, 500 × 10-step rollouts every 250
# updates, the reward model as small (256-row batches with 32 data rows reached ~70 at 10k
# updates for RMIRL; these reach ~100 at 14k in the same time, measured)
SMALL = dict(hidden=(64, 64), activation="relu", actor_lr=1e-3, critic_lr=1e-3, batch_size=128, real_batch=16,
             rollout_batch=500, horizon=10, model_buffer_size=50_000, eval_episodes=10)
# A reward of the state alone, so that it transfers (next tests): with r_ψ(s, a), the
# default, both learn as well (IQM 104 for each, these seeds, measured) but a fresh SAC agent
# reaches only ~60 on that reward, which also encodes the expert's actions.
REWARD = dict(reward_hidden=(64, 64), reward_activation="relu", reward_lr=1e-3, reward_batch=128,
              reward_state_only=True, steps=14_000, eval_every=7000)


def learn(mod, cfg, pendulum):
    expert, sub, model, ref = pendulum
    train = mod.make_train(cfg, expert, sub, model, PENDULUM, ref)
    state, m = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(1), 4))
    final = np.asarray(m["normalized_score"])[:, -1]
    print(f"{mod.__name__}: final normalized scores {final.round(1)}, IQM {iqm(final):.1f}")
    assert np.all(np.asarray(m["rollout_nonfinite"]) == 0)
    return state, m, final


@pytest.fixture(scope="module")
def omlirl_run(pendulum):
    cfg = omlirl.Config(**SMALL, **REWARD)
    return learn(omlirl, cfg, pendulum)


@pytest.fixture(scope="module")
def rmirl_run(pendulum):
    cfg = rmirl.Config(**SMALL, **REWARD)
    return learn(rmirl, cfg, pendulum)


def test_omlirl_learns_pendulum(omlirl_run):
    _, m, final = omlirl_run
    assert iqm(final) >= 85, final
    # the reward separates expert from imagined rows, and λ grew towards a mean penalty of 1
    assert np.all(np.asarray(m["reward_expert"])[:, -1] > np.asarray(m["reward_model"])[:, -1])
    assert np.all(np.diff(np.asarray(m["penalty"]), axis=1) > 0)


def test_rmirl_learns_pendulum(rmirl_run):
    _, m, final = rmirl_run
    assert iqm(final) >= 85, final
    sl = np.asarray(m["model_sl_loss"])
    assert np.all(np.isfinite(sl)) and np.all(np.asarray(m["model_adv_loss"]) != 0)


def test_rmirl_implicit_learns_pendulum(pendulum):
    # CleanIL's 20-step rollouts; a TD coefficient of 1 (CleanIL: 0.5) held pendulum's
    # scores at the expert's where 0.5 swung between 60 and 100 (measured, 3 seeds)
    cfg = rmirl_implicit.Config(**(SMALL | dict(batch_size=256, real_batch=128, horizon=20)), td_coef=1.0, gp_target=100.0,
                                steps=6000, eval_every=3000, critic_decay_steps=6000)
    _, m, final = learn(rmirl_implicit, cfg, pendulum)
    assert iqm(final) >= 85, final


@pytest.mark.parametrize("run", ["omlirl_run", "rmirl_run"])
def test_learned_reward_transfers_to_a_fresh_sac_agent(run, request, pendulum):
    """SAC from scratch on each seed's r_ψ(s) alone (no penalty), scored on the true reward."""
    from jaxil.experts import recipe_config

    states, _, _ = request.getfixturevalue(run)
    mod = omlirl if run == "omlirl_run" else rmirl
    # the pendulum recipe's SAC with 2×64 nets and lr 1e-3, as AIRL's transfer test
    small = dict(hidden=(64, 64), actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, batch_size=128)
    _, solver = recipe_config("pendulum", small | dict(steps=16_000, eval_every=8000))

    def transfer(state, key):
        return sac.make_train(solver, PENDULUM, pendulum[3], reward_fn=mod.learned_reward(state.learner))(key)

    _, m = jax.jit(jax.vmap(transfer))(states, jax.random.split(jax.random.PRNGKey(2), 4))
    final = np.asarray(m["normalized_score"])[:, -1]
    print(f"{mod.__name__} reward transfer: final normalized scores {final.round(1)}, IQM {iqm(final):.1f}")
    assert iqm(final) >= 80, final


def test_same_seed_repeats_and_a_vmapped_seed_equals_its_lone_run(pendulum):
    """Two runs of seed 1 are identical; seed 1 of a vmapped pair matches its lone run to
    float32 rounding (XLA may order a batched reduction differently)."""
    from conftest import seed_slice, tree_equal

    expert, sub, model, ref = pendulum
    cfg = rmirl.Config(hidden=(8,), reward_hidden=(8,), batch_size=16, real_batch=8, rollout_batch=16, horizon=2,
                       rollout_every=5, reward_every=5, reward_batch=8, model_buffer_size=64, steps=20, eval_every=10,
                       eval_episodes=2, model_update_every=10, model_steps=2, adv_batch=4, sl_batch=4)
    train = jax.jit(rmirl.make_train(cfg, expert, sub, model, PENDULUM, ref))
    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    lone, m = train(keys[1])
    again, _ = train(keys[1])
    assert tree_equal(lone, again)
    batched, mb = jax.jit(jax.vmap(rmirl.make_train(cfg, expert, sub, model, PENDULUM, ref)))(keys)
    for a, b in zip(jax.tree.leaves(seed_slice(batched.learner, 1)), jax.tree.leaves(lone.learner)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(mb["eval_return"][1], m["eval_return"], rtol=1e-4)


# --------------------------------------------------------------------------------------
# The command line and bad input

IRL_TINY = ["--hidden", "8", "--reward-hidden", "8", "--batch-size", "16", "--real-batch", "8", "--rollout-batch",
            "16", "--horizon", "2", "--rollout-every", "5", "--reward-every", "5", "--reward-batch", "8",
            "--model-buffer-size", "64", "--steps", "10", "--eval-every", "10", "--eval-episodes", "2", "--seeds", "2",
            "--no-progress"]


def test_cli_trains_each_in_a_fitted_model_and_refuses_bad_input(tmp_path, capsys):
    import json

    from jaxil import JaxilError, cli

    dyn = tmp_path / "dyn"
    assert cli.main(["train", "dynamics", "--env", "pendulum", "--out", str(dyn), "--members", "2", "--elites", "1",
                     "--hidden", "8", "--steps", "2", "--eval-every", "1", "--no-progress"]) == 0
    capsys.readouterr()
    # no model given and none shipped: say which command makes one
    assert cli.main(["train", "omlirl", "--env", "pendulum", "--out", str(tmp_path / "x"), *IRL_TINY]) == 1
    assert "fit one with jaxil train dynamics --env pendulum" in capsys.readouterr().err
    # OMLIRL in the fitted model (--dynamics), then its reward transferred to fresh SAC agents
    out = tmp_path / "omlirl"
    assert cli.main(["train", "omlirl", "--env", "pendulum", "--dynamics", str(dyn), "--out", str(out), *IRL_TINY]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["algo"] == "omlirl" and run["steps"] == 10 and run["num_expert_trajs"] == 10
    assert run["suboptimal_dataset"] == "jaxil/pendulum/medium-replay-v0" and run["model"] == str(dyn.absolute())
    assert len(run["normalized_score"]["per_seed"]) == 2
    assert cli.main(["reward-transfer", str(out), "--steps", "500", "--no-progress"]) == 0
    transfer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert transfer["algo"] == "reward-transfer" and transfer["seeds"] == [0, 1]
    assert (out / "reward-transfer" / "seed1" / "metrics.csv").is_file()
    # RMIRL-implicit from the same model (RMIRL's command line is OMLIRL's plus these flags)
    adversarial = ["--model-update-every", "10", "--model-steps", "2", "--adv-batch", "4", "--sl-batch", "4"]
    assert cli.main(["train", "rmirl-implicit", "--env", "pendulum", "--dynamics", str(dyn), "--out",
                     str(tmp_path / "implicit"), *strip_reward_flags(IRL_TINY), *adversarial,
                     "--adv-horizon", "2"]) == 0
    capsys.readouterr()
    assert cli.main(["reward-transfer", str(tmp_path / "implicit")]) == 1
    assert "rmirl-implicit learns no reward" in capsys.readouterr().err
    # a model fitted to other data, an ensemble of another env, too few expert episodes
    bad = {
        "fitted to jaxil/pendulum/medium-replay-v0, but this run learns from jaxil/pendulum/medium-v0":
            ["--suboptimal-dataset", "jaxil/pendulum/medium-v0"],
        "models env 'hopper', not 'pendulum'": ["--dynamics", "jaxil/data/models/hopper"],
        "fewer than the 1000 requested": ["--num-expert-trajs", "1000"],
    }
    for message, flags in bad.items():
        argv = ["train", "omlirl", "--env", "pendulum", "--dynamics", str(dyn), "--out", str(tmp_path / "bad"),
                *IRL_TINY, *flags]
        assert cli.main(argv) == 1, flags
        assert message in capsys.readouterr().err, flags
    # an ensemble of another observation size, given to the Python API
    from jaxil.models import load_dynamics

    with pytest.raises(JaxilError, match="the model is for obs 11, action 3"):
        expert_eps, _ = data.load(data.default_dataset_id("pendulum"), PENDULUM)
        omlirl.make_train(omlirl.Config(), data.expert_data(expert_eps[:2]), data.to_transitions(expert_eps[:2]),
                          load_dynamics("jaxil/data/models/hopper"), PENDULUM)


def strip_reward_flags(argv: list[str]) -> list[str]:
    """The flags without the reward model's (RMIRL-implicit has none)."""
    out, skip = [], False
    for f in argv:
        if skip:
            skip = False
        elif f in ("--reward-hidden", "--reward-every", "--reward-batch"):
            skip = True
        else:
            out.append(f)
    return out
