"""Tabular MDPs, their exact solvers and MCE IRL: answers checked by hand, by brute force,
against the env's own rollouts, and imitation's properties (its test_mce_irl.py)."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp

from jaxil.envs import make
from jaxil.envs.rollout import first_episode_mask, rollout
from jaxil.envs.tabular import TabularEnv, TabularMDP, check_mdp, cliffworld, random_mdp, tabular_mdp
from jaxil.errors import JaxilError
from jaxil.il import mce_irl
from jaxil.rl import tabular
from jaxil.types import Transition

E = np.e


def host(*arrays):
    """float64 results as numpy arrays, taken inside ``jax.enable_x64`` (jnp ops outside it
    would round them to float32)."""
    return [np.asarray(x) for x in arrays]


def two_state_mdp() -> TabularMDP:
    """Action a moves to state a surely; R = [0, 1]; start in state 0; two steps."""
    t = np.zeros((2, 2, 2))
    t[:, 0, 0] = t[:, 1, 1] = 1.0
    return tabular_mdp(t, np.eye(2), [0.0, 1.0], [1.0, 0.0], horizon=2)


def test_soft_value_iteration_by_hand():
    with jax.enable_x64(True):
        mdp = two_state_mdp()
        v, q, pi = tabular.soft_value_iteration(mdp)
        d, dcum = tabular.state_occupancy(mdp, pi)
        ret = tabular.expected_return(mdp, pi)
        v, q, pi, d, dcum, ret = host(v, q, pi, d, dcum, ret)
    # Last step: Q = R whatever the action; one step earlier, action 1 earns V[1, 1] − V[1, 0] = 1 more.
    np.testing.assert_allclose(q[1], [[0, 0], [1, 1]], atol=1e-14)
    np.testing.assert_allclose(v[1], [np.log(2), 1 + np.log(2)], atol=1e-14)
    np.testing.assert_allclose(q[0], [[np.log(2), 1 + np.log(2)], [1 + np.log(2), 2 + np.log(2)]], atol=1e-14)
    np.testing.assert_allclose(v[0], [np.log(2) + np.log(1 + E), 1 + np.log(2) + np.log(1 + E)], atol=1e-14)
    np.testing.assert_allclose(pi[0], [[1 / (1 + E), E / (1 + E)]] * 2, atol=1e-14)
    np.testing.assert_allclose(pi[1], 0.5, atol=1e-14)
    np.testing.assert_allclose(d, [[1, 0], [1 / (1 + E), E / (1 + E)], [0.5, 0.5]], atol=1e-14)
    np.testing.assert_allclose(dcum, d.sum(0), atol=1e-14)
    np.testing.assert_allclose(ret, E / (1 + E), atol=1e-14)  # R(s_0) = 0, then E[R(s_1)]


def tiny_mdp(seed: int, deterministic: bool = False, reward_per_action: bool = False) -> TabularMDP:
    rng = np.random.default_rng(seed)
    s, a, h = 3, 2, 4
    if deterministic:
        t = np.eye(s)[rng.integers(0, s, (s, a))]
    else:
        t = rng.dirichlet(np.ones(s), (s, a))
    r = rng.normal(size=(s, a) if reward_per_action else s)
    return tabular_mdp(t, np.eye(s), r, rng.dirichlet(np.ones(s)), h)


def brute_soft_value(mdp: TabularMDP, t: int, s: int, gamma: float) -> float:
    """V(t, s) straight from the definition, recursing through every branch (no sharing)."""
    r = np.asarray(mdp.state_action_reward())
    q = [r[s, a] + (0.0 if t == mdp.horizon - 1 else gamma * sum(
        mdp.transition[s, a, x] * brute_soft_value(mdp, t + 1, x, gamma) for x in range(mdp.num_states)))
        for a in range(mdp.num_actions)]
    return float(logsumexp(q))


@pytest.mark.parametrize("reward_per_action", [False, True])
def test_soft_value_iteration_matches_brute_force(reward_per_action):
    with jax.enable_x64(True):
        # Deterministic dynamics: V[0, s] is the log-partition function over all A^H action sequences.
        mdp = tiny_mdp(0, deterministic=True, reward_per_action=reward_per_action)
        v, = host(tabular.soft_value_iteration(mdp)[0])
        t, r = np.asarray(mdp.transition), np.asarray(mdp.state_action_reward())
        for s0 in range(mdp.num_states):
            totals = []
            for actions in itertools.product(range(mdp.num_actions), repeat=mdp.horizon):
                s, total = s0, 0.0
                for a in actions:
                    total += r[s, a]
                    s = int(np.argmax(t[s, a]))
                totals.append(total)
            np.testing.assert_allclose(v[0, s0], logsumexp(totals), rtol=1e-12)
        # Stochastic dynamics and a discount: the recursion from the definition.
        mdp = tiny_mdp(1, reward_per_action=reward_per_action)
        v, _, pi = host(*tabular.soft_value_iteration(mdp, discount=0.9))
        for s0 in range(mdp.num_states):
            np.testing.assert_allclose(v[0, s0], brute_soft_value(mdp, 0, s0, 0.9), rtol=1e-12)
        np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-12)


def enumerate_paths(mdp: TabularMDP, pi: np.ndarray):
    """Every (states, actions, probability) of an episode under π, by enumeration."""
    t, p0 = np.asarray(mdp.transition), np.asarray(mdp.initial)
    s_n, a_n = mdp.num_states, mdp.num_actions
    for states in itertools.product(range(s_n), repeat=mdp.horizon + 1):
        for actions in itertools.product(range(a_n), repeat=mdp.horizon):
            p = p0[states[0]]
            for k, a in enumerate(actions):
                p *= pi[k, states[k], a] * t[states[k], a, states[k + 1]]
            if p > 0:
                yield states, actions, p


def test_occupancy_and_optimal_values_match_enumeration():
    with jax.enable_x64(True):
        mdp = tiny_mdp(2, reward_per_action=True)
        mdp = mdp.replace(transition=mdp.transition[:2, :, :2] / mdp.transition[:2, :, :2].sum(-1, keepdims=True),
                          observation=jnp.eye(2), reward=mdp.reward[:2], initial=jnp.array([0.3, 0.7]))
        mdp = TabularMDP(mdp.transition, mdp.observation, mdp.reward, mdp.initial, horizon=3)
        check_mdp(mdp)
        _, _, pi = tabular.soft_value_iteration(mdp, discount=0.8)
        d, dcum = tabular.state_occupancy(mdp, pi, discount=0.8)
        ret = tabular.expected_return(mdp, pi)
        v_star, _, greedy = tabular.value_iteration(mdp)
        best = tabular.expected_return(mdp, greedy)
        pi, d, dcum, ret, v_star, best, r, p0 = host(pi, d, dcum, ret, v_star, best, mdp.reward, mdp.initial)
    d_brute, ret_brute = np.zeros((4, 2)), 0.0
    for states, actions, p in enumerate_paths(mdp, pi):
        for k, s in enumerate(states):
            d_brute[k, s] += p
        ret_brute += p * sum(r[s, a] for s, a in zip(states, actions))
    np.testing.assert_allclose(d, d_brute, atol=1e-12)
    np.testing.assert_allclose(dcum, (0.8 ** np.arange(4)) @ d_brute, atol=1e-12)
    np.testing.assert_allclose(ret, ret_brute, atol=1e-12)
    # Hard value iteration: the best of all A^(S·H) deterministic time-varying policies.
    returns = []
    for choice in itertools.product(range(2), repeat=2 * 3):
        det = np.eye(2)[np.array(choice).reshape(3, 2)]
        with jax.enable_x64(True):
            returns.append(float(tabular.expected_return(mdp, jnp.asarray(det))))
    np.testing.assert_allclose(best, max(returns), atol=1e-12)
    np.testing.assert_allclose(p0 @ v_star[0], max(returns), atol=1e-12)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 0.9, 0.99, 1.0])
def test_policy_and_occupancy_are_normalised(gamma):
    # seals/Random-v0's sizes: 16 states, 3 actions, horizon 20, 5-d random observations.
    with jax.enable_x64(True):
        mdp = random_mdp(jax.random.PRNGKey(3), 16, 3, 2, 20, random_obs=True, obs_dim=5)
        v, q, pi = tabular.soft_value_iteration(mdp, discount=gamma)
        d, dcum = tabular.occupancy_measures(mdp, discount=gamma)
        v, q, pi, d, dcum = host(v, q, pi, d, dcum)
    assert v.shape == (20, 16) and q.shape == pi.shape == (20, 16, 3) and d.shape == (21, 16)
    assert np.all(np.isfinite(v)) and np.all(np.isfinite(q)) and np.all(pi >= 0)
    np.testing.assert_allclose(pi.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(d.sum(-1), 1.0, atol=1e-12)
    expected = 21 if gamma == 1 else (1 - gamma**21) / (1 - gamma)
    np.testing.assert_allclose(dcum.sum(), expected, rtol=1e-12)


def reasonable_mdp() -> TabularMDP:
    """imitation's ReasonablePOMDP: from state 0, actions 0 and 2 lead to the good states 1
    and 2, action 1 to the bad state 3 (R = −20); from 1 and 2, action 2 surely reaches the
    best state 4, action 0 almost surely, action 1 falls to 3; then 3 → 4 → 0."""
    t = np.zeros((5, 3, 5))
    t[0, 0, [1, 2]] = [0.9, 0.1]
    t[0, 2, [1, 2]] = [0.1, 0.9]
    t[0, 1, 3] = 1.0
    for s in (1, 2):
        t[s, 2, 4] = 1.0
        t[s, 0, [4, 3]] = [0.95, 0.05]
        t[s, 1, 3] = 1.0
    t[3, :, 4] = t[4, :, 0] = 1.0
    obs = np.array([[3, -1, 0, 2, 1, 0, -2, 1], [1, 4, -1, 0, 0, 2, 1, -3], [0, 2, 3, -1, 1, 1, 0, 2],
                    [-2, 0, 1, 1, 3, -1, 2, 0], [1, 1, 1, -2, 0, 3, -1, 1]], float)
    return tabular_mdp(t, obs, [1.0, 2.0, 2.0, -20.0, 3.0], [0.5, 0, 0, 0, 0.5], horizon=20)


@pytest.mark.parametrize("gamma", [0.0, 0.99, 1.0])
def test_soft_optimal_policy_is_reasonable(gamma):
    with jax.enable_x64(True):
        mdp = reasonable_mdp()
        _, _, pi = tabular.soft_value_iteration(mdp, discount=gamma)
        d, _ = tabular.occupancy_measures(mdp, discount=gamma)
        pi, d, p0 = host(pi, d, mdp.initial)
    np.testing.assert_allclose(pi[:19, 0, 0], pi[:19, 0, 2])  # symmetric routes to the good states
    if gamma > 0:
        assert np.all(pi[:19, 0, 0] > 2 * pi[:19, 0, 1])  # avoids the bad state
        assert np.all(pi[:19, 1, 2] > pi[:19, 1, 0]) and np.all(pi[:19, 1, 0] > pi[:19, 1, 1])
    np.testing.assert_allclose(pi[:5, 3:5], 1 / 3)  # no choice matters there: uniform
    np.testing.assert_allclose(pi[:19, 1], pi[:19, 2])
    np.testing.assert_allclose(d[0], p0)


def test_random_mdp_is_seals_shaped_and_reproducible():
    for n, a, b, h in [(12, 2, 3, 5), (16, 3, 2, 10), (20, 4, 5, 15)]:
        key = jax.random.PRNGKey(n)
        mdp = random_mdp(key, n, a, b, h)
        check_mdp(mdp)
        assert mdp.transition.shape == (n, a, n) and mdp.observation.shape == (n, n) and mdp.horizon == h
        assert int(np.sum(np.asarray(mdp.initial) > 0)) == b
        assert np.all(np.sum(np.asarray(mdp.transition) > 0, -1) <= b)
        np.testing.assert_allclose(mdp.reward, mdp.observation @ np.linalg.lstsq(mdp.observation, mdp.reward)[0],
                                   atol=1e-5)
        same = random_mdp(key, n, a, b, h)
        assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(mdp), jax.tree.leaves(same)))
        other = random_mdp(jax.random.PRNGKey(n + 1), n, a, b, h)
        assert not np.array_equal(mdp.transition, other.transition)
    batch = jax.vmap(lambda k: random_mdp(k, 5, 3, 2, 10))(jax.random.split(jax.random.PRNGKey(0), 4))
    assert batch.transition.shape == (4, 5, 3, 5)
    np.testing.assert_array_equal(batch.transition[1], random_mdp(jax.random.split(jax.random.PRNGKey(0), 4)[1],
                                                                  5, 3, 2, 10).transition)


def test_cliffworld_layout():
    mdp = cliffworld()  # 4 × 7, row 0 on top: start, cliff ×5, goal
    assert mdp.transition.shape == (28, 4, 28)
    np.testing.assert_array_equal(mdp.reward[:7], [-1, -10, -10, -10, -10, -10, 10])
    assert np.all(np.asarray(mdp.reward[7:]) == -1)
    np.testing.assert_allclose(mdp.observation[2 * 7 + 3], [3 / 6, 2 / 3])
    t = np.asarray(mdp.transition)
    # From (2, 3), action 3 = (drow +1, dcol +1) reaches (3, 4) w.p. 0.7; the wind sets it on (2, 4) w.p. 0.3.
    assert t[2 * 7 + 3, 3, 3 * 7 + 4] == pytest.approx(0.7) and t[2 * 7 + 3, 3, 2 * 7 + 4] == pytest.approx(0.3)
    # From (1, 3), action 0 = (−1, −1) reaches (0, 2) w.p. 0.7 and is clamped there w.p. 0.3 too.
    assert t[1 * 7 + 3, 0, 0 * 7 + 2] == pytest.approx(1.0)


def test_env_rollouts_follow_the_exact_occupancy():
    env = make("random-mdp")
    mdp = env.mdp
    pi = jax.random.dirichlet(jax.random.PRNGKey(1), jnp.ones(3), (16,))  # a stationary policy
    act = lambda obs, k: jax.random.categorical(k, jnp.log(pi[mce_irl.state_index(mdp, obs)]))  # noqa: E731
    traj = rollout(env, act, jax.random.PRNGKey(2), 4000, mdp.horizon)
    assert bool(jnp.all(first_episode_mask(traj))) and bool(jnp.all(traj.truncated[-1]))
    assert not bool(jnp.any(traj.truncated[:-1])) and not bool(jnp.any(traj.terminated))
    visits = jnp.mean(jax.nn.one_hot(mce_irl.state_index(mdp, traj.obs), 16), axis=1)  # (H, S)
    d, _ = tabular.state_occupancy(mdp, jnp.broadcast_to(pi, (mdp.horizon, 16, 3)))
    assert float(jnp.max(jnp.abs(visits - d[:-1]))) < 0.03
    returns = jnp.sum(traj.reward, 0)
    exact = tabular.expected_return(mdp, jnp.broadcast_to(pi, (mdp.horizon, 16, 3)))
    assert abs(float(jnp.mean(returns) - exact)) < 4 * float(jnp.std(returns)) / np.sqrt(4000)


def test_bad_mdps_are_refused():
    t = np.full((2, 2, 2), 0.5)
    with pytest.raises(JaxilError, match="sum to 1"):
        tabular_mdp(t * 0.9, np.eye(2), [0, 1], [1, 0], 3)
    with pytest.raises(JaxilError, match="negative"):
        tabular_mdp(np.stack([t[:, :, 0] * 3, -t[:, :, 1] * 1], -1), np.eye(2), [0, 1], [1, 0], 3)
    with pytest.raises(JaxilError, match="finite horizon"):
        tabular_mdp(t, np.eye(2), [0, 1], [1, 0], None)
    with pytest.raises(JaxilError, match="finite horizon"):
        tabular_mdp(t, np.eye(2), [0, 1], [1, 0], 0)
    with pytest.raises(JaxilError, match="one row per state"):
        tabular_mdp(t, np.eye(3), [0, 1], [1, 0], 3)
    with pytest.raises(JaxilError, match="NaN"):
        tabular_mdp(t, np.eye(2), [0, np.nan], [1, 0], 3)
    with pytest.raises(JaxilError, match="unknown env"):
        make("cliff-world")
    with pytest.raises(JaxilError, match="outside"):
        mce_irl.occupancy_from_trajectories(jnp.array([[0, 1, 2, 5]]), 3)
    mdp = two_state_mdp()
    wrong = Transition(jnp.array([[0.5, 0.5]]), jnp.zeros(1, jnp.int32), jnp.zeros(1), jnp.array([[1.0, 0.0]]),
                       jnp.zeros(1, bool), jnp.ones(1, bool))
    with pytest.raises(JaxilError, match="match no state"):
        mce_irl.occupancy_from_transitions(mdp, wrong)
    with pytest.raises(JaxilError, match="sums to"):
        mce_irl.make_train(mce_irl.Config(steps=2, eval_every=1), mdp, jnp.array([1.0, 1.0]))


# --------------------------------------------------------------------------------------
# MCE IRL


def expert(mdp: TabularMDP):
    """The soft-optimal demonstrator for the true reward, its occupancy and the references."""
    _, _, pi = tabular.soft_value_iteration(mdp)
    return pi, tabular.state_occupancy(mdp, pi)[1], mce_irl.exact_reference(mdp, pi)


def test_demonstration_formats_agree():
    mdp = random_mdp(jax.random.PRNGKey(42), 5, 3, 2, 10)
    pi, _, _ = expert(mdp)
    states, actions = tabular.sample_trajectories(mdp, pi, jax.random.PRNGKey(0), 12)
    from_trajs = mce_irl.occupancy_from_trajectories(states, 5)
    obs = mdp.observation[states]
    done = jnp.zeros(actions.shape, bool).at[:, -1].set(True)
    flat = lambda x: x.reshape((-1,) + x.shape[2:])  # noqa: E731
    rows = Transition(flat(obs[:, :-1]), flat(actions), jnp.zeros(actions.size), flat(obs[:, 1:]),
                      jnp.zeros(actions.size, bool), flat(done))
    from_rows = mce_irl.occupancy_from_transitions(mdp, rows)
    np.testing.assert_allclose(from_trajs.sum(), 11, rtol=1e-6)
    np.testing.assert_allclose(from_rows, from_trajs, atol=1e-5)
    np.testing.assert_allclose(mce_irl.occupancy_from_trajectories(states, 5, 0.5).sum(), (1 - 0.5**11) / 0.5,
                               rtol=1e-6)


def test_loss_gradient_is_feature_expectation_matching():
    mdp = random_mdp(jax.random.PRNGKey(5), 6, 2, 2, 5, random_obs=True, obs_dim=3)
    _, demo, _ = expert(mdp)
    state = mce_irl.init(jax.random.PRNGKey(0), mce_irl.Config(reward_hidden=()), TabularEnv(mdp).spec, mdp)
    new, metrics = mce_irl.update(state, demo)
    _, d_pi = tabular.occupancy_measures(mdp, mce_irl.reward_of_states(state))
    grad = jax.grad(lambda p: mce_irl.occupancy_matching_loss(mce_irl.reward_of_states(state, p), d_pi, demo))(
        state.params)["params"]["MLP_0"]["Dense_0"]
    np.testing.assert_allclose(grad["kernel"][:, 0], (d_pi - demo) @ mdp.observation, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad["bias"][0], jnp.sum(d_pi - demo), atol=1e-5)
    np.testing.assert_allclose(metrics["linf"], jnp.max(jnp.abs(d_pi - demo)), rtol=1e-6)
    assert int(new.step) == 1


@pytest.mark.parametrize("env, steps", [("random-mdp", 400), ("cliffworld", 4000)])
def test_mce_irl_recovers_the_demonstrator(env, steps):
    mdp = make(env).mdp
    pi_e, demo, ref = expert(mdp)
    cfg = mce_irl.Config(reward_hidden=(256,), steps=steps, eval_every=steps // 4)
    state, metrics = jax.jit(mce_irl.make_train(cfg, mdp, demo, ref))(jax.random.PRNGKey(0))
    assert bool(state.converged), f"linf {metrics['linf'][-1]} after {int(state.step)} iterations"
    _, d_learned = tabular.occupancy_measures(mdp, mce_irl.reward_of_states(state))
    assert float(jnp.max(jnp.abs(d_learned - demo))) <= 1e-3
    ret = tabular.expected_return(mdp, mce_irl.soft_optimal_policy(state))
    assert abs(float(ret) - ref.expert_return) <= 0.01 * abs(ref.expert_return)
    assert float(metrics["normalized_score"][-1]) == pytest.approx(100.0, abs=2.0)


def test_mce_irl_seeds_and_mdps_vmap_like_lone_runs():
    cfg = mce_irl.Config(reward_hidden=(8,), steps=20, eval_every=10)
    mdps = jax.vmap(lambda k: random_mdp(k, 6, 3, 2, 8, random_obs=True, obs_dim=4))(
        jax.random.split(jax.random.PRNGKey(7), 3))
    demos = jax.vmap(lambda m: expert_occupancy(m))(mdps)
    run = lambda m, d, k: mce_irl.make_train(cfg, m, d)(k)  # noqa: E731
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    batched = jax.jit(jax.vmap(run))(mdps, demos, keys)
    # Runs agree to float rounding (batched matmuls round differently), up to the reward's
    # constant offset: its gradient Σ_s (D_θ − D_E)(s) is zero exactly (both occupancies sum
    # to H + 1), so Adam turns the rounding in it into drift of the output bias, which moves
    # no policy or occupancy.
    centred = lambda state: (lambda r: r - jnp.mean(r))(mce_irl.reward_of_states(state))  # noqa: E731
    for i in range(3):
        mdp_i = jax.tree.map(lambda x: x[i], mdps)
        state, metrics = jax.jit(run)(mdp_i, demos[i], keys[i])
        lone_state = jax.tree.map(lambda x: x[i], batched[0])
        np.testing.assert_allclose(centred(lone_state), centred(state), rtol=1e-4, atol=1e-5)
        for k in ("linf", "grad_norm", "eval_return"):
            np.testing.assert_allclose(batched[1][k][i], metrics[k], rtol=1e-4, atol=1e-5)
    state, metrics = jax.jit(run)(mdp_i, demos[2], keys[2])  # and the same seed twice: bit for bit
    again = jax.jit(run)(mdp_i, demos[2], keys[2])
    assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves((state, metrics)), jax.tree.leaves(again)))


def expert_occupancy(mdp: TabularMDP) -> jax.Array:
    return tabular.occupancy_measures(mdp)[1]


def test_mce_irl_policy_and_reward_contract():
    mdp = cliffworld()
    state = mce_irl.init(jax.random.PRNGKey(0), mce_irl.Config(reward_hidden=(4,)), TabularEnv(mdp).spec, mdp)
    dist = mce_irl.policy(state, mdp.observation[jnp.array([0, 9, 27])], t=3)
    np.testing.assert_allclose(dist.probs, mce_irl.soft_optimal_policy(state)[3, jnp.array([0, 9, 27])], rtol=1e-6)
    r = mce_irl.learned_reward(state)(mdp.observation, None, None, None)
    np.testing.assert_allclose(r, mce_irl.reward_of_states(state))


def test_mce_irl_from_the_command_line(tmp_path, capsys):
    import json

    from jaxil import cli

    out = tmp_path / "run"
    assert cli.main(["train", "mce-irl", "--env", "random-mdp", "--seeds", "2", "--steps", "200", "--eval-every", "100",
                     "--out", str(out), "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["seeds"] == [0, 1] and min(summary["normalized_score"]["per_seed"]) > 95
    assert json.loads((out / "config.json").read_text())["demonstrations"] == "exact occupancy"
    assert cli.main(["reward-transfer", str(out)]) == 0  # exact: value iteration on the learned reward
    transfer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert transfer["solver"] == "value iteration (exact)" and min(transfer["normalized_score"]["per_seed"]) > 95
    assert cli.main(["reward-eval", str(out)]) == 0  # EPIC to the true reward, exactly
    epic = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["reward_eval"]["epic"]
    assert max(epic["per_seed"]) < 0.1
    assert (out / "reward.png").is_file()
    assert json.loads((out / "summary.json").read_text())["reward_eval"]["epic"] == epic
    assert cli.main(["train", "mce-irl", "--env", "cartpole", "--steps", "2", "--eval-every", "1",
                     "--out", str(tmp_path / "bad")]) == 1
    assert "must be one of cliffworld, random-mdp" in capsys.readouterr().err


def test_bc_learns_a_tabular_expert_through_the_env_adapter():
    """The env adapter makes a tabular MDP an env like any other: expert episodes collected
    from it feed BC unchanged, and BC's evaluation (sampled episodes) matches the exact return."""
    from jaxil import data
    from jaxil.data.episodes import collect_episodes
    from jaxil.evaluation import Reference
    from jaxil.il import bc

    env = make("cliffworld")
    mdp = env.mdp
    _, _, greedy = tabular.value_iteration(mdp)
    stationary = jnp.broadcast_to(greedy[0], greedy.shape)  # one action per state, as BC's policy is
    act = lambda obs, k: jnp.argmax(stationary[0, mce_irl.state_index(mdp, obs)])  # noqa: E731
    episodes = collect_episodes(env, act, jax.random.PRNGKey(0), 400)
    expert_return = float(tabular.expected_return(mdp, stationary))
    returns = np.array([e.ret for e in episodes])
    assert abs(returns.mean() - expert_return) < 4 * returns.std() / np.sqrt(len(returns))
    ref = Reference(float(tabular.expected_return(mdp, tabular.uniform_policy(mdp))), expert_return)
    cfg = bc.Config(hidden=(32, 32), steps=600, eval_every=300, eval_episodes=200, batch_size=64)
    train = bc.make_train(cfg, data.expert_data(episodes[:30]), env, ref)
    _, metrics = jax.jit(train)(jax.random.PRNGKey(0))
    assert float(metrics["normalized_score"][-1]) >= 90


def test_imitations_undiscounted_policy_quirk_is_behind_a_flag():
    with jax.enable_x64(True):
        mdp = reasonable_mdp()
        _, quirk = tabular.occupancy_measures(mdp, discount=0.9, undiscounted_policy=True)
        _, plain = tabular.occupancy_measures(mdp, discount=0.9)
        _, _, pi_one = tabular.soft_value_iteration(mdp, discount=1.0)
        _, by_hand = tabular.state_occupancy(mdp, pi_one, 0.9)
        quirk, plain, by_hand = host(quirk, plain, by_hand)
    np.testing.assert_allclose(quirk, by_hand, atol=1e-12)  # the γ = 1 policy, discounted occupancy
    assert np.max(np.abs(quirk - plain)) > 1e-3  # which is not the γ = 0.9 policy's
