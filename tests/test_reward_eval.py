"""EPIC: its invariances, a hand-computed case, and the sampled estimate against the exact one."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxil import JaxilError
from jaxil.envs.tabular import random_mdp
from jaxil.reward_eval import epic_sampled, epic_tabular, transition_coverage
from jaxil.types import Transition

S, A, GAMMA = 6, 3, 0.9


def uniform(n: int) -> jax.Array:
    return jnp.full(n, 1.0 / n)


@pytest.fixture(scope="module")
def mdp():
    return random_mdp(jax.random.PRNGKey(0), S, A, branch_factor=3, horizon=10)


def test_epic_ignores_shaping_scale_and_shift_and_sees_negation(mdp):
    k_r, k_phi, k_cov = jax.random.split(jax.random.PRNGKey(1), 3)
    r = jax.random.normal(k_r, (S, A, S))
    phi = jax.random.normal(k_phi, (S,))
    shaped = 2.5 * r + GAMMA * phi[None, None, :] - phi[:, None, None] + 7.0
    d_s, d_a = jax.random.dirichlet(k_cov, jnp.ones(S)), uniform(A)
    coverage = transition_coverage(mdp.transition, d_s, d_a)
    assert float(epic_tabular(r, shaped, coverage, d_s, d_a, GAMMA)) < 1e-3  # float32: √ of ~1e-7
    np.testing.assert_allclose(epic_tabular(r, -r, coverage, d_s, d_a, GAMMA), 1.0, atol=1e-6)
    # state rewards R[S] and R[S, A] broadcast over what they do not depend on
    np.testing.assert_allclose(epic_tabular(r[:, :, 0], r[:, :, 0][:, :, None] + 0 * r, coverage, d_s, d_a, GAMMA),
                               0.0, atol=1e-3)
    with pytest.raises(JaxilError, match="weighs every"):
        epic_tabular(r, r, coverage[:, :, :2], d_s, d_a, GAMMA)


def test_epic_of_a_two_state_example_by_hand():
    """Two states, one action, γ = ½, D_S uniform, every (s, s′) covered equally. Arriving in
    state 1 (R_B = [s′ = 1]) and leaving it (R_A = [s = 1]) differ by shaping: distance 0.
    R_C = [s = 0, s′ = 1]: C(R_C) = (−3/8, 3/8, 1/8, −1/8) and C(R_B) = (−½, ½, −½, ½) over
    (s, s′) = 00, 01, 10, 11, so ρ = 1/√5 and the distance is √((1 − 1/√5)/2)."""
    r_a = jnp.array([[0.0, 0.0], [1.0, 1.0]])[:, None, :]
    r_b = jnp.array([[0.0, 1.0], [0.0, 1.0]])[:, None, :]
    r_c = jnp.array([[0.0, 1.0], [0.0, 0.0]])[:, None, :]
    d_s, d_a, coverage = uniform(2), jnp.ones(1), jnp.full((2, 1, 2), 0.25)
    np.testing.assert_allclose(epic_tabular(r_a, r_b, coverage, d_s, d_a, 0.5), 0.0, atol=1e-3)
    np.testing.assert_allclose(epic_tabular(r_b, r_c, coverage, d_s, d_a, 0.5), np.sqrt((1 - 1 / np.sqrt(5)) / 2),
                               rtol=1e-6)


def test_sampled_epic_converges_to_the_exact_value(mdp):
    """One-hot observations, rewards looked up by state: the sample-mean EPIC approaches the
    exact sum as the coverage and canonicalization samples grow."""
    k_a, k_b = jax.random.split(jax.random.PRNGKey(2))
    r_a, r_b = jax.random.normal(k_a, (S, A, S)), jax.random.normal(k_b, (S, A, S))
    r_b = 0.5 * r_a + r_b  # correlated, so the distance is neither 0 nor 1
    d_s, d_a = uniform(S), uniform(A)
    coverage = transition_coverage(mdp.transition, d_s, d_a)
    exact = float(epic_tabular(r_a, r_b, coverage, d_s, d_a, GAMMA))
    lookup = lambda r: (lambda o, a, o2, d: r[jnp.argmax(o, -1), a, jnp.argmax(o2, -1)])  # noqa: E731

    def estimate(key, n):
        k_cov, k_s, k_act = jax.random.split(key, 3)
        flat = jax.random.categorical(k_cov, jnp.log(coverage.reshape(-1)), shape=(n,))
        s, a, s2 = jnp.unravel_index(flat, coverage.shape)
        eye = jnp.eye(S)
        batch = Transition(eye[s], a, jnp.zeros(n), eye[s2], jnp.zeros(n, bool), jnp.zeros(n, bool))
        states = eye[jax.random.randint(k_s, (n,), 0, S)]
        actions = jax.random.randint(k_act, (n,), 0, A)
        return epic_sampled(lookup(r_a), lookup(r_b), batch, states, actions, GAMMA)

    errors = {n: np.mean([abs(float(jax.jit(estimate, static_argnums=1)(k, n)) - exact)
                          for k in jax.random.split(jax.random.PRNGKey(3), 5)]) for n in (30, 3000)}
    assert 0.05 < exact < 0.95
    assert errors[3000] < 0.01 and errors[3000] < errors[30] / 3, (exact, errors)


def test_mce_irl_recovers_a_state_reward_up_to_what_epic_ignores():
    """A state-only true reward on a random MDP whose every state the demonstrator visits:
    MCE IRL's learned reward is close to it in EPIC (theory: identified up to a constant
    there), the untrained reward is not. On CliffWorld, whose demonstrator all but never
    visits some states (occupancy ~1e-5), the same run ends at 0.13: a reward is learned
    only where the data go."""
    from test_tabular import expert

    from jaxil.envs import make
    from jaxil.il import mce_irl

    env = make("random-mdp")
    mdp = env.mdp
    _, demo, ref = expert(mdp)
    assert float(demo.min()) > 1e-3  # every state visited
    cfg = mce_irl.Config(reward_hidden=(256,), steps=400, eval_every=100)
    state, _ = jax.jit(mce_irl.make_train(cfg, mdp, demo, ref))(jax.random.PRNGKey(0))
    d_s, d_a = uniform(mdp.num_states), uniform(mdp.num_actions)
    coverage = transition_coverage(mdp.transition, d_s, d_a)
    learned = epic_tabular(mce_irl.reward_of_states(state), mdp.reward, coverage, d_s, d_a, 0.99)
    untrained = epic_tabular(mce_irl.reward_of_states(mce_irl.init(jax.random.PRNGKey(1), cfg, env.spec, mdp)),
                             mdp.reward, coverage, d_s, d_a, 0.99)
    assert float(learned) < 0.05 and float(untrained) > 0.5, (float(learned), float(untrained))


@pytest.mark.parametrize("name", ["pendulum", "cartpole", "mountaincar", "mountaincar-continuous", "acrobot"])
def test_true_rewards_pay_what_the_env_pays(name):
    """Random rollouts through episode ends: the closed-form reward of each transition equals
    the env's own step reward."""
    from jaxil.envs import make, random_action
    from jaxil.envs.rewards import true_reward
    from jaxil.envs.rollout import rollout

    env = make(name)
    act = lambda o, k: random_action(k, env.spec)  # noqa: E731
    if name == "mountaincar-continuous":  # push along the velocity, so the goal's bonus is paid too
        act = lambda o, k: jnp.where(o[1] >= 0, 1.0, -1.0)[None] + 0.1 * jax.random.normal(k, (1,))  # noqa: E731
    traj = rollout(env, act, jax.random.PRNGKey(0), 4, 300)
    r = true_reward(name)(traj.obs, traj.action, traj.next_obs, traj.terminated)
    np.testing.assert_allclose(r, traj.reward, rtol=1e-5, atol=1e-5)
    if name == "mountaincar-continuous":
        assert float(traj.reward.max()) > 50


def test_hoppers_approximate_reward_follows_the_envs():
    """The observed root velocity's mean over the step stands for Brax's torso displacement
    over dt: within a stated tolerance of the env's own rewards on random actions. On the
    positional backend (measured: correlation 0.991, mean error 0.033 against a reward std of
    0.32; the default mjx backend's figures in jaxil/envs/rewards.py are tighter)."""
    from jaxil.envs import make, random_action
    from jaxil.envs.rewards import true_reward
    from jaxil.envs.rollout import rollout

    env = make("hopper", backend="positional")  # the same reward terms; compiles in a fraction of mjx's time
    traj = rollout(env, lambda o, k: random_action(k, env.spec), jax.random.PRNGKey(1), 2, 100)
    r = np.asarray(true_reward("hopper")(traj.obs, traj.action, traj.next_obs, traj.terminated))
    truth = np.asarray(traj.reward)
    assert np.corrcoef(r.ravel(), truth.ravel())[0, 1] > 0.98 and np.mean(np.abs(r - truth)) < 0.05


def test_an_env_without_a_true_reward_is_named():
    from jaxil.envs.rewards import true_reward

    with pytest.raises(JaxilError, match="those that do: pendulum"):
        true_reward("ant")


def test_reward_eval_of_a_continuous_run_samples_the_expert_data(tmp_path, capsys):
    """`jaxil reward-eval` on a (very short) GCL run on pendulum: a sampled EPIC per seed in
    [0, 1]; runs of algorithms without a learned reward are refused with the list of those
    that have one."""
    import json

    from jaxil import cli

    out = tmp_path / "gcl"
    assert cli.main(["train", "gcl", "--env", "pendulum", "--seeds", "2", "--steps", "512", "--eval-every", "512",
                     "--eval-episodes", "2", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["reward-eval", str(out), "--samples", "200"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["reward_eval"]
    assert result["method"] == "sampled" and len(result["epic"]["per_seed"]) == 2
    assert all(0.0 <= d <= 1.0 for d in result["epic"]["per_seed"])
    assert (out / "reward.png").stat().st_size > 10_000  # the scatter and pendulum's two heat maps
    bc = tmp_path / "bc"
    assert cli.main(["train", "bc", "--env", "pendulum", "--steps", "10", "--eval-every", "10", "--eval-episodes", "1",
                     "--out", str(bc), "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["reward-eval", str(bc)]) == 1
    assert "bc learns no reward; reward-eval takes runs of: gail" in capsys.readouterr().err


def test_gridworld_rewards_are_laid_out_on_their_cells(mdp):
    from jaxil.envs.tabular import cliffworld
    from jaxil.reward_eval import tabular_grid

    cliff = cliffworld(height=3, width=5)
    cols, rows, learned, true = tabular_grid(-cliff.reward, cliff.reward, cliff.observation)
    assert list(cols) == [0, 1, 2, 3, 4] and list(rows) == [0, 1, 2]
    # row 0: the start, the cliff between it and the goal, the goal; default cells below
    np.testing.assert_array_equal(true[0], [-1.0, -10.0, -10.0, -10.0, 10.0])
    np.testing.assert_array_equal(true[1:], -1.0)
    np.testing.assert_array_equal(learned, -true)
    assert tabular_grid(mdp.reward, mdp.reward, mdp.observation) is None  # one-hot: no grid
