"""Learned dynamics: the ensemble recovers a known linear-Gaussian system, its loss by
hand, hold-out early stopping and elites, model rollouts on hand-made models, and the
MuJoCo termination rules on jaxil's observations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError, data, envs
from jaxil.data.datasets import SHIPPED_ROOT
from jaxil.envs.core import EnvSpec
from jaxil.envs.termination import termination_fn
from jaxil.rl import dynamics, model_rollouts
from jaxil.types import Transition

LINEAR = EnvSpec("linear", "synthetic", "none", 2, 1, None, (-1.0,), (1.0,), 100)
A = np.array([[0.9, 0.2], [-0.1, 0.8]])
B = np.array([[0.5], [-0.3]])
C = np.array([1.0, -0.5])
NOISE = np.array([0.05, 0.2, 0.1])  # std of s′₁, s′₂ and r


def linear_gaussian(n: int, seed: int) -> Transition:
    """s′ = A s + B a + ε, r = c·s + η, with independent Gaussian noise of std NOISE."""
    r = np.random.default_rng(seed)
    s, a = r.normal(size=(n, 2)), r.uniform(-1, 1, (n, 1))
    s2 = s @ A.T + a @ B.T + NOISE[:2] * r.normal(size=(n, 2))
    rew = s @ C + NOISE[2] * r.normal(size=n)
    f = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    return Transition(f(s), f(a), f(rew), f(s2), jnp.zeros(n, bool), jnp.zeros(n, bool))


@pytest.fixture(scope="module")
def linear_fit():
    data_ = linear_gaussian(8000, 0)
    cfg = dynamics.Config(members=3, elites=2, hidden=(32, 32), min_std=0.01, lr=1e-3, batch_size=128, steps=100,
                          eval_every=10, patience=5, weight_decay=(0.0,) * 3)
    ts, metrics = jax.jit(dynamics.make_train(cfg, data_, LINEAR))(jax.random.PRNGKey(0))
    return cfg, data_, ts, metrics


def test_ensemble_recovers_a_linear_gaussian_system(linear_fit):
    """On fresh inputs the elites' means are within 0.03 of the true next state and reward
    (noise std 0.05–0.2), and their predicted stds within 25% of the true noise."""
    cfg, _, ts, _ = linear_fit
    m = dynamics.model(ts.learner)
    test = linear_gaussian(2000, 1)
    mean, logvar = dynamics.net(cfg, LINEAR).apply(m.params, m.scaler(jnp.concatenate([test.obs, test.action], -1)))
    mean, std = np.asarray(mean)[np.asarray(m.elites)], np.exp(np.asarray(logvar) / 2)[np.asarray(m.elites)]
    sd = np.asarray(m.scaler.std[:2])
    true_next, true_reward = np.asarray(test.obs) @ A.T + np.asarray(test.action) @ B.T, np.asarray(test.obs) @ C
    assert np.abs(np.asarray(test.obs) + mean[..., :2] * sd - true_next).mean() < 0.03
    assert np.abs(mean[..., 2] - true_reward).mean() < 0.03
    std[..., :2] *= sd
    np.testing.assert_allclose(std.mean(1), np.broadcast_to(NOISE, (2, 3)), rtol=0.25)
    # sampling a step reproduces the noise: residual stds within 25%
    next_obs, reward = dynamics.step(m, jax.random.PRNGKey(3), test.obs, test.action)
    resid = np.concatenate([np.asarray(next_obs) - true_next, (np.asarray(reward) - true_reward)[:, None]], 1)
    np.testing.assert_allclose(resid.std(0), NOISE, rtol=0.25)


def test_holdout_early_stopping_and_elites(linear_fit):
    """Training stopped once no member improved its hold-out MSE by 1% for more than 5
    epochs; best_mse is the hold-out MSE of the weights kept, and the elites are the
    members lowest on it."""
    cfg, data_, ts, metrics = linear_fit
    s = ts.learner
    epochs = np.asarray(metrics["epochs"])
    assert bool(s.stopped) and epochs[-1] < cfg.steps and np.all(np.asarray(metrics["stopped"])[epochs == epochs[-1]])
    held = jax.tree.map(lambda x: x[ts.holdout_idx], data_)
    assert ts.holdout_idx.shape == (1000,) and not np.isin(np.asarray(ts.holdout_idx), np.asarray(ts.train_idx)).any()
    recomputed = np.asarray(dynamics.holdout_mse(s.best_params, s, held))
    np.testing.assert_allclose(np.asarray(s.best_mse), recomputed, rtol=1e-5)
    assert set(np.asarray(dynamics.model(s).elites).tolist()) == set(np.argsort(recomputed)[:2].tolist())
    np.testing.assert_allclose(metrics["holdout_mse"][-1], np.sort(recomputed)[:2].mean(), rtol=1e-5)


def test_model_loss_equals_hand_computation():
    """Linear members (hidden=()): μ, raw lv = W x̂ + b, lv soft-clamped; the loss is the
    NLL plus the bound and weight-decay terms."""
    spec = EnvSpec("line", "synthetic", "none", 1, 1, None, (-1.0,), (1.0,), 100)
    cfg = dynamics.Config(members=2, elites=1, hidden=(), weight_decay=(0.3,), bound_weight=0.01)
    scaler = dynamics.Scaler(jnp.array([0.5, 0.0]), jnp.array([2.0, 1.0]))
    state = dynamics.init(jax.random.PRNGKey(0), cfg, spec, scaler)
    r = np.random.default_rng(0)
    batch = Transition(*(jnp.asarray(r.normal(size=(2, 3, 1)), jnp.float32) for _ in range(2)),
                       jnp.asarray(r.normal(size=(2, 3)), jnp.float32), jnp.asarray(r.normal(size=(2, 3, 1)), jnp.float32),
                       jnp.zeros((2, 3), bool), jnp.zeros((2, 3), bool))
    loss, m = dynamics.model_loss(state.params, state, batch)

    p = jax.tree.map(np.asarray, state.params["params"]["VmapGaussianMember_0"])
    w, b = p["Dense_0"]["kernel"], p["Dense_0"]["bias"]  # (2, 2, 4), (2, 4)
    x = (np.concatenate([batch.obs, batch.action], -1) - [0.5, 0.0]) / [2.0, 1.0]  # (2, 3, 2)
    out = np.einsum("kbi,kio->kbo", x, w) + b[:, None]
    softplus = lambda z: np.log1p(np.exp(z))  # noqa: E731
    hi, lo = p["max_logvar"][:, None], p["min_logvar"][:, None]
    lv = out[..., 2:]
    lv = hi - softplus(hi - lv)
    lv = lo + softplus(lv - lo)
    y = np.concatenate([(np.asarray(batch.next_obs) - np.asarray(batch.obs)) / 2.0, np.asarray(batch.reward)[..., None]], -1)
    nll = np.mean((out[..., :2] - y) ** 2 * np.exp(-lv) + lv)
    bound = np.mean(np.sum(p["max_logvar"] - p["min_logvar"], -1))
    np.testing.assert_allclose(m["model_nll"], nll, rtol=1e-5)
    np.testing.assert_allclose(loss, nll + 0.01 * bound + 0.3 * 0.5 * np.sum(w**2), rtol=1e-5)
    # the initial bounds are log(min_std²), log(max_std²)
    np.testing.assert_allclose(hi, 2 * np.log(1.6), rtol=1e-6)
    np.testing.assert_allclose(lo, 2 * np.log(0.04), rtol=1e-6)


LINE = EnvSpec("line", "synthetic", "none", 1, 1, None, (-1.0,), (1.0,), 100)


def constant_model(shifts, elites) -> dynamics.Model:
    """Members that move s by a constant (member k: +shifts[k]) with a negligible std;
    no reward head; identity scaler."""
    cfg = dynamics.Config(members=len(shifts), elites=len(elites), hidden=(), predict_reward=False, min_std=1e-4)
    scaler = dynamics.Scaler(jnp.zeros(2), jnp.ones(2))
    state = dynamics.init(jax.random.PRNGKey(0), cfg, LINE, scaler)
    layers = state.params["params"]["VmapGaussianMember_0"]
    dense = {"kernel": jnp.zeros_like(layers["Dense_0"]["kernel"]),
             "bias": jnp.stack([jnp.array([s, -100.0]) for s in shifts]).astype(jnp.float32)}
    params = {"params": {"VmapGaussianMember_0": layers | {"Dense_0": dense}}}
    return dynamics.Model(params, scaler, jnp.asarray(elites), cfg, LINE)


def test_model_step_draws_elites_only_and_penalty_spans_all_members():
    m = constant_model([1.0, 3.0, 100.0], elites=[0, 1])
    obs, action = jnp.zeros((200, 1)), jnp.zeros((200, 1))
    next_obs, reward = dynamics.step(m, jax.random.PRNGKey(0), obs, action)
    assert reward is None
    moved = np.round(np.asarray(next_obs[:, 0]), 2)
    assert set(moved.tolist()) == {1.0, 3.0} and (moved == 1.0).sum() == 100  # rows split evenly
    odd = dynamics.step(m, jax.random.PRNGKey(0), obs[:7], action[:7])[0]  # 7 rows, 2 elites: padded
    assert set(np.round(np.asarray(odd[:, 0]), 2).tolist()) <= {1.0, 3.0}
    next_obs, _, u = dynamics.step_with_uncertainty(m, jax.random.PRNGKey(1), obs, action)
    assert set(np.round(np.asarray(next_obs[:, 0]), 2).tolist()) == {1.0, 3.0}
    # u = mean_d sqrt(mean_k σ² + var_k μ): stds ≈ 0, means 1, 3, 100 (unbiased variance)
    np.testing.assert_allclose(u, np.sqrt(np.var([1.0, 3.0, 100.0], ddof=1)), rtol=1e-4)


def test_rollouts_respect_masks_sticky_flags_and_pruning():
    """s moves +1 a step; terminal when s′ ≥ 3. Starts 0 and 2.5, 5 steps."""
    m = constant_model([1.0], elites=[0])
    start = jnp.array([[0.0], [2.5]])

    def act(key, obs):
        return jnp.zeros_like(obs)

    def rule(o):
        return o[..., 0] >= 3.0

    t, live, info = model_rollouts.rollout(jax.random.PRNGKey(0), m, act, start, 5, rule, prune="terminated")
    np.testing.assert_allclose(t.next_obs[:, 0, 0], [1, 2, 3, 4, 5], atol=1e-2)
    # written up to and including the terminal step
    np.testing.assert_array_equal(live, [[1, 1], [1, 0], [1, 0], [0, 0], [0, 0]])
    np.testing.assert_array_equal(t.terminated[:3, 0], [0, 0, 1])
    assert int(info["nonfinite"]) == 0 and "uncertainty" not in info

    # bound 4.2 (identity scaler): terminal rows roll on with the flag; s′ past the bound is not written
    t, live, _ = model_rollouts.rollout(jax.random.PRNGKey(0), m, act, start, 5, rule, prune="bound", bound=4.2)
    np.testing.assert_array_equal(live, [[1, 1], [1, 0], [1, 0], [1, 0], [0, 0]])
    np.testing.assert_array_equal(t.terminated[:, 0], [0, 0, 1, 1, 1])
    np.testing.assert_array_equal(t.terminated[0, 1], 1)

    # a non-finite prediction is never written and its row dies; counted once
    def bad_act(key, obs):
        return jnp.where(obs[:, :1] > 1.5, jnp.nan, 0.0)

    t, live, info = model_rollouts.rollout(jax.random.PRNGKey(0), m, bad_act, start, 3, rule, prune="bound", penalty=True)
    np.testing.assert_array_equal(live, [[1, 0], [1, 0], [0, 0]])
    assert int(info["nonfinite"]) == 2 and info["uncertainty"].shape == (3, 2)
    with pytest.raises(JaxilError, match="prune must be one of"):
        model_rollouts.rollout(jax.random.PRNGKey(0), m, act, start, 3, rule, prune="drop")


def test_dynamics_bad_input():
    with pytest.raises(JaxilError, match="elites \\(8\\) cannot exceed members \\(7\\)"):
        dynamics.Config(elites=8)
    with pytest.raises(JaxilError, match="too few to fit a dynamics model"):
        dynamics.make_train(dynamics.Config(), linear_gaussian(300, 0), LINEAR)
    with pytest.raises(JaxilError, match="one row set per member"):
        state = dynamics.init(jax.random.PRNGKey(0), dynamics.Config(members=2, elites=1, hidden=(4,)), LINEAR,
                              dynamics.Scaler(jnp.zeros(3), jnp.ones(3)))
        dynamics.update(state, linear_gaussian(8, 0))
    with pytest.raises(JaxilError, match="the scaler covers"):
        dynamics.init(jax.random.PRNGKey(0), dynamics.Config(), LINEAR, dynamics.Scaler(jnp.zeros(5), jnp.ones(5)))

MUJOCO = ["hopper", "walker2d", "halfcheetah", "ant"]


@pytest.mark.parametrize("name", [*MUJOCO, "gym-hopper-v5", "gym-halfcheetah-v5"])
def test_termination_rule_agrees_with_the_recorded_flags(name):
    """On every transition of every shipped dataset of the env (expert, medium,
    medium-replay, random), the rule read off next_obs matches the recorded terminated
    flag; the agreement is reported and must be ≥ 99.9%."""
    rule = termination_fn(name)
    agree, total, terminal = 0, 0, 0
    for kind in sorted(p.name.removesuffix("-v0") for p in (SHIPPED_ROOT / "jaxil" / name).glob("*-v0")):
        eps, _ = data.load(data.default_dataset_id(name, kind))
        t = data.to_transitions(eps)
        predicted = np.asarray(rule(jnp.asarray(t.next_obs)))
        recorded = np.asarray(t.terminated)
        agree += int((predicted == recorded).sum())
        total += len(recorded)
        terminal += int(recorded.sum())
    rate = agree / total
    print(f"{name}: {rate:.5%} of {total} transitions agree ({terminal} recorded terminations)")
    assert rate >= 0.999, f"{name}: the rule agrees on only {rate:.4%} of {total} transitions"
    if "halfcheetah" not in name:
        assert terminal > 0  # else agreement would prove nothing about the rule


@pytest.mark.parametrize("name", MUJOCO)
def test_shipped_model_loads_and_predicts_its_data(name):
    """The model jaxil ships for the env loads (its card's elites, the env's sizes) and its
    elites' mean prediction of 2000 random rows of the medium-replay data it was fitted to
    is as good as its card's hold-out MSE says (within 2×: the hold-out also held the
    expert rows, which it predicts better)."""
    import json

    from jaxil.models import CARD, load_dynamics, shipped_model

    path = shipped_model(name)
    card = json.loads((path / CARD).read_text())
    m = load_dynamics(path, env=name)
    assert m.elites.tolist() == card["elites"] and m.spec.obs_dim == card["obs_dim"]
    eps, _ = data.load(data.default_dataset_id(name, "medium-replay"))
    rows = data.to_transitions(eps)
    idx = np.random.default_rng(0).choice(len(rows.reward), 2000, replace=False)
    t = jax.tree.map(lambda x: jnp.asarray(x)[idx], rows)
    x = m.scaler(jnp.concatenate([t.obs, t.action], -1))
    mean, _ = dynamics.net(m.config, m.spec).apply(m.params, x)
    y = jnp.concatenate([(t.next_obs - t.obs) / m.scaler.std[: m.spec.obs_dim], t.reward[:, None]], -1)
    mse = float(jnp.mean(jnp.square(mean[m.elites] - y)))
    print(f"{name}: MSE {mse:.4f} on 2000 random medium-replay rows; the card's hold-out MSE {card['holdout_mse_elites']}")
    assert mse < 2 * card["holdout_mse_elites"]


def test_termination_guard_and_errors():
    hopper = termination_fn("hopper")
    healthy = jnp.array([1.2, 0.0] + [0.0] * 9)
    assert not bool(hopper(healthy))
    assert bool(hopper(healthy.at[0].set(0.6))) and bool(hopper(healthy.at[1].set(0.25)))
    assert bool(hopper(healthy.at[5].set(120.0)))
    mean, std = jnp.zeros(11), jnp.full(11, 0.5)
    guarded = termination_fn("halfcheetah", guard=(mean, std))
    assert not bool(guarded(jnp.full(11, 14.0)))  # normalised 28 < 30
    assert bool(guarded(jnp.full(11, 15.0)))  # normalised 30
    with pytest.raises(JaxilError, match="no termination rule for env 'cartpole'"):
        termination_fn("cartpole")


TINY = ["--members", "2", "--elites", "1", "--hidden", "8", "--batch-size", "64", "--steps", "4", "--eval-every", "2",
        "--no-progress"]


def test_cli_fits_a_model_evaluates_and_loads_it(tmp_path, capsys):
    """jaxil train dynamics: the dataset's rows plus 10 expert episodes; eval and the
    loader give the hold-out error and the model, refused for another env."""
    import json

    from jaxil import cli
    from jaxil.models import load_dynamics

    out = tmp_path / "dyn"
    assert cli.main(["train", "dynamics", "--env", "pendulum", "--out", str(out), "--seeds", "2", *TINY]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["dataset"] == "jaxil/pendulum/medium-replay-v0" and summary["expert_dataset"] == "jaxil/pendulum/expert-v0"
    assert summary["num_expert_trajs"] == 10 and len(summary["holdout_mse"]["per_seed"]) == 2
    assert all(0 < e <= 4 for e in summary["epochs"])
    assert cli.main(["eval", str(out)]) == 0
    evaluated = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert evaluated["holdout_mse"]["per_seed"] == summary["holdout_mse"]["per_seed"]
    m = load_dynamics(out, env="pendulum", seed=1)
    assert m.elites.shape == (1,) and m.spec.obs_dim == 3
    with pytest.raises(JaxilError, match="models env 'pendulum', not 'hopper'"):
        load_dynamics(out, env="hopper")
    with pytest.raises(JaxilError, match="seed 5 is not among them"):
        load_dynamics(out, seed=5)
    # MOPO from the command line, in that model
    mopo_flags = ["--hidden", "8", "--batch-size", "16", "--real-batch", "8", "--rollout-batch", "16", "--horizon", "2",
                  "--rollout-every", "5", "--model-buffer-size", "64", "--steps", "10", "--eval-every", "5",
                  "--eval-episodes", "2", "--no-progress"]
    assert cli.main(["train", "mopo", "--env", "pendulum", "--out", str(tmp_path / "mopo"), *mopo_flags]) == 1
    assert "jaxil ships none for 'pendulum': pass --model DIR" in capsys.readouterr().err
    # the model exported on its own (weights, scaler, elites and a card) loads as the run's does
    assert cli.main(["export-model", str(out), "--out", str(tmp_path / "model"), "--seed", "1"]) == 0
    card = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert card["env"] == "pendulum" and card["seed"] == 1 and len(card["holdout_mse_per_member"]) == 2
    exported = load_dynamics(tmp_path / "model", env="pendulum")
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), exported.params, m.params))
    np.testing.assert_array_equal(exported.elites, m.elites)
    np.testing.assert_array_equal(exported.scaler.std, m.scaler.std)
    obs, act = jnp.zeros((4, 3)), jnp.zeros((4, 1))
    np.testing.assert_array_equal(jax.jit(dynamics.step)(exported, jax.random.PRNGKey(0), obs, act)[0],
                                  jax.jit(dynamics.step)(m, jax.random.PRNGKey(0), obs, act)[0])
    with pytest.raises(JaxilError, match="models env 'pendulum', not 'hopper'"):
        load_dynamics(tmp_path / "model", env="hopper")
    with pytest.raises(JaxilError, match="holds no dynamics model"):
        load_dynamics(tmp_path)
    (tmp_path / "model" / "model.msgpack").write_bytes(b"not a model")
    with pytest.raises(JaxilError, match="cannot be read as the model its card describes"):
        load_dynamics(tmp_path / "model")
    # MOPO and RAMBO from the command line, in the run's model
    assert cli.main(["train", "mopo", "--env", "pendulum", "--model", str(out), "--out", str(tmp_path / "mopo"),
                     *mopo_flags]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["algo"] == "mopo" and run["steps"] == 10 and run["dataset"] == "jaxil/pendulum/medium-v0"
    assert "normalized_score" in run
    rambo_flags = mopo_flags + ["--model-update-every", "5", "--model-steps", "2", "--adv-batch", "8", "--sl-batch", "8"]
    assert cli.main(["train", "rambo", "--env", "pendulum", "--model", str(out), "--out", str(tmp_path / "rambo"),
                     *rambo_flags]) == 0
    run = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert run["algo"] == "rambo" and run["steps"] == 10 and "normalized_score" in run


@pytest.fixture(scope="module")
def pendulum_medium():
    """Pendulum's medium data (10k rows, average return −924), the expert references, and
    an ensemble fitted to the same rows (5 members of 2×64, 3 elites)."""
    from jaxil.evaluation import Reference

    env = envs.make("pendulum")
    eps, _ = data.load(data.default_dataset_id("pendulum", "medium"), env)
    _, info = data.load(data.default_dataset_id("pendulum"), env)
    rows = data.to_transitions(eps)
    fit = dynamics.Config(members=5, elites=3, hidden=(64, 64), lr=1e-3, steps=60, eval_every=20)
    ts, _ = jax.jit(dynamics.make_train(fit, rows, env.spec))(jax.random.PRNGKey(0))
    return env, rows, np.mean([e.ret for e in eps]), dynamics.model(ts.learner), Reference(info.random_return,
                                                                                           info.expert_return)


# Both solvers: small nets, lr 1e-3, 1000 × 10-step rollouts every 250 updates, 32 data rows
# of 256 per update (with CleanIL's 128 MOPO's critics diverged here and returns fell below
# random, measured; MOPO's paper uses 5%).
MODEL_BASED = dict(hidden=(64, 64), activation="relu", actor_lr=1e-3, critic_lr=1e-3, real_batch=32, rollout_batch=1000,
                   horizon=10, model_buffer_size=50_000)


def test_mopo_beats_the_data_it_learns_from_on_pendulum(pendulum_medium):
    """The three seeds' final returns average above the data's."""
    from jaxil.rl import mopo

    env, rows, data_return, model, ref = pendulum_medium
    cfg = mopo.Config(**MODEL_BASED, steps=6000, eval_every=2000)
    train = mopo.make_train(cfg, rows, model, env, ref)
    _, m = jax.jit(jax.vmap(train))(jax.random.split(jax.random.PRNGKey(1), 3))
    final = np.asarray(m["eval_return"])[:, -1]
    print(f"MOPO final returns {final.round(1)}, the data's {data_return:.1f}")
    assert final.mean() > data_return, f"MOPO {final.round(1)} vs the data's {data_return:.1f}"
    assert np.all(np.asarray(m["updates"])[:, -1] == 6000) and np.all(np.asarray(m["rollout_nonfinite"]) == 0)
    # λ moved towards a mean penalty of 1 (u is small on this model, so λ grew)
    assert np.all(np.diff(np.asarray(m["penalty"]), axis=1) > 0)


def test_rambo_beats_the_data_it_learns_from_on_pendulum(pendulum_medium):
    """The three seeds' final returns average above the data's, after 8k updates with 100
    adversarial model steps every 1000 (RMIRL's schedule; CleanIL's RAMBO takes 1000)."""
    from jaxil.rl import rambo

    env, rows, data_return, model, ref = pendulum_medium
    cfg = rambo.Config(**MODEL_BASED, steps=8000, eval_every=4000, model_steps=100)
    _, m = jax.jit(jax.vmap(rambo.make_train(cfg, rows, model, env, ref)))(jax.random.split(jax.random.PRNGKey(1), 3))
    final = np.asarray(m["eval_return"])[:, -1]
    print(f"RAMBO final returns {final.round(1)}, the data's {data_return:.1f}")
    assert final.mean() > data_return, f"RAMBO {final.round(1)} vs the data's {data_return:.1f}"
    # the model did train: its supervised loss fell, and the adversarial term moved
    sl = np.asarray(m["model_sl_loss"])
    assert np.all(sl[:, -1] < sl[:, 0]) and np.all(np.asarray(m["model_adv_loss"]) != 0)


def test_rambo_advantage_and_elites_only(pendulum_medium):
    from jaxil.rl import rambo

    env, rows, _, model, _ = pendulum_medium
    cfg = rambo.Config(hidden=(8,), adv_batch=6, adv_clip=1.5)
    state = rambo.init(jax.random.PRNGKey(0), cfg, env.spec, model)
    # reduced to the elites, in order, with their own parameters
    assert state.model.config.members == 3 and np.array_equal(state.model.elites, [0, 1, 2])
    leaf = jax.tree.leaves(model.params)[0]
    np.testing.assert_array_equal(jax.tree.leaves(state.model.params)[0], leaf[np.asarray(model.elites)])
    t = jax.tree.map(lambda x: jnp.asarray(x[:6]), rows)
    t = t.replace(terminated=jnp.array([0, 1, 0, 0, 0, 0], bool))
    learner = state.learner
    q = lambda o, a: np.min(np.asarray(rambo.sac.q_values(learner, learner.critic_params, o, a)), 0)  # noqa: E731
    a_next = rambo.sac.policy(learner, t.next_obs).mode()
    adv = np.asarray(t.reward) + 0.99 * (1 - np.asarray(t.terminated)) * q(t.next_obs, a_next) - q(t.obs, t.action)
    expected = np.clip((adv - adv.mean()) / (adv.std() + 1e-6), -1.5, 1.5)
    np.testing.assert_allclose(rambo.normalised_advantage(state, t), expected, rtol=1e-4, atol=1e-5)


# --------------------------------------------------------------------------------------
# MBPO: the model refitted inside the loop, and what it buys


def test_mbpo_pieces_horizon_rows_and_refit():
    from jaxil.data import replay
    from jaxil.rl import mbpo

    # h = 1 + ⌊clip((t − 100)/(300 − 100), 0, 1)·(5 − 1)⌋
    cfg = mbpo.Config(min_horizon=1, max_horizon=5, horizon_from=100, horizon_to=300, warmup_steps=500)
    hs = [int(mbpo.horizon(cfg, jnp.asarray(t))) for t in (0, 100, 149, 150, 250, 299, 300, 10_000)]
    assert hs == [1, 1, 1, 2, 4, 4, 5, 5]

    # up to `rows` distinct valid rows of the buffer, in random order, without replacement
    buf = replay.init(10, jax.tree.map(lambda x: x[0], linear_gaussian(1, 0)))
    buf = replay.add(buf, linear_gaussian(7, 0))
    rows, count = mbpo.shuffled_rows(jax.random.PRNGKey(0), buf, 5)
    valid = np.asarray(replay.contents(buf).obs)
    assert int(count) == 5 and len({tuple(r) for r in np.asarray(rows.obs)}) == 5
    assert all(any(np.array_equal(r, v) for v in valid) for r in np.asarray(rows.obs))
    rows, count = mbpo.shuffled_rows(jax.random.PRNGKey(0), buf, 20)
    assert rows.obs.shape == (10, 2) and int(count) == 7
    assert sorted(map(tuple, np.asarray(rows.obs)[:7])) == sorted(map(tuple, valid))

    # refit reads the first `count` rows only: garbage after them changes nothing it learns
    good, junk = linear_gaussian(3000, 0), linear_gaussian(1000, 1)
    junk = junk.replace(next_obs=junk.next_obs + 1e4, reward=junk.reward - 1e4, obs=junk.obs * 1e3)
    rows = jax.tree.map(lambda a, b: jnp.concatenate([a, b]), good, junk)
    cfg = dynamics.Config(members=3, elites=2, hidden=(32, 32), min_std=0.01, lr=1e-3, batch_size=128, steps=40,
                          patience=5, weight_decay=(0.0,) * 3)
    state = dynamics.init(jax.random.PRNGKey(0), cfg, LINEAR, dynamics.Scaler(jnp.zeros(3), jnp.ones(3)))
    state, fit = jax.jit(dynamics.refit)(state, jax.random.PRNGKey(1), rows, jnp.asarray(3000))
    # scaler from the 2400 training rows (the first 600 held out)
    train_in = np.concatenate([np.asarray(good.obs), np.asarray(good.action)], 1)[600:]
    np.testing.assert_allclose(state.scaler.mean, train_in.mean(0), atol=1e-5)
    np.testing.assert_allclose(state.scaler.std, train_in.std(0), rtol=1e-4)
    assert 0 < int(fit["model_epochs"]) <= 40 and float(fit["holdout_mse"]) < 0.1
    m = dynamics.model(state)
    test = linear_gaussian(1000, 2)
    next_obs, _ = dynamics.step(m, jax.random.PRNGKey(3), test.obs, test.action)
    true_next = np.asarray(test.obs) @ A.T + np.asarray(test.action) @ B.T
    assert np.abs(np.asarray(next_obs) - true_next).std() < 0.3  # noise std 0.05–0.2 plus the fit's error


def test_mbpo_learns_pendulum_in_fewer_env_steps_than_sac():
    """MBPO's reason to exist: every seed scores ≥ 85 normalized within 1500 env steps,
    where SAC with the same networks, settings and seeds stays below 85 throughout.
    Measured: MBPO first reaches 85 at 1250, 1000 and 1500 steps; SAC with these settings
    at 2750 and 3750 (two seeds, 6000 steps)."""
    from jaxil.evaluation import Reference
    from jaxil.rl import mbpo, sac

    env = envs.make("pendulum")
    _, info = data.load(data.default_dataset_id("pendulum"), env)
    ref = Reference(info.random_return, info.expert_return)
    # CleanIL's Huber critics (with the MSE loss MBPO's high update rate learns much slower here)
    shared = dict(hidden=(64, 64), activation="relu", actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3, init_alpha=0.2,
                  critic_loss="huber", warmup_steps=500, buffer_size=10_000, steps=1500, eval_every=250,
                  eval_episodes=10)
    # a small ensemble, 2000 rollouts of 5 steps every 250 env steps, 10 updates per env step
    cfg = mbpo.Config(**shared, model_members=5, model_elites=3, model_hidden=(64, 64), model_lr=1e-3,
                      model_epochs=50, rollout_batch=2000, min_horizon=5, max_horizon=5, model_buffer_size=30_000)
    keys = jax.random.split(jax.random.PRNGKey(1), 3)

    def seeds(train):  # one after the other: on 2 CPU cores a vmap over seeds is slower
        runs = [train(k)[1] for k in keys]
        return {k: np.stack([np.asarray(r[k]) for r in runs]) for k in runs[0]}

    m, s = seeds(jax.jit(mbpo.make_train(cfg, env, ref))), seeds(jax.jit(sac.make_train(sac.Config(**shared), env, ref)))
    mbpo_scores, sac_scores = np.asarray(m["normalized_score"]), np.asarray(s["normalized_score"])
    print(f"every 250 env steps: MBPO {mbpo_scores.round(1)}, SAC {sac_scores.round(1)}")
    assert np.all(m["env_steps"][:, -1] == 1500) and np.all(s["env_steps"][:, -1] == 1500)
    assert np.all(mbpo_scores.max(1) >= 85) and np.all(sac_scores.max(1) < 85), (mbpo_scores, sac_scores)
    assert np.all(m["rollout_nonfinite"] == 0) and np.all(m["horizon"] == 5)


def test_model_based_runs_stop_when_rollouts_diverge(tmp_path):
    from jaxil import driver
    from jaxil.loop import Train

    assert model_rollouts.nonfinite_problem({"rollout_nonfinite": np.array([0.0, 0.005])}) is None
    # a model whose predictions turn non-finite on 3% of the rows in chunk 2
    train = Train(init=lambda key: {"w": jnp.ones(())},
                  step=lambda s: (s, {"rollout_nonfinite": jnp.where(s["w"] > 0, 0.03, 0.0)}),
                  evaluate=lambda s, key: {}, num_chunks=3, steps_per_chunk=1, problem=model_rollouts.nonfinite_problem)
    with pytest.raises(driver.DivergedError, match="chunk 1.*non-finite states for 3.0% of the imagined rows.*Refit"):
        driver.run(train, [0], tmp_path, progress=False)
    assert driver.checkpoint_steps(tmp_path) == []
